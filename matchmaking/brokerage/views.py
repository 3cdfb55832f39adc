"""Participant pages of a brokerage event."""

urlpatterns = []
