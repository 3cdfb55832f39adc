from django.core.management.base import BaseCommand

from events import authoring


class Command(BaseCommand):
    help = "For every ended event, turn confirmed registrations nobody checked in into no-shows."

    def handle(self, *args, **options):
        closed = authoring.attendance_close_ended()
        for event_id, count in closed.items():
            self.stdout.write(f"Event #{event_id}: {count} no-shows.")
        self.stdout.write(self.style.SUCCESS(f"Closed attendance of {len(closed)} events."))
