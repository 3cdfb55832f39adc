"""Imports of uploaded files, run in the background as `ImportJob`s.

The upload form checks the limits (`upload_read`, `rows_over_limit`) before any work; the
view then stores the file in a job (`import_job_create`) and queues the app's task, which
runs the import through `import_job_run`: it claims the job, reports progress, and records
the result or the errors. The page of the job shows its state and reloads itself until it
is done. Each app owns its kinds of job and their tasks (events: attendance; members: the
CRM import); this module knows none of them.

A job whose task was lost (a broker restart) is queued again by the sweep. A running job
whose worker died (killed, machine lost) stops showing signs of life; the sweep marks it
stalled after IMPORT_JOB_STALLED_AFTER_SECONDS, and the person who started it can run it
again (`import_job_retry`): every import is safe to run twice. Jobs are deleted
IMPORT_JOB_RETENTION_DAYS after they were created, with the file they hold.
"""

import csv
import io
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from celery import Task
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from members.languages import in_language_of
from members.models import ImportJob, User
from notifications.broker import broker_started_at

logger = logging.getLogger(__name__)

Status = ImportJob.Status
# A result lists at most this many rows (unmatched people, rows of a preview); the page
# says how many more there are. A 50,000-row table helps nobody and takes seconds to draw.
RESULT_ROWS_SHOWN = 1000
# How often a running job reports progress (and so shows it is alive), in rows.
PROGRESS_EVERY_ROWS = 10_000


# --- limits -----------------------------------------------------------------------------


def max_size_text() -> str:
    """IMPORT_MAX_BYTES as people read it: "10 MB"."""
    limit = settings.IMPORT_MAX_BYTES
    return f"{limit / 1_048_576:.3g} MB" if limit >= 1_048_576 else str(filesizeformat(limit))


def too_large_message() -> str:
    return _("The file is larger than %(size)s; split it into smaller files.") % {
        "size": max_size_text()
    }


def too_many_rows_message(*, limit: int | None = None) -> str:
    return _("The file has more than %(max)s rows; split it into smaller files.") % {
        "max": f"{limit or settings.IMPORT_MAX_ROWS:,}"
    }


def upload_read(*, upload: UploadedFile) -> bytes:
    """The bytes of an uploaded file; ValidationError, unread, if it is over the limit."""
    if upload.size > settings.IMPORT_MAX_BYTES:
        raise ValidationError(too_large_message(), code="too_large")
    return upload.read()


def rows_over_limit(text: str, *, limit: int | None = None) -> bool:
    """Whether a CSV text has more rows than `limit` (IMPORT_MAX_ROWS), counted as a
    spreadsheet counts them: a quoted cell with line breaks stays in its row. Reads at most
    the allowed rows, and none when the text has fewer line breaks than that."""
    limit = limit or settings.IMPORT_MAX_ROWS
    if text.count("\n") + text.count("\r") < limit:  # at most `limit` rows
        return False
    rows = 0
    try:
        for _row in csv.reader(io.StringIO(text, newline="")):
            rows += 1
            if rows > limit:
                return True
    except csv.Error:
        return False  # not readable as CSV: the import itself says why
    return False


# --- the jobs ---------------------------------------------------------------------------


def import_job_create(
    *,
    kind: str,
    scope: str,
    actor: User,
    task: Task,
    file_name: str = "",
    content: bytes = b"",
    source: ImportJob | None = None,
) -> ImportJob:
    """A queued job; `task` (called with `job_id=`) is queued once the job is saved."""
    job = ImportJob.objects.create(
        kind=kind,
        scope=scope,
        actor=actor,
        source=source,
        file_name=file_name[:255],
        content=content,
    )
    transaction.on_commit(lambda: task.delay(job_id=job.pk), robust=True)
    return job


def import_job_run(*, job_id: int, work: Callable[[ImportJob], dict[str, Any]]) -> None:
    """Run `work` for a queued job and record what came of it.

    `work(job)` returns the result to show, or raises ValidationError whose messages are
    shown as the job's errors. Anything else is logged and shown as a failure. A job that
    is not queued (done, running elsewhere, stalled) is left alone: a task delivered twice
    runs once.
    """
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        started_at=now,
        updated_at=now,
        rows_done=0,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("actor__profile").get(pk=job_id)
    # Its messages are read by the person who uploaded the file, in their language.
    with in_language_of(job.actor):
        _run(job=job, work=work)


def _run(*, job: ImportJob, work: Callable[[ImportJob], dict[str, Any]]) -> None:
    try:
        result = work(job)
    except ValidationError as error:
        _finish(job=job, status=Status.FAILED, errors=error.messages)
    except Exception:
        logger.exception("Import job %s failed", job.pk)
        _finish(
            job=job,
            status=Status.FAILED,
            errors=[
                _(
                    "Something went wrong while importing. Try again later by uploading the "
                    "file again: nothing is imported twice."
                )
            ],
        )
    else:
        _finish(job=job, status=Status.DONE, result=result)


