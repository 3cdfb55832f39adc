from matchmaking.brokerage import organiser_views, views

app_name = "brokerage"

# Each view module owns its routes; they share the `brokerage:` namespace. Organiser pages
# live under <slug>/manage/.
urlpatterns = [
    *organiser_views.urlpatterns,
    *views.urlpatterns,
]
