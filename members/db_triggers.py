"""What the project's database triggers share (events.tally, members.table_versions):
the databases they are written for, and how to tell they are in place."""

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper


def check_vendor(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor not in ("postgresql", "sqlite"):
        raise ImproperlyConfigured(
            f"Clusterhub runs on PostgreSQL or SQLite, not {connection.display_name}."
        )


def sqlite_has(connection: BaseDatabaseWrapper, triggers: list[tuple[str, str]]) -> bool:
    """Whether each (name, definition) is a trigger of this SQLite database, as written."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        return dict(triggers).items() <= dict(cursor.fetchall()).items()


def postgresql_function_comment(connection: BaseDatabaseWrapper, function: str) -> str | None:
    """The comment on a PostgreSQL function (where the triggers keep their fingerprint)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(oid, 'pg_proc') FROM pg_proc WHERE proname = %s", [function]
        )
        row = cursor.fetchone()
    return row[0] if row else None
