from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from events import personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("event_registrations", personal_data.export_registrations)
        register_exporter("event_invitations", personal_data.export_invitations)
        register_eraser("event_registrations", personal_data.erase)
