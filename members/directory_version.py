"""The member directory's version: it changes with every committed write to what the
directory shows (profiles, their topics, sectors and languages, organisations, the topic,
sector and language lists) or to whom it shows it (accounts' active and staff flags,
affiliations, cluster memberships, clusters and their organisers).

Why database triggers: the directory page is cached under this version
(`members.views.DirectoryView`), and a stale page could show a profile its owner has just
hidden. A trigger sees every write — the ORM, the admin, imports, `QuerySet.update()`,
cascades, raw SQL, TRUNCATE on PostgreSQL — where signals see only the ORM's saves.

The triggers only ever insert rows (`DirectoryChange`): no two writers wait for one row.
The version is the sum of the rows' changes and of their random tokens: it grows with each
commit, as soon as the commit is visible, whatever order transactions commit in; and after
a rollback, or a restore from a backup, the same number of changes still gives another
version, so a page cached from rows that were then undone is not read again. `fold`
(hourly) sums the rows into one without changing the version.

On PostgreSQL one row per statement (one per bulk import, not one per person); on SQLite,
which has no statement triggers, one per row. An account's own updates count only when
`is_active` or `is_staff` change (not at every sign-in).

Migrations (members.apps): as `events.tally`, the triggers are dropped before a `migrate`
that applies anything, and installed again afterwards when missing or out of date.
"""

import hashlib

from django.apps import apps
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from members.db_triggers import check_vendor, postgresql_function_comment, sqlite_has

CHANGES = "members_directorychange"
FUNCTION = "members_directory_changed"
TRIGGER = "members_directory"
# An account's columns the directory depends on (whom it shows, and to whom).
USER_COLUMNS = ("is_active", "is_staff")
_NEW_ROW = f"INSERT INTO {CHANGES} (changes, token) VALUES (1, {{token}});"  # noqa: S608
_TOKEN = {
    "postgresql": "floor(random() * 2147483647)::bigint + 1",
    "sqlite": "(random() & 2147483647) + 1",
}


def _watched() -> list[str]:
    """The tables whose every write changes the directory (the account table apart)."""
    profile = apps.get_model("members", "Profile")
    organisation = apps.get_model("members", "Organisation")
    lists = ("languages", "sectors", "expertise", "interests")
    models = [
        profile,
        *(getattr(profile, name).through for name in lists),
        organisation,
        organisation.sectors.through,
        *(apps.get_model("members", name) for name in (
            "ClusterMembership", "Affiliation", "ClusterOrganiser", "Cluster",
            "Topic", "Sector", "Language",
        )),
    ]  # fmt: skip
    return [model._meta.db_table for model in models]


def _users() -> str:
    return apps.get_model("members", "User")._meta.db_table


def _user_changed(distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in USER_COLUMNS)


def _postgresql() -> list[str]:
    function = (
        f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$ BEGIN "
        f"{_NEW_ROW.format(token=_TOKEN['postgresql'])} RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    execute = f"EXECUTE FUNCTION {FUNCTION}()"
    users = _users()
    return [
        function,
        f"COMMENT ON FUNCTION {FUNCTION}() IS '{{version}}'",
        *(
            statement
            for table in _watched()
            for statement in (
                f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}",
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT {execute}",
            )
        ),
        f"DROP TRIGGER IF EXISTS {TRIGGER} ON {users}",
        f"CREATE TRIGGER {TRIGGER} AFTER UPDATE ON {users} FOR EACH ROW "
        f"WHEN ({_user_changed('IS DISTINCT FROM')}) {execute}",
        f"DROP TRIGGER IF EXISTS {TRIGGER}_gone ON {users}",
        f"CREATE TRIGGER {TRIGGER}_gone AFTER INSERT OR DELETE OR TRUNCATE ON {users} "
        f"FOR EACH STATEMENT {execute}",
    ]


def _sqlite_triggers() -> list[tuple[str, str]]:
    """(name, definition) of each SQLite trigger."""
    body = f"BEGIN {_NEW_ROW.format(token=_TOKEN['sqlite'])} END"
    rows = [(table, event, "") for table in _watched() for event in ("INSERT", "UPDATE", "DELETE")]
    users = _users()
    rows += [(users, "INSERT", ""), (users, "DELETE", ""),
             (users, "UPDATE", f"WHEN {_user_changed('IS NOT')} ")]  # fmt: skip
    return [
        (
            name := f"{TRIGGER}_{table}_{event.lower()}",
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when}{body}",
        )
        for table, event, when in rows
    ]


