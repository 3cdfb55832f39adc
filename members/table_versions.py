"""Versions of sets of tables, kept by database triggers, for cache keys that are exact
(the member directory, members.directory_version; the events API's list,
events.list_version).

A `TableVersion` changes with every committed write to the tables it watches. Why
triggers: a page cached under a version that a write did not change would be served stale
(a profile its owner has just hidden, an event just withdrawn). A trigger sees every write
— the ORM, the admin, imports, `QuerySet.update()`, cascades, raw SQL, TRUNCATE on
PostgreSQL — where signals see only the ORM's saves.

The triggers only ever insert rows into the version's own table (columns `changes` and
`token`): no two writers wait for one row. The version is the sum of the rows' changes and
of their random tokens: it grows with each commit, as soon as the commit is visible,
whatever order transactions commit in; and after a rollback, or a restore from a backup,
the same number of changes still gives another version, so a page cached from rows that
were then undone is not read again. `fold` (hourly) sums the rows into one without
changing the version.

On PostgreSQL one row per statement (one per bulk import, not one per row); on SQLite,
which has no statement triggers, one per row. The account table may be watched for a few
columns only (not at every sign-in).

Migrations (each owning app's `apps.py`): as `events.tally`, the triggers are dropped before
a `migrate` that applies anything, and installed again afterwards when missing or out of
date; the migration creating a version's table installs them too, and its reverse drops
them before the table goes.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, migrations, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from members.db_triggers import check_vendor, postgresql_function_comment, sqlite_has

_TOKEN = {
    "postgresql": "floor(random() * 2147483647)::bigint + 1",
    "sqlite": "(random() & 2147483647) + 1",
}


@dataclass(frozen=True)
class TableVersion:
    name: str  # of the function and the triggers, e.g. "members_directory"
    changes_table: str
    watched: Callable[[], list[str]]  # tables every write to which is a change
    user_columns: tuple[str, ...] = ()  # the account table's columns that are, if any

    def _users(self) -> str:
        return apps.get_model("members", "User")._meta.db_table

    def _new_row(self, vendor: str) -> str:
        return (
            f"INSERT INTO {self.changes_table} (changes, token) "  # noqa: S608
            f"VALUES (1, {_TOKEN[vendor]})"
        )

    def _user_changed(self, distinct: str) -> str:
        return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in self.user_columns)

    def _postgresql(self) -> list[str]:
        function = f"{self.name}_changed"
        execute = f"EXECUTE FUNCTION {function}()"
        statements = [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
            f"{self._new_row('postgresql')}; RETURN NULL; END $$ LANGUAGE plpgsql",
            f"COMMENT ON FUNCTION {function}() IS '{{version}}'",
        ]
        for table in self.watched():
            statements += [
                f"DROP TRIGGER IF EXISTS {self.name} ON {table}",
                f"CREATE TRIGGER {self.name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT {execute}",
            ]
        if self.user_columns:
            users = self._users()
            statements += [
                f"DROP TRIGGER IF EXISTS {self.name} ON {users}",
                f"CREATE TRIGGER {self.name} AFTER UPDATE ON {users} FOR EACH ROW "
                f"WHEN ({self._user_changed('IS DISTINCT FROM')}) {execute}",
                f"DROP TRIGGER IF EXISTS {self.name}_gone ON {users}",
                f"CREATE TRIGGER {self.name}_gone AFTER INSERT OR DELETE OR TRUNCATE "
                f"ON {users} FOR EACH STATEMENT {execute}",
            ]
        return statements

    def _postgresql_triggers(self) -> set[tuple[str, str]]:
        """(table, trigger name) of each PostgreSQL trigger."""
        found = {(table, self.name) for table in self.watched()}
        if self.user_columns:
            found |= {(self._users(), self.name), (self._users(), f"{self.name}_gone")}
        return found

    def _sqlite_triggers(self) -> list[tuple[str, str]]:
        """(name, definition) of each SQLite trigger."""
        body = f"BEGIN {self._new_row('sqlite')}; END"
        rows = [(t, event, "") for t in self.watched() for event in ("INSERT", "UPDATE", "DELETE")]
        if self.user_columns:
            users = self._users()
            rows += [(users, "INSERT", ""), (users, "DELETE", ""),
                     (users, "UPDATE", f"WHEN {self._user_changed('IS NOT')} ")]  # fmt: skip
        return [
            (
                name := f"{self.name}_{table}_{event.lower()}",
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when}{body}",
            )
            for table, event, when in rows
        ]

    def _sqlite(self) -> list[str]:
        return [
            statement
            for name, definition in self._sqlite_triggers()
            for statement in (f"DROP TRIGGER IF EXISTS {name}", definition)
        ]

    def _version(self) -> str:
        """A fingerprint of the trigger SQL of both databases."""
        sql = "\n".join(self._postgresql() + self._sqlite())
        return hashlib.sha256(sql.encode()).hexdigest()[:16]

    def installed(self, connection: BaseDatabaseWrapper) -> bool:
        """Whether every trigger is in place, as this code writes it."""
        check_vendor(connection)
        if connection.vendor == "sqlite":
            return sqlite_has(connection, self._sqlite_triggers())
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            )
            found = set(cursor.fetchall())
        function = f"{self.name}_changed"
        return self._postgresql_triggers() <= found and (
            postgresql_function_comment(connection, function) == self._version()
        )

    def drop(self, connection: BaseDatabaseWrapper) -> None:
        """Remove the triggers (before migrations change the tables they watch)."""
        check_vendor(connection)
        tables = set(connection.introspection.table_names())
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                for name, _definition in self._sqlite_triggers():
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                return
            for table, trigger in self._postgresql_triggers():
                if table in tables:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {self.name}_changed()")

    def install(self, connection: BaseDatabaseWrapper) -> None:
        """(Re)create the triggers, and count a change: what was written while they were
        away gets a new version. Without the tables (a partial or backward migrate)
        nothing is installed."""
        check_vendor(connection)
        needed = {self.changes_table, *self.watched()}
        if self.user_columns:
            needed.add(self._users())
        if not needed <= set(connection.introspection.table_names()):
            self.drop(connection)
            return
        statements = {"postgresql": self._postgresql, "sqlite": self._sqlite}[connection.vendor]()
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in [*statements, self._new_row(connection.vendor)]:
                cursor.execute(statement.replace("{version}", self._version()))

    def migration(self) -> migrations.RunPython:
        """For the migration that creates the changes table: installs the triggers (for a
        migration run without its signals, e.g. tests that migrate back and forth), and
        on the way back drops them before the table goes (or every write they watch
        would fail)."""
        return migrations.RunPython(
            lambda apps, schema_editor: self.install(schema_editor.connection),
            lambda apps, schema_editor: self.drop(schema_editor.connection),
            elidable=False,
        )

    def current(self) -> str:
        """The version now, for a cache key: a sum over the rows written since the last
        fold (a few, on PostgreSQL, where a bulk import writes one)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(changes), 0), COALESCE(SUM(token), 0) "  # noqa: S608
                f"FROM {self.changes_table}"
            )
            changes, token = cursor.fetchone()
        return f"{changes}.{token}"

    def fold(self, connection: BaseDatabaseWrapper) -> int:
        """Sum the rows into one, the version unchanged; rows committed meanwhile are left
        for next time. Returns how many rows were folded."""
        check_vendor(connection)
        table = self.changes_table
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One statement: exactly the rows it deletes are summed back.
                cursor.execute(
                    f"WITH gone AS (DELETE FROM {table} "  # noqa: S608
                    f"WHERE (SELECT COUNT(*) FROM {table}) > 1 RETURNING changes, token), "
                    f"kept AS (INSERT INTO {table} (changes, token) "
                    f"SELECT SUM(changes), SUM(token) FROM gone HAVING COUNT(*) > 0) "
                    f"SELECT COUNT(*) FROM gone"
                )
                return cursor.fetchone()[0]
            # SQLite: this transaction is the only writer (IMMEDIATE), nothing can slip in.
            cursor.execute(f"SELECT COUNT(*), MAX(id) FROM {table}")  # noqa: S608
            count, last = cursor.fetchone()
            if count < 2:
                return 0
            cursor.execute(
                f"INSERT INTO {table} (changes, token) "  # noqa: S608
                f"SELECT SUM(changes), SUM(token) FROM {table} WHERE id <= %s",
                [last],
            )
            cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [last])  # noqa: S608
            return count
