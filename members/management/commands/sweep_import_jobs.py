from django.core.management.base import BaseCommand

from members.imports import import_jobs_sweep


class Command(BaseCommand):
    help = (
        "Queue again the import jobs whose task was lost; mark stalled the running ones that "
        "stopped showing signs of life "
        "(IMPORT_JOB_STALLED_AFTER_SECONDS) and delete those older than "
        "IMPORT_JOB_RETENTION_DAYS, with their files. Celery beat runs this every "
        "minute; without a broker, run it from cron."
    )

    def handle(self, *args, **options):
        requeued, stalled, deleted = import_jobs_sweep()
        self.stdout.write(
            f"{requeued} import job(s) queued again, {stalled} marked stalled, {deleted} deleted."
        )
