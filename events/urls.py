from events import calendar_views, organiser_views, views

app_name = "events"

# Each view module owns its routes; they share the `events:` namespace.
urlpatterns = [*views.urlpatterns, *organiser_views.urlpatterns, *calendar_views.urlpatterns]
