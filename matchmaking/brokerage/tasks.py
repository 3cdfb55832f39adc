"""Thin Celery tasks of brokerage days: find the work, call a service.

Registered with the worker through `matchmaking.tasks`, which Celery's autodiscovery
imports (`matchmaking.brokerage` is not an app of its own)."""

from celery import shared_task
from django.db import OperationalError

from matchmaking.brokerage import services


@shared_task
def meetings_expire_task() -> int:
    """Meeting requests not answered by their deadline expire and free their held slots.
    Idempotent; every five minutes (beat)."""
    return services.meetings_expire()


@shared_task
def participants_without_seat_release_task() -> int:
    """Live meetings of people who no longer have a seat on the event end (the partner
    is told, seats freed). Idempotent; every five minutes (beat)."""
    return services.participants_without_seat_release()


@shared_task(
    autoretry_for=(OperationalError,),  # a deadlock or a lost connection: try again
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def schedule_mail_task(*, run_id: int) -> bool:
    """The agenda mail a published schedule owes, in batches; idempotent (a repeated
    task sends nothing twice). Queued on publishing's commit and by the sweep."""
    from matchmaking.brokerage import scheduling  # loads the solver (OR-Tools): lazily

    return scheduling.schedule_mail_send(run_id=run_id)


@shared_task
def schedule_mail_sweep_task() -> int:
    """Queue again published schedules whose agenda mail task was lost. Every minute."""
    from matchmaking.brokerage import scheduling

    return scheduling.schedule_mail_sweep()
