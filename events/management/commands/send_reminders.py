from django.core.management.base import BaseCommand

from events.reminders import followups_send_due, reminders_send_due


class Command(BaseCommand):
    help = (
        "Queue the reminders and follow-ups that are due. Celery beat runs this; on one "
        "machine without a broker, run it from cron every five minutes."
    )

    def handle(self, *args, **options):
        reminders = reminders_send_due()
        followups = followups_send_due()
        self.stdout.write(f"Queued {reminders} reminder(s) and {followups} follow-up(s).")
