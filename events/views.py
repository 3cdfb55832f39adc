from django.shortcuts import render
from django.urls import path
from django.views import View

from events import selectors


class EventDetailView(View):
    """Placeholder until the discovery pages land."""

    def get(self, request, slug: str):
        event = selectors.event_get_visible(user=request.user, slug=slug)
        return render(request, "events/event_detail.html", {"event": event})


urlpatterns: list = [
    path("<slug:slug>/", EventDetailView.as_view(), name="detail"),
]
