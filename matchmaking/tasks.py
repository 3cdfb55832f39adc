"""Thin Celery tasks for mentoring: find the work, call a service."""

from celery import shared_task

from matchmaking import services


@shared_task
def matches_expire_overdue_task() -> int:
    """Published proposals not answered by their deadline are declined. Idempotent; hourly."""
    return services.matches_expire_overdue()


@shared_task
def matches_nudge_due_task() -> int:
    """Remind pairs who have not met for a while. Idempotent; daily."""
    return services.matches_nudge_due()


# The brokerage package's tasks, registered with the worker through this module.
from matchmaking.brokerage.tasks import meetings_expire_task  # noqa: E402, F401