def _finish(
    *, job: ImportJob, status: str, result: dict | None = None, errors: Iterable[str] = ()
) -> None:
    now = timezone.now()
    changes: dict[str, Any] = {
        "status": status,
        "result": result or {},
        "errors": list(errors),
        "finished_at": now,
        "updated_at": now,
    }
    # Done with the file: only a preview keeps it, for the import that follows it.
    if status == Status.DONE and job.kind != ImportJob.Kind.CRM_PREVIEW:
        changes["content"] = b""
        if job.source_id:
            ImportJob.objects.filter(pk=job.source_id).update(content=b"")
    ImportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(**changes)


def import_job_progress(*, job: ImportJob, rows_done: int, rows_total: int | None = None) -> None:
    """Record how far a running job got; it is also the job's sign of life."""
    changes: dict[str, Any] = {"rows_done": rows_done, "updated_at": timezone.now()}
    if rows_total is not None:
        changes["rows_total"] = rows_total
    ImportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(**changes)


def import_job_retry(*, job: ImportJob, by: User, task: Task) -> ImportJob:
    """Queue a stalled job again, for the person who started it (or staff)."""
    if by.pk != job.actor_id and not by.is_staff:
        raise PermissionDenied
    with transaction.atomic():
        queued = ImportJob.objects.filter(pk=job.pk, status=Status.STALLED).update(
            status=Status.QUEUED, errors=[], updated_at=timezone.now()
        )
        if not queued:
            raise ValidationError(_("Only an import that stopped half-way can be run again."))
        transaction.on_commit(lambda: task.delay(job_id=job.pk), robust=True)
    job.refresh_from_db()
    return job


def stalled_message() -> str:
    return _(
        "This import stopped before it finished: the server running it was interrupted. "
        "Run it again; nothing is imported twice."
    )


class SweepResult(NamedTuple):
    requeued: int
    stalled: int
    deleted: int


# The task of each kind, by name: this module imports no app's tasks (events is above it).
TASK_BY_KIND = {
    ImportJob.Kind.ATTENDANCE: "events.tasks.attendance_import_task",
    ImportJob.Kind.CRM_PREVIEW: "members.tasks.crm_import_preview_task",
    ImportJob.Kind.CRM_APPLY: "members.tasks.crm_import_apply_task",
}
# A job still queued this long after it was (re-)queued has probably lost its task.
REQUEUE_AFTER = timedelta(seconds=60)


def import_jobs_sweep(*, now: datetime | None = None) -> SweepResult:
    """Queue again the jobs whose task was lost, mark stalled the running jobs that
    stopped showing signs of life, and delete the jobs older than the retention period.

    A queued job's task is lost when the broker started after it was queued (a Redis
    restart, `notifications.broker`), or probably lost after REQUEUE_AFTER; a job only
    waiting behind a long queue then gets a second task, which finds it claimed and does
    nothing (`import_job_run`).
    """
    from celery import current_app

    now = now or timezone.now()
    lost = Q(updated_at__lt=now - REQUEUE_AFTER)
    broker_started = broker_started_at(now=now)
    if broker_started is not None:
        lost |= Q(updated_at__lt=broker_started)
    with transaction.atomic():
        requeue = list(
            ImportJob.objects.select_for_update(skip_locked=True)
            .filter(lost, status=Status.QUEUED)
            .values_list("pk", "kind")
        )
        ImportJob.objects.filter(pk__in=[pk for pk, _kind in requeue]).update(updated_at=now)
    for pk, kind in requeue:
        current_app.tasks[TASK_BY_KIND[kind]].delay(job_id=pk)

    stale = now - timedelta(seconds=settings.IMPORT_JOB_STALLED_AFTER_SECONDS)
    stalled = ImportJob.objects.filter(status=Status.RUNNING, updated_at__lt=stale).update(
        status=Status.STALLED, errors=[stalled_message()], updated_at=now
    )
    expired = now - timedelta(days=settings.IMPORT_JOB_RETENTION_DAYS)
    # Without loading the files: an import goes with its preview (cascade).
    deleted, _by_model = (
        ImportJob.objects.filter(created_at__lt=expired).defer("content", "result").delete()
    )
    return SweepResult(requeued=len(requeue), stalled=stalled, deleted=deleted)


# --- reading them -----------------------------------------------------------------------


def import_job_get(*, user: User, job_id: int, kinds: Iterable[str], scope: str) -> ImportJob:
    """The job, if this person started it (or is staff) and it belongs to this page's
    object; 404 otherwise. Without the file: pages never need it."""
    job = (
        ImportJob.objects.defer("content")
        .filter(pk=job_id, kind__in=list(kinds), scope=scope)
        .select_related("follow_up")
        .first()
    )
    if job is None or (job.actor_id != user.pk and not user.is_staff):
        raise Http404(_("No such import."))
    return job


def import_jobs_recent(
    *, user: User, kinds: Iterable[str], scope: str, limit: int = 5
) -> list[ImportJob]:
    """This person's latest jobs for this page's object, newest first."""
    return list(
        ImportJob.objects.defer("content", "result")
        .filter(actor=user, kind__in=list(kinds), scope=scope)
        .order_by("-created_at", "-pk")[:limit]
    )
