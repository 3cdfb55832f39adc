from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from events import personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("event_registrations", personal_data.export_registrations)
        register_exporter("event_invitations", personal_data.export_invitations)
        register_eraser("event_registrations", personal_data.erase)
        post_migrate.connect(_install_tally_triggers, sender=self)


def _install_tally_triggers(using: str, **kwargs) -> None:
    """After every migrate: the registration tallies' triggers, and a recount."""
    from django.db import connections

    from events import tally

    tally.install(connections[using])
