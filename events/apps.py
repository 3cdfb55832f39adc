from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_delete, post_migrate, post_save, pre_migrate
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("Events")

    def ready(self) -> None:
        from events import personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("event_registrations", personal_data.export_registrations)
        register_exporter("event_invitations", personal_data.export_invitations)
        register_exporter("event_guest_lists", personal_data.export_guest_lists)
        register_exporter("stage_roles", personal_data.export_stage_roles)
        register_exporter("calendar_feed", personal_data.export_calendar_feed)
        register_exporter("event_organising", personal_data.export_organising)
        register_eraser("event_registrations", personal_data.erase)
        pre_migrate.connect(_drop_triggers, sender=self)
        post_migrate.connect(_install_triggers, sender=self)
        from members.models import GenderIdentity

        post_save.connect(_fold_after_gender_change, sender=GenderIdentity)
        post_delete.connect(_fold_after_gender_change, sender=GenderIdentity)
        from events import fragments

        fragments.connect()


def _drop_triggers(using: str, plan: list, **kwargs) -> None:
    """Before migrations run: no trigger may stand in the way of a change to the tables
    it watches (SQLite rebuilds a table to alter it; PostgreSQL refuses to alter a
    column a trigger names)."""
    if plan:
        from events import list_version, tally

        tally.drop(connections[using])
        list_version.drop(connections[using])


def _install_triggers(using: str, **kwargs) -> None:
    """After migrate: missing triggers are installed (every tally then recounted)."""
    from events import list_version, tally

    if not tally.installed(connections[using]):
        tally.install(connections[using])
    if not list_version.installed(connections[using]):
        list_version.install(connections[using])


def _fold_after_gender_change(instance, using: str, **kwargs) -> None:
    """members cannot call events: its gender records reach the tallies through this."""
    from events import tally

    tally.fold_person(user_id=instance.user_id, using=using)
