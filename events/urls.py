from events import calendar_views, campaign_views, organiser_views, views

app_name = "events"

# Each view module owns its routes; they share the `events:` namespace. The member pages
# come last: their `<slug>/` route would otherwise swallow fixed paths such as `feeds/`.
urlpatterns = [
    *calendar_views.urlpatterns,
    *organiser_views.urlpatterns,
    *campaign_views.urlpatterns,
    *views.urlpatterns,
]
