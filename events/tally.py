"""Database triggers that keep `RegistrationTally` exact: summed per event, status and
statistics category, its rows give how many event registrations there are (session
registrations are not counted).

Why triggers: the cluster dashboard sums registrations by period, kind and topic; from a
million registrations that takes seconds, from their tallies a tenth of that. A trigger
sees every write — the ORM, bulk inserts, cascades, `QuerySet.update` — so the tallies
cannot drift from the registrations, and a change of a person's gender record (e.g.
withdrawing consent) moves their registrations to the new category in the same
transaction: the next figure no longer counts them.

The triggers only ever insert rows (+1, −1, ±n): no two transactions update the same
row, so registering never waits for, or deadlocks with, another person's registration or
gender change. `compact` (hourly) folds the rows back into one per event, status and
category; after a change of someone's gender record their events are folded at once
(events.apps), so the rows never show for long which categories one person moved
between. On PostgreSQL each trigger first locks its person's user row (shared for a
registration, exclusive for a gender record), so a registration and a change of the
same person's gender record cannot miss each other; SQLite has one writer at a time.

The category comes from `members.privacy` (`category_of_person_sql`,
`category_of_record_sql`): consented genders only, undisclosed for everyone else; the
tallies never hold a gender that the statistics may not count.

Migrations (events.apps): before a `migrate` that applies anything the triggers are
dropped (a migration may rebuild or alter the tables they watch); after any `migrate`,
triggers that are missing or not as this code writes them (a fingerprint of their SQL)
are installed again and every tally recounted.
"""

import hashlib
import logging
from collections.abc import Sequence

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from events.models import Registration, RegistrationTally
from members import privacy
from members.db_triggers import check_vendor, postgresql_function_comment, sqlite_has
from members.models import GenderIdentity, User

logger = logging.getLogger(__name__)

TALLY = RegistrationTally._meta.db_table
REGISTRATIONS = Registration._meta.db_table
RECORDS = GenderIdentity._meta.db_table
UNDISCLOSED = f"'{GenderIdentity.Gender.UNDISCLOSED}'"
COLUMNS = "event_id, status, category, registrations"
USERS = User._meta.db_table

# An update moves a count only when one of these columns changes (a check-in time or a
# self-description does not).
REGISTRATION_COLUMNS = ("event_id", "session_id", "user_id", "status")
RECORD_COLUMNS = ("user_id", "gender", "statistics_consent")


def _count(row: str, sign: str) -> str:
    """Count the registration `row` (NEW or OLD) once more (+) or once less (−), if it
    is an event registration, in its person's current category."""
    category = privacy.category_of_person_sql(f"{row}.user_id")
    return (
        f"INSERT INTO {TALLY} ({COLUMNS}) "  # noqa: S608 -- identifiers only
        f"SELECT {row}.event_id, {row}.status, {category}, {sign}1 "
        f"WHERE {row}.session_id IS NULL;"
    )


def _move(person: str, old: str, new: str) -> str:
    """Move every event registration of `person` from category `old` to `new`."""
    return (
        f"INSERT INTO {TALLY} ({COLUMNS}) "  # noqa: S608
        f"SELECT r.event_id, r.status, c.category, c.sign * COUNT(*) "
        f"FROM {REGISTRATIONS} r, (SELECT {old} AS category, -1 AS sign "
        f"UNION ALL SELECT {new}, 1) c "
        f"WHERE r.user_id = {person} AND r.session_id IS NULL AND {old} <> {new} "
        f"GROUP BY r.event_id, r.status, c.category, c.sign;"
    )


def _record(row: str) -> str:
    return privacy.category_of_record_sql(row)


