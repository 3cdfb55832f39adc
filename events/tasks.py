"""Thin Celery tasks for events: load by id (or find the work), call a service."""

from celery import shared_task

from events import authoring, reminders


@shared_task
def attendance_close_task() -> dict[int, int]:
    """After events end, unmarked confirmed registrations become no-shows.

    Idempotent: a second run finds nothing confirmed left. Run by beat every hour.
    Returns {event id: registrations changed}.
    """
    return authoring.attendance_close_ended()


@shared_task
def reminders_send_due_task() -> int:
    """Queue the reminders whose moment has come. Idempotent; run by beat every 5 minutes."""
    return reminders.reminders_send_due()


@shared_task
def followups_send_due_task() -> int:
    """Queue the follow-ups of events whose attendance is recorded. Idempotent; hourly."""
    return reminders.followups_send_due()
