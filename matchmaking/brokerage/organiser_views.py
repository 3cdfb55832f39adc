"""Organiser pages of a brokerage event."""

urlpatterns = []
