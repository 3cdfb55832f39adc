from django.core.management.base import BaseCommand

from notifications.services import body_retention, outbox_purge_bodies


class Command(BaseCommand):
    help = (
        "Delete the bodies and attachments of messages sent more than "
        "OUTBOX_BODY_RETENTION_DAYS ago (subjects and delivery counts stay). Celery beat "
        "runs this daily; without a broker, run it from cron."
    )

    def handle(self, *args, **options):
        count = outbox_purge_bodies()
        self.stdout.write(
            f"Purged the content of {count} message(s) sent more than "
            f"{body_retention().days} day(s) ago."
        )
