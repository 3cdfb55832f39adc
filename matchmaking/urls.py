from matchmaking import organiser_views, views

app_name = "matchmaking"

# Each view module owns its routes; they share the `matchmaking:` namespace. Organiser
# pages live under manage/, before the member pages' `<slug>/` route.
urlpatterns = [
    *organiser_views.urlpatterns,
    *views.urlpatterns,
]
