"""Thin Celery tasks for events: load by id (or find the work), call a service."""

from celery import shared_task

from events import authoring


@shared_task
def attendance_close_task() -> dict[int, int]:
    """After events end, unmarked confirmed registrations become no-shows.

    Idempotent: a second run finds nothing confirmed left. Run by beat every hour.
    Returns {event id: registrations changed}.
    """
    return authoring.attendance_close_ended()
