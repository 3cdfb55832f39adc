from django.core.management.base import BaseCommand

from matchmaking.services import matches_expire_overdue, matches_nudge_due


class Command(BaseCommand):
    help = (
        "Decline mentoring proposals nobody answered in time and remind pairs who have not "
        "met for a while. Celery beat runs both; on one machine without a broker, run this "
        "from cron every hour. Both are idempotent."
    )

    def handle(self, *args, **options):
        expired = matches_expire_overdue()
        nudged = matches_nudge_due()
        self.stdout.write(f"Declined {expired} overdue proposal(s); reminded {nudged} pair(s).")