def _changed(columns: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _sqlite_triggers() -> tuple[tuple[str, str], ...]:
    """(name, definition) of each SQLite trigger."""
    registration = f"AFTER {{}} ON {REGISTRATIONS} FOR EACH ROW {{}}BEGIN {{}} END"
    record = f"AFTER {{}} ON {RECORDS} FOR EACH ROW {{}}BEGIN {{}} END"
    moved = f"WHEN {_changed(REGISTRATION_COLUMNS, 'IS NOT')} "
    recorded = f"WHEN {_changed(RECORD_COLUMNS, 'IS NOT')} "
    triggers = (
        ("events_tally_ins", registration, "INSERT", "", _count("NEW", "+")),
        ("events_tally_del", registration, "DELETE", "", _count("OLD", "-")),
        ("events_tally_upd", registration, "UPDATE", moved,
         _count("OLD", "-") + _count("NEW", "+")),
        ("events_tally_rec_ins", record, "INSERT", "",
         _move("NEW.user_id", UNDISCLOSED, _record("NEW"))),
        ("events_tally_rec_del", record, "DELETE", "",
         _move("OLD.user_id", _record("OLD"), UNDISCLOSED)),
        ("events_tally_rec_upd", record, "UPDATE", recorded,
         _move("OLD.user_id", _record("OLD"), UNDISCLOSED)
         + _move("NEW.user_id", UNDISCLOSED, _record("NEW"))),
    )  # fmt: skip
    return tuple(
        (name, f"CREATE TRIGGER {name} " + template.format(event, when, body))
        for name, template, event, when, body in triggers
    )


POSTGRESQL_TRIGGERS = (
    ("events_tally", REGISTRATIONS, "INSERT OR DELETE", (), "registration"),
    ("events_tally_upd", REGISTRATIONS, "UPDATE", REGISTRATION_COLUMNS, "registration"),
    ("events_tally_rec", RECORDS, "INSERT OR DELETE", (), "record"),
    ("events_tally_rec_upd", RECORDS, "UPDATE", RECORD_COLUMNS, "record"),
)


def _lock(mode: str, row: str) -> str:
    # A row lock on the person's user row: kept in the row itself, not in the server's
    # lock table, so a statement touching twenty thousand people cannot exhaust it. Both
    # modes leave foreign-key checks (FOR KEY SHARE) alone.
    return f"PERFORM 1 FROM {USERS} WHERE id = {row}.user_id FOR {mode};"


def _postgresql() -> list[str]:
    registration = f"""
        CREATE OR REPLACE FUNCTION events_tally_registration() RETURNS trigger AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                {_lock("SHARE", "OLD")} {_count("OLD", "-")}
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {_lock("SHARE", "NEW")} {_count("NEW", "+")}
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
    record = f"""
        CREATE OR REPLACE FUNCTION events_tally_record() RETURNS trigger AS $$
        BEGIN
            -- Waits for the person's registrations being written to commit, and holds
            -- new ones back until this commits: each then sees the other.
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                {_lock("NO KEY UPDATE", "OLD")} {_move("OLD.user_id", _record("OLD"), UNDISCLOSED)}
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {_lock("NO KEY UPDATE", "NEW")} {_move("NEW.user_id", UNDISCLOSED, _record("NEW"))}
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
    return [
        registration,
        record,
        "COMMENT ON FUNCTION events_tally_registration() IS '{version}'",
        *(
            statement
            for name, table, events, watched, function in POSTGRESQL_TRIGGERS
            for statement in (
                f"DROP TRIGGER IF EXISTS {name} ON {table}",
                f"CREATE TRIGGER {name} AFTER {events} ON {table} FOR EACH ROW "
                + (f"WHEN ({_changed(watched, 'IS DISTINCT FROM')}) " if watched else "")
                + f"EXECUTE FUNCTION events_tally_{function}()",
            )
        ),
    ]


def _sqlite() -> list[str]:
    return [
        statement
        for name, definition in _sqlite_triggers()
        for statement in (f"DROP TRIGGER IF EXISTS {name}", definition)
    ]


# Every event registration with its person's category now (no gender record: undisclosed).
_COUNTED = (
    f"SELECT r.event_id, r.status, {privacy.category_of_record_sql('g')} AS category "  # noqa: S608
    f"FROM {REGISTRATIONS} r LEFT JOIN {RECORDS} g ON g.user_id = r.user_id "
    f"WHERE r.session_id IS NULL"
)


def _recount_sql(vendor: str) -> list[str]:
    """Every tally anew from the registrations, one row per event, status and category.
    On PostgreSQL the old rows are truncated, not deleted (no dead rows left for the
    dashboard to read past), and the new ones analysed for the planner."""
    postgresql = vendor == "postgresql"
    return [
        f"TRUNCATE {TALLY}" if postgresql else f"DELETE FROM {TALLY}",  # noqa: S608
        f"INSERT INTO {TALLY} ({COLUMNS}) SELECT event_id, status, category, COUNT(*) "  # noqa: S608
        f"FROM ({_COUNTED}) counted GROUP BY event_id, status, category",
        *([f"ANALYZE {TALLY}"] if postgresql else []),
    ]


def _trigger_names(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return [name for name, _ in _sqlite_triggers()]
    return [name for name, *_ in POSTGRESQL_TRIGGERS]


def _version() -> str:
    """A fingerprint of the trigger SQL of both databases: when this code changes it,
    the triggers in place are out of date."""
    return hashlib.sha256("\n".join(_postgresql() + _sqlite()).encode()).hexdigest()[:16]


def installed(connection: BaseDatabaseWrapper) -> bool:
    """Whether every trigger is in place, as this code writes it."""
    check_vendor(connection)
    if connection.vendor == "sqlite":
        return sqlite_has(connection, list(_sqlite_triggers()))
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        names = {name for (name,) in cursor.fetchall()}
    return set(_trigger_names("postgresql")) <= names and (
        postgresql_function_comment(connection, "events_tally_registration") == _version()
    )


def drop(connection: BaseDatabaseWrapper) -> None:
    """Remove the triggers (before migrations change the tables they watch)."""
    check_vendor(connection)
    tables = set(connection.introspection.table_names())
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in _trigger_names("sqlite"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            return
        for name, table, *_ in POSTGRESQL_TRIGGERS:
            if table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS events_tally_registration(), events_tally_record()")


def install(connection: BaseDatabaseWrapper) -> None:
    """(Re)create the triggers and recount, in one transaction. Writers of registrations
    and gender records wait meanwhile (seconds per million registrations), and so does
    another install (two web containers migrating at once): the lock conflicts with
    itself. Without the tables (a partial or backward migrate) nothing is installed."""
    check_vendor(connection)
    if not {TALLY, REGISTRATIONS, RECORDS} <= set(connection.introspection.table_names()):
        drop(connection)
        return
    statements = {"postgresql": _postgresql, "sqlite": _sqlite}[connection.vendor]()
    statements = [statement.replace("{version}", _version()) for statement in statements]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {REGISTRATIONS}, {RECORDS} IN SHARE ROW EXCLUSIVE MODE")
        for statement in [*statements, *_recount_sql(connection.vendor)]:
            cursor.execute(statement)


def drift(connection: BaseDatabaseWrapper) -> dict[tuple, tuple[int, int]]:
    """Where the tallies disagree with a count of the registrations themselves:
    {(event id, status, category): (tallied, counted)} — empty when all is well. Reads
    a million registrations: for an operator's check, not for pages."""
    check_vendor(connection)
    with connection.cursor() as cursor:  # one statement: both sides from one snapshot
        cursor.execute(
            f"SELECT event_id, status, category, SUM(tallied), SUM(counted) FROM ("  # noqa: S608
            f"SELECT event_id, status, category, registrations AS tallied, 0 AS counted "
            f"FROM {TALLY} UNION ALL "
            f"SELECT event_id, status, category, 0, 1 FROM ({_COUNTED}) counted"
            f") both_sides GROUP BY event_id, status, category "
            f"HAVING SUM(tallied) <> SUM(counted)"
        )
        return {tuple(row[:3]): (row[3], row[4]) for row in cursor.fetchall()}


def compact(connection: BaseDatabaseWrapper, *, events: Sequence[int] | None = None) -> int:
    """Fold the tally rows into one per event, status and category (dropping those that
    sum to 0), without holding anyone up: rows written meanwhile are left for next time.
    Hourly, only keys with more than one row (or a sum of 0) are rewritten, so the table
    is not rewritten wholesale. Given `events` (a person's, after their gender record
    changed), every row of those events is rewritten: what is left shows the events'
    counts, not which categories moved. Returns how many rows were folded."""
    check_vendor(connection)
    keys = "(event_id, status, category)"
    if events is not None and not events:
        return 0
    every = "COUNT(*) >= 1" if events is not None else "COUNT(*) > 1"
    unfolded = (
        "SELECT event_id, status, category FROM {rows} "  # noqa: S608
        "WHERE {events} GROUP BY event_id, status, category "
        f"HAVING {every} OR SUM(registrations) = 0"
    )
    chosen = (
        "event_id IN (" + ", ".join(str(int(e)) for e in events) + ")"
        if events is not None
        else "1 = 1"
    )
    sums = (
        "SELECT event_id, status, category, SUM(registrations) FROM {rows} "  # noqa: S608
        "GROUP BY event_id, status, category HAVING SUM(registrations) <> 0"
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: exactly the rows it deletes are summed back; rows committed
            # after it began are neither deleted nor summed.
            cursor.execute(
                f"WITH gone AS (DELETE FROM {TALLY} WHERE {keys} IN "  # noqa: S608
                f"({unfolded.format(rows=TALLY, events=chosen)}) RETURNING {COLUMNS}), "
                f"kept AS (INSERT INTO {TALLY} ({COLUMNS}) {sums.format(rows='gone')}) "
                f"SELECT COUNT(*) FROM gone"
            )
            return cursor.fetchone()[0]
        # SQLite: this transaction is the only writer (IMMEDIATE), nothing can slip in.
        cursor.execute(f"SELECT MAX(id) FROM {TALLY}")  # noqa: S608
        [last] = cursor.fetchone()
        if last is None:
            return 0
        rows = f"(SELECT * FROM {TALLY} WHERE id <= {int(last)})"  # noqa: S608
        folding = unfolded.format(rows=rows, events=chosen)
        cursor.execute(
            f"INSERT INTO {TALLY} ({COLUMNS}) "
            + sums.format(rows=f"{rows} WHERE {keys} IN ({folding})")
        )
        cursor.execute(f"DELETE FROM {TALLY} WHERE id <= {int(last)} AND {keys} IN ({folding})")  # noqa: S608
        return cursor.rowcount


def fold_person(*, user_id: int, using: str) -> None:
    """Once a person's gender record has changed (or gone), their events' tallies are
    folded: the +1/−1 rows that moved them would otherwise show, until the hourly
    compaction, which categories one person left and joined. Their events are read now
    (an erased account's registrations go next); the fold runs after the commit, so a
    failure there never undoes the person's change, and the hourly compaction catches up."""
    events = list(
        Registration.objects.using(using)
        .filter(user_id=user_id, session__isnull=True)
        .values_list("event_id", flat=True)
    )

    def fold() -> None:
        try:
            compact(connections[using], events=events)
        except DatabaseError:
            logger.exception("Folding the tallies of user #%s failed", user_id)

    if events:
        transaction.on_commit(fold, using=using)
