from django.core.management.base import BaseCommand

from insights import services


class Command(BaseCommand):
    help = "Draw the gender-figure releases that are due (events, quarters, programmes)."

    def handle(self, *args, **options):
        drawn = services.releases_draw_due()
        self.stdout.write(f"{drawn} release(s) drawn.")
