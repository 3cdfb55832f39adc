"""Thin Celery tasks for events: load by id (or find the work), call a service."""

import logging

from celery import shared_task
from django.db import connection

from events import attendance_jobs, authoring, campaigns, list_version, reminders, tally

logger = logging.getLogger(__name__)


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


@shared_task
def campaign_fanout_task(
    campaign_id: int, after_user: int = 0, after_email: str = "", chunk_size: int = 500
) -> None:
    """Invite one chunk of a campaign's audience, then queue the next chunk.

    The campaign row holds the cursor; (after_user, after_email) is where this run
    expects to find it. A run that finds it elsewhere is a stale duplicate and stops, so a
    redelivered task or an overtaken chain sends nothing. The last run marks the campaign
    sent.
    """
    cursor = campaigns.campaign_fanout_chunk(
        campaign_id=campaign_id,
        cursor=campaigns.Cursor(after_user=after_user, after_email=after_email),
        chunk_size=chunk_size,
    )
    if cursor is not None:
        campaign_fanout_task.delay(
            campaign_id=campaign_id,
            after_user=cursor.after_user,
            after_email=cursor.after_email,
            chunk_size=chunk_size,
        )


@shared_task
def campaigns_resume_stalled_task() -> list[int]:
    """Resume, from their stored cursors, the fan-outs whose task was lost. Beat: 15 s."""
    return campaigns.campaigns_resume_stalled()


@shared_task
def tallies_compact_task() -> int:
    """Fold the registration tallies' +1/−1 rows into one per event, status and category,
    so the balance dashboard reads few rows. Safe beside any write; run by beat hourly.
    Missing triggers (a migrate that failed half-way) are reported, not put back here: a
    migrate may be running right now."""
    if not tally.installed(connection):
        logger.error(
            "The registration tally triggers are missing: new registrations are not "
            "counted on the balance dashboard. Run `manage.py migrate` or "
            "`manage.py check_tallies --repair`."
        )
    return tally.compact(connection)


@shared_task
def event_list_changes_fold_task() -> int:
    """Fold the events API list's change rows into one (its version unchanged). Beat:
    hourly. Missing triggers are reported: until a migrate puts them back, the list may
    be served stale."""
    if not list_version.installed(connection):
        logger.error(
            "The event list's version triggers are missing: the events API may list "
            "events as they were. Run `manage.py migrate`."
        )
    return list_version.fold(connection)


@shared_task
def attendance_import_task(*, job_id: int) -> None:
    """Run a queued attendance import job; a job already claimed is left alone."""
    attendance_jobs.attendance_import_run(job_id=job_id)
