"""The indexes the pages rely on as events accumulate (issue 18, `bench/growth.py`)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events import discovery
from events.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _indexed_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [c["columns"] for c in constraints.values() if c["index"]]


def test_events_are_indexed_by_their_end():
    assert ["ends_at"] in _indexed_columns(Event._meta.db_table)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL query plan")
def test_upcoming_list_finds_its_events_through_the_end_index_not_a_scan_of_all():
    now = timezone.now()
    events = [
        Event(
            slug=f"growth-{i}",
            title=f"Event {i}",
            starts_at=now + timedelta(hours=(i - 3000) * 2),
            ends_at=now + timedelta(hours=(i - 3000) * 2 + 1),
            status=Event.Status.COMPLETED if i < 3000 else Event.Status.PUBLISHED,
            audience=Event.Audience.PUBLIC,
        )
        for i in range(3030)  # years of past events, a month ahead
    ]
    Event.objects.bulk_create(events, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
    upcoming = discovery.event_list(user=UserFactory())
    assert upcoming.count() == 30

    sql, params = upcoming.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "event_ends_at_idx" in plan, plan
    assert "Seq Scan on events_event " not in plan, plan
