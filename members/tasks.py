"""Thin Celery tasks for members: ids in, call a service."""

import logging

from celery import shared_task
from django.db import connection

from members import contact, crm_import, directory_version, imports

logger = logging.getLogger(__name__)


@shared_task
def crm_import_preview_task(*, job_id: int) -> None:
    """Preview a queued CRM import job; a job already claimed is left alone."""
    crm_import.crm_import_preview_run(job_id=job_id)


@shared_task
def crm_import_apply_task(*, job_id: int) -> None:
    """Import a previewed CRM file (all or nothing); a job already claimed is left alone."""
    crm_import.crm_import_apply_run(job_id=job_id)


@shared_task
def import_jobs_sweep_task() -> tuple[int, int, int]:
    """Queue again import jobs whose task was lost, mark stalled those whose worker died,
    delete old ones. Beat: every minute."""
    return imports.import_jobs_sweep()


@shared_task
def contact_messages_purge_task() -> int:
    """Delete the text of contact messages past their retention. Beat: nightly."""
    return contact.contact_messages_purge()


@shared_task
def directory_changes_fold_task() -> int:
    """Fold the directory's change rows into one (its version unchanged). Beat: hourly.
    Missing triggers are reported: until a migrate puts them back, the member directory
    may be served stale."""
    if not directory_version.installed(connection):
        logger.error(
            "The member directory's version triggers are missing: the directory may show "
            "profiles as they were. Run `manage.py migrate`."
        )
    return directory_version.fold(connection)
