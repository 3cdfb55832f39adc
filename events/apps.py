import logging

from django.apps import AppConfig
from django.db import DatabaseError, connections, transaction
from django.db.models.signals import post_delete, post_migrate, post_save, pre_migrate

logger = logging.getLogger(__name__)


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from events import personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("event_registrations", personal_data.export_registrations)
        register_exporter("event_invitations", personal_data.export_invitations)
        register_eraser("event_registrations", personal_data.erase)
        pre_migrate.connect(_drop_tally_triggers, sender=self)
        post_migrate.connect(_install_tally_triggers, sender=self)
        from members.models import GenderIdentity

        post_save.connect(_fold_after_gender_change, sender=GenderIdentity)
        post_delete.connect(_fold_after_gender_change, sender=GenderIdentity)


def _drop_tally_triggers(using: str, plan: list, **kwargs) -> None:
    """Before migrations run: no trigger may stand in the way of a change to the tables
    it watches (SQLite rebuilds a table to alter it; PostgreSQL refuses to alter a
    column a trigger names)."""
    if plan:
        from events import tally

        tally.drop(connections[using])


def _install_tally_triggers(using: str, **kwargs) -> None:
    """After migrate: missing triggers are installed, and every tally recounted."""
    from events import tally

    if not tally.installed(connections[using]):
        tally.install(connections[using])


def _fold_after_gender_change(instance, using: str, **kwargs) -> None:
    """Once a person's gender record has changed (or gone), their events' tallies are
    folded: the +1/−1 rows that moved them would otherwise show, until the hourly
    compaction, which categories one person left and joined. Their events are read now
    (an erased account's registrations go next); the fold runs after the commit, so a
    failure there never undoes the person's change, and the hourly compaction catches up."""
    from events import tally
    from events.models import Registration

    events = list(
        Registration.objects.using(using)
        .filter(user_id=instance.user_id, session__isnull=True)
        .values_list("event_id", flat=True)
    )

    def fold() -> None:
        try:
            tally.compact(connections[using], events=events)
        except DatabaseError:
            logger.exception("Folding the tallies of user #%s failed", instance.user_id)

    if events:
        transaction.on_commit(fold, using=using)
