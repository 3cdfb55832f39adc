"""The attendance import as a background job (`members.imports`).

The organiser's upload becomes a job; its task reads the participant list and marks
attendance through `authoring.attendance_import`, one chunk of rows at a time, so the
job's page shows how far it got. Each chunk is its own transaction: a job stopped half-way
keeps the chunks it finished, and running it again marks the rest (the people marked the
first time are then counted as already checked in). Nobody is marked twice.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from events import attendance, authoring, selectors, services
from events.models import Event
from members import imports
from members.models import ImportJob, User

KIND = ImportJob.Kind.ATTENDANCE


def scope_of(event: Event) -> str:
    return f"event:{event.pk}"


def attendance_import_queue(*, event: Event, by: User, file_name: str, content: bytes) -> ImportJob:
    """Store a checked participant list (`AttendanceImportForm`) and queue its import."""
    from events.tasks import attendance_import_task

    if not selectors.user_manages_event(user=by, event=event):
        raise PermissionDenied(_("Only organisers of this event can do that."))
    if event.status == Event.Status.CANCELLED:
        raise ValidationError(_("This event is cancelled: there is no attendance to import."))
    return imports.import_job_create(
        kind=KIND,
        scope=scope_of(event),
        actor=by,
        task=attendance_import_task,
        file_name=file_name,
        content=content,
    )


def attendance_import_retry(*, job: ImportJob, by: User) -> ImportJob:
    from events.tasks import attendance_import_task

    return imports.import_job_retry(job=job, by=by, task=attendance_import_task)


def attendance_job_get(*, user: User, event: Event, job_id: int) -> ImportJob:
    return imports.import_job_get(user=user, job_id=job_id, kinds=[KIND], scope=scope_of(event))


def attendance_jobs_recent(*, user: User, event: Event) -> list[ImportJob]:
    return imports.import_jobs_recent(user=user, kinds=[KIND], scope=scope_of(event))


def attendance_import_run(*, job_id: int) -> None:
    imports.import_job_run(job_id=job_id, work=_import)


def _email_key(row: attendance.ParticipantRow) -> str:
    return (row.email or "").strip().lower()


def _import(job: ImportJob) -> dict[str, Any]:
    event = Event.objects.filter(pk=int(job.scope.removeprefix("event:"))).first()
    if event is None:
        raise ValidationError(_("The event no longer exists."))
    try:
        rows = attendance.parse_participants(bytes(job.content), max_rows=settings.IMPORT_MAX_ROWS)
    except attendance.ParticipantFileError as error:
        raise ValidationError(str(error)) from None
    imports.import_job_progress(job=job, rows_done=0, rows_total=len(rows))

    matched = already_attended = 0
    not_confirmed: list[str] = []
    unmatched: list[attendance.ParticipantRow] = []
    unmatched_total = 0
    # Addresses a chunk found on the event: later rows with them are skipped, as
    # `attendance_import` skips a repeated person within one call.
    found: set[str] = set()
    step = imports.PROGRESS_EVERY_ROWS
    for start in range(0, len(rows), step):
        chunk = [row for row in rows[start : start + step] if _email_key(row) not in found]
        try:
            result = authoring.attendance_import(event=event, by=job.actor, rows=chunk)
        except services.RegistrationError as error:
            raise ValidationError(str(error)) from None
        except PermissionDenied:
            raise ValidationError(
                _("You no longer organise this event; the rest was not imported.")
            ) from None
        matched += result.matched
        already_attended += result.already_attended
        not_confirmed += result.not_confirmed
        unmatched_total += len(result.unmatched)
        unmatched += result.unmatched[: imports.RESULT_ROWS_SHOWN - len(unmatched)]
        found |= {_email_key(row) for row in chunk} - {_email_key(r) for r in result.unmatched}
        imports.import_job_progress(job=job, rows_done=min(start + step, len(rows)))
    return {
        "matched": matched,
        "already_attended": already_attended,
        "not_confirmed": not_confirmed[: imports.RESULT_ROWS_SHOWN],
        "not_confirmed_total": len(not_confirmed),
        "unmatched": [{"line": r.line, "name": r.name, "email": r.email} for r in unmatched],
        "unmatched_total": unmatched_total,
    }
