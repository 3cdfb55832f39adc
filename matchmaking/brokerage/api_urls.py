from django.urls import path

from matchmaking.brokerage import api

app_name = "brokerage_api"

urlpatterns = [
    path("brokerage/<slug:slug>/agenda/", api.AgendaAPI.as_view(), name="agenda"),
    path("brokerage/<slug:slug>/requests/", api.MeetingRequestListAPI.as_view(), name="requests"),
    path(
        "brokerage/<slug:slug>/requests/<int:pk>/accept/",
        api.MeetingAcceptAPI.as_view(),
        name="request_accept",
    ),
    path(
        "brokerage/<slug:slug>/requests/<int:pk>/decline/",
        api.MeetingDeclineAPI.as_view(),
        name="request_decline",
    ),
]
