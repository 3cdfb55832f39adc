from django.core.management.base import BaseCommand

from notifications.services import outbox_sweep


class Command(BaseCommand):
    help = (
        "Send again what the outbox still holds: messages whose task was lost or whose "
        "worker died. Celery beat runs this every 30 seconds; without a broker, run it by hand "
        "or from cron."
    )

    def handle(self, *args, **options):
        count = outbox_sweep()
        self.stdout.write(f"Re-queued {count} message(s).")
