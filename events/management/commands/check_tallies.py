from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from events import tally


class Command(BaseCommand):
    help = (
        "Compare the registration tallies behind the gender-balance dashboard with a count "
        "of the registrations themselves; --repair recounts them. Exits with an error when "
        "they disagree (and were not repaired)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="recount every tally")

    def handle(self, *args, repair: bool, **options):
        installed = tally.installed(connection)
        if not installed:
            self.stderr.write("The tally triggers are missing.")
        differences = tally.drift(connection)
        for (event_id, status, category), (tallied, counted) in sorted(differences.items()):
            self.stdout.write(
                f"Event #{event_id} {status} {category}: tallied {tallied}, counted {counted}"
            )
        if installed and not differences:
            self.stdout.write(self.style.SUCCESS("The tallies agree with the registrations."))
        elif repair:
            tally.install(connection)
            self.stdout.write(self.style.SUCCESS("Triggers installed and every tally recounted."))
        else:
            raise CommandError("The tallies are off: run check_tallies --repair.")
