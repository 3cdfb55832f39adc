"""Planner statistics for the gender-balance trend (issue 6); no schema change.

`events.balance.balance_trend` groups registrations by the month, quarter or year of their
event, truncated in the site's time zone. Without statistics on those expressions
PostgreSQL takes every event's start as its own group, expects as many groups as rows and
sorts a million rows on disk; with them it knows there are a few dozen periods and
aggregates in a hash table, in parallel (the all-time trend of 700,000 registrations:
about 2.6 s → 1.2 s, `python -m bench balance_dashboard`). PostgreSQL only; a member
whose own time zone differs gets the slower plan and the same figures.
"""

from django.conf import settings
from django.db import migrations

PERIODS = ("month", "quarter", "year")


def _statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    zone = settings.TIME_ZONE.replace("'", "''")
    for period in PERIODS:
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS events_event_starts_{period} ON "
            f"(date_trunc('{period}', starts_at AT TIME ZONE '{zone}')) FROM events_event"
        )
    schema_editor.execute("ANALYZE events_event")


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for period in PERIODS:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS events_event_starts_{period}")


class Migration(migrations.Migration):
    dependencies = [("events", "0003_campaigns")]

    operations = [migrations.RunPython(_statistics, _drop, elidable=False)]
