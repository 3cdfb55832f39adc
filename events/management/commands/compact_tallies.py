from django.core.management.base import BaseCommand
from django.db import connection

from events import tally


class Command(BaseCommand):
    help = (
        "Fold the registration tallies behind the gender-balance dashboard into one row "
        "per event, status and category. Safe to run at any time; hourly by beat."
    )

    def handle(self, *args, **options):
        folded = tally.compact(connection)
        self.stdout.write(self.style.SUCCESS(f"Folded {folded} tally rows."))
