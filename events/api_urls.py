from django.urls import path

from events import api

app_name = "events_api"

urlpatterns = [
    path("events/", api.EventListAPI.as_view(), name="event_list"),
    path("events/<int:pk>/", api.EventDetailAPI.as_view(), name="event_detail"),
    path("events/<int:pk>/register/", api.EventRegisterAPI.as_view(), name="event_register"),
    path("events/<int:pk>/cancel/", api.EventCancelAPI.as_view(), name="event_cancel"),
    path("me/registrations/", api.MyRegistrationListAPI.as_view(), name="my_registrations"),
]
