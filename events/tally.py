"""Database triggers that keep `RegistrationTally` exact: per event, status and statistics
category, how many event registrations there are (session registrations are not counted).

Why triggers: the cluster dashboard sums registrations by period, kind and topic; from a
million registrations that takes seconds, from their tallies a tenth of that. A trigger
sees every write — the ORM, bulk inserts, cascades, `QuerySet.update` — so the tallies
cannot drift from the registrations, and a change of a person's gender record (e.g.
withdrawing consent) moves their registrations to the new category in the same
transaction: the next figure no longer counts them.

The category comes from `members.privacy` (`category_of_person_sql`,
`category_of_record_sql`): consented genders only, undisclosed for everyone else; the
tallies never hold a gender that the statistics may not count.

`install` runs after every `migrate` (events.apps): it (re)creates the triggers — SQLite
drops a table's triggers when a migration rebuilds the table — and recounts every tally
from the registrations.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from events.models import Registration, RegistrationTally
from members import privacy
from members.models import GenderIdentity

TALLY = RegistrationTally._meta.db_table
REGISTRATIONS = Registration._meta.db_table
RECORDS = GenderIdentity._meta.db_table
UNDISCLOSED = GenderIdentity.Gender.UNDISCLOSED
COLUMNS = "event_id, status, category, registrations"
CONFLICT = "ON CONFLICT (event_id, status, category) DO UPDATE SET"


def _add(row: str) -> str:
    """Count the registration `row` (NEW or OLD) once more, if it is an event one."""
    category = privacy.category_of_person_sql(f"{row}.user_id")
    return (
        f"INSERT INTO {TALLY} ({COLUMNS}) "  # noqa: S608 -- identifiers only
        f"SELECT {row}.event_id, {row}.status, {category}, 1 "
        f"WHERE {row}.session_id IS NULL "
        f"{CONFLICT} registrations = {TALLY}.registrations + 1;"
    )


def _remove(row: str) -> str:
    """Count the registration `row` once less; drop tallies that reach 0."""
    category = privacy.category_of_person_sql(f"{row}.user_id")
    return (
        f"UPDATE {TALLY} SET registrations = registrations - 1 "  # noqa: S608
        f"WHERE {row}.session_id IS NULL AND event_id = {row}.event_id "
        f"AND status = {row}.status AND category = {category}; "
        f"DELETE FROM {TALLY} WHERE event_id = {row}.event_id AND registrations <= 0;"
    )


def _move(person: str, old: str, new: str) -> str:
    """Move every event registration of `person` from category `old` to `new`."""
    theirs = f"FROM {REGISTRATIONS} r WHERE r.user_id = {person} AND r.session_id IS NULL"
    return (
        f"UPDATE {TALLY} SET registrations = registrations - (SELECT COUNT(*) {theirs} "  # noqa: S608
        f"AND r.event_id = {TALLY}.event_id AND r.status = {TALLY}.status) "
        f"WHERE category = {old} AND {old} <> {new} "
        f"AND event_id IN (SELECT r.event_id {theirs}); "
        f"DELETE FROM {TALLY} WHERE registrations <= 0 "
        f"AND event_id IN (SELECT r.event_id {theirs}); "
        f"INSERT INTO {TALLY} ({COLUMNS}) SELECT r.event_id, r.status, {new}, COUNT(*) "
        f"{theirs} AND {old} <> {new} GROUP BY r.event_id, r.status "
        f"{CONFLICT} registrations = {TALLY}.registrations + excluded.registrations;"
    )


def _record(row: str) -> str:
    return privacy.category_of_record_sql(row)


# An update moves a count only when one of these columns changes (a check-in time or a
# self-description does not).
REGISTRATION_COLUMNS = ("event_id", "session_id", "user_id", "status")
RECORD_COLUMNS = ("user_id", "gender", "statistics_consent")


def _changed(columns: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _sqlite_triggers() -> tuple[tuple[str, str], ...]:
    """(name, definition) of each SQLite trigger."""
    registration = f"AFTER {{}} ON {REGISTRATIONS} FOR EACH ROW {{}}BEGIN {{}} END"
    record = f"AFTER {{}} ON {RECORDS} FOR EACH ROW {{}}BEGIN {{}} END"
    moved = f"WHEN {_changed(REGISTRATION_COLUMNS, 'IS NOT')} "
    recorded = f"WHEN {_changed(RECORD_COLUMNS, 'IS NOT')} "
    triggers = (
        ("events_tally_ins", registration, "INSERT", "", _add("NEW")),
        ("events_tally_del", registration, "DELETE", "", _remove("OLD")),
        ("events_tally_upd", registration, "UPDATE", moved, _remove("OLD") + _add("NEW")),
        ("events_tally_rec_ins", record, "INSERT", "",
         _move("NEW.user_id", f"'{UNDISCLOSED}'", _record("NEW"))),
        ("events_tally_rec_del", record, "DELETE", "",
         _move("OLD.user_id", _record("OLD"), f"'{UNDISCLOSED}'")),
        ("events_tally_rec_upd", record, "UPDATE", recorded,
         _move("OLD.user_id", _record("OLD"), "'" + UNDISCLOSED + "'")
         + _move("NEW.user_id", f"'{UNDISCLOSED}'", _record("NEW"))),
    )  # fmt: skip
    return tuple(
        (name, f"CREATE TRIGGER {name} " + template.format(event, when, body))
        for name, template, event, when, body in triggers
    )


def _sqlite() -> list[str]:
    return [
        statement
        for name, definition in _sqlite_triggers()
        for statement in (f"DROP TRIGGER IF EXISTS {name}", definition)
    ]


POSTGRESQL_TRIGGERS = (
    ("events_tally", REGISTRATIONS, "INSERT OR DELETE", (), "registration"),
    ("events_tally_upd", REGISTRATIONS, "UPDATE", REGISTRATION_COLUMNS, "registration"),
    ("events_tally_rec", RECORDS, "INSERT OR DELETE", (), "record"),
    ("events_tally_rec_upd", RECORDS, "UPDATE", RECORD_COLUMNS, "record"),
)


def _postgresql() -> list[str]:
    registration = f"""
        CREATE OR REPLACE FUNCTION events_tally_registration() RETURNS trigger AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN {_remove("OLD")} END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN {_add("NEW")} END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
    record = f"""
        CREATE OR REPLACE FUNCTION events_tally_record() RETURNS trigger AS $$
        BEGIN
            -- One person's move at a time: two people moving between the same two
            -- categories in opposite directions would otherwise lock each other's rows.
            PERFORM pg_advisory_xact_lock(hashtext('events_tally_record'));
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                {_move("OLD.user_id", _record("OLD"), f"'{UNDISCLOSED}'")}
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {_move("NEW.user_id", f"'{UNDISCLOSED}'", _record("NEW"))}
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
    return [
        registration,
        record,
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


def _recount_sql(vendor: str) -> list[str]:
    """Every tally anew from the registrations. On PostgreSQL the old rows are truncated,
    not deleted (no dead rows left for the dashboard to read past), and the new ones
    analysed for the planner."""
    category = privacy.category_of_record_sql("g")  # no record: undisclosed too
    postgresql = vendor == "postgresql"
    return [
        f"TRUNCATE {TALLY}" if postgresql else f"DELETE FROM {TALLY}",  # noqa: S608
        f"INSERT INTO {TALLY} ({COLUMNS}) SELECT r.event_id, r.status, {category}, COUNT(*) "  # noqa: S608
        f"FROM {REGISTRATIONS} r LEFT JOIN {RECORDS} g ON g.user_id = r.user_id "
        f"WHERE r.session_id IS NULL GROUP BY r.event_id, r.status, {category}",
        *([f"ANALYZE {TALLY}"] if postgresql else []),
    ]


def _drop(vendor: str) -> list[str]:
    """No trigger left behind (e.g. after migrating back to before the tallies)."""
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name, _ in _sqlite_triggers()]
    return [
        *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in POSTGRESQL_TRIGGERS),
        "DROP FUNCTION IF EXISTS events_tally_registration(), events_tally_record()",
    ]


def install(connection: BaseDatabaseWrapper) -> None:
    """(Re)create the triggers and recount, in one transaction. Writers of registrations
    and gender records wait meanwhile, and so does another install (two web containers
    migrating at once): the lock conflicts with itself. Without the tables (a partial or
    backward migrate) the triggers are removed instead."""
    writers = {"postgresql": _postgresql, "sqlite": _sqlite}
    if connection.vendor not in writers:
        raise ImproperlyConfigured(
            f"Clusterhub runs on PostgreSQL or SQLite, not {connection.display_name}."
        )
    tables = {TALLY, REGISTRATIONS, RECORDS}
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if not tables <= set(connection.introspection.table_names(cursor)):
            for statement in _drop(connection.vendor):
                cursor.execute(statement)
            return
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {REGISTRATIONS}, {RECORDS} IN SHARE ROW EXCLUSIVE MODE")
        for statement in [*writers[connection.vendor](), *_recount_sql(connection.vendor)]:
            cursor.execute(statement)