def _sqlite() -> list[str]:
    return [
        statement
        for name, definition in _sqlite_triggers()
        for statement in (f"DROP TRIGGER IF EXISTS {name}", definition)
    ]


def _version() -> str:
    """A fingerprint of the trigger SQL of both databases."""
    return hashlib.sha256("\n".join(_postgresql() + _sqlite()).encode()).hexdigest()[:16]


def _tables() -> list[str]:
    return [CHANGES, _users(), *_watched()]


def installed(connection: BaseDatabaseWrapper) -> bool:
    """Whether every trigger is in place, as this code writes it."""
    check_vendor(connection)
    if connection.vendor == "sqlite":
        return sqlite_has(connection, _sqlite_triggers())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname LIKE %s",
            [f"{TRIGGER}%"],
        )
        found = set(cursor.fetchall())
    wanted = {(table, TRIGGER) for table in _watched()} | {
        (_users(), TRIGGER),
        (_users(), f"{TRIGGER}_gone"),
    }
    return wanted <= found and postgresql_function_comment(connection, FUNCTION) == _version()


def drop(connection: BaseDatabaseWrapper) -> None:
    """Remove the triggers (before migrations change the tables they watch)."""
    check_vendor(connection)
    tables = set(connection.introspection.table_names())
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name, _definition in _sqlite_triggers():
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            return
        for table in [*_watched(), _users()]:
            if table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
        if _users() in tables:
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_gone ON {_users()}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


def install(connection: BaseDatabaseWrapper) -> None:
    """(Re)create the triggers, and count a change: what was written while they were
    away gets a new version. Without the tables (a partial or backward migrate) nothing
    is installed."""
    check_vendor(connection)
    if not set(_tables()) <= set(connection.introspection.table_names()):
        drop(connection)
        return
    statements = {"postgresql": _postgresql, "sqlite": _sqlite}[connection.vendor]()
    statements = [statement.replace("{version}", _version()) for statement in statements]
    token = _TOKEN[connection.vendor]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in [*statements, _NEW_ROW.format(token=token).rstrip(";")]:
            cursor.execute(statement)


def current() -> str:
    """The directory's version now, for a cache key: a sum over the rows written since the
    last fold (a few, on PostgreSQL, where a bulk import writes one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM(changes), 0), COALESCE(SUM(token), 0) FROM {CHANGES}"  # noqa: S608
        )
        changes, token = cursor.fetchone()
    return f"{changes}.{token}"


def fold(connection: BaseDatabaseWrapper) -> int:
    """Sum the rows into one, the version unchanged; rows committed meanwhile are left for
    next time. Returns how many rows were folded."""
    check_vendor(connection)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: exactly the rows it deletes are summed back.
            cursor.execute(
                f"WITH gone AS (DELETE FROM {CHANGES} "  # noqa: S608
                f"WHERE (SELECT COUNT(*) FROM {CHANGES}) > 1 RETURNING changes, token), "
                f"kept AS (INSERT INTO {CHANGES} (changes, token) "
                f"SELECT SUM(changes), SUM(token) FROM gone HAVING COUNT(*) > 0) "
                f"SELECT COUNT(*) FROM gone"
            )
            return cursor.fetchone()[0]
        # SQLite: this transaction is the only writer (IMMEDIATE), nothing can slip in.
        cursor.execute(f"SELECT COUNT(*), MAX(id) FROM {CHANGES}")  # noqa: S608
        count, last = cursor.fetchone()
        if count < 2:
            return 0
        cursor.execute(
            f"INSERT INTO {CHANGES} (changes, token) "  # noqa: S608
            f"SELECT SUM(changes), SUM(token) FROM {CHANGES} WHERE id <= %s",
            [last],
        )
        cursor.execute(f"DELETE FROM {CHANGES} WHERE id <= %s", [last])  # noqa: S608
        return count
