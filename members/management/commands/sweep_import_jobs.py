from django.core.management.base import BaseCommand

from members.imports import import_jobs_sweep


class Command(BaseCommand):
    help = (
        "Mark stalled the import jobs that stopped showing signs of life "
        "(IMPORT_JOB_STALLED_AFTER_SECONDS) and delete those older than "
        "IMPORT_JOB_RETENTION_DAYS, with their files. Celery beat runs this every five "
        "minutes; without a broker, run it from cron."
    )

    def handle(self, *args, **options):
        stalled, deleted = import_jobs_sweep()
        self.stdout.write(f"{stalled} import job(s) marked stalled, {deleted} deleted.")
