"""The member-facing mentoring pages (placeholder; being written)."""

from django.http import HttpResponse
from django.urls import path


def _todo(request, **kwargs):
    return HttpResponse("")


urlpatterns = [
    path("matches/<int:pk>/", _todo, name="match_detail"),
    path("<slug:slug>/", _todo, name="programme_detail"),
]
