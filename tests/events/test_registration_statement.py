"""On PostgreSQL, a first registration for an event is one statement: the lock, the seat
decision, the registration and its message, with nothing between them to wait for."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import notify, services
from events.models import Event, Registration
from notifications.models import OutboxMessage
from tests.events.test_services import make_event, people

Status = Registration.Status

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement registration is PostgreSQL's"
)

COMPARED = ["recipient", "kind", "render_with", "render_params", "idempotency_key", "batch"]


def _message_of(registration: Registration) -> dict:
    row = OutboxMessage.objects.get(render_params__registration=registration.pk)
    return {name: getattr(row, name) for name in COMPARED}


def test_its_message_is_the_one_the_general_path_writes(cluster, organisation):
    event = make_event(cluster, capacity=1)
    first, second, third = people(organisation, 3)
    confirmed = services.event_register(event=event, user=first)
    waitlisted = [services.event_register(event=event, user=u) for u in (second, third)]
    assert [confirmed.status, *(r.status for r in waitlisted)] == [Status.CONFIRMED] + [
        Status.WAITLISTED
    ] * 2
    assert [r.waitlist_position for r in waitlisted] == [1, 2]

    for registration in [confirmed, *waitlisted]:
        written = _message_of(registration)
        OutboxMessage.objects.filter(render_params__registration=registration.pk).delete()
        registration.refresh_from_db()
        notify.registration_changed(registration=registration)  # what the ORM path writes
        assert written == _message_of(registration)
    assert written["render_params"]["waitlist_number"] == 2
    assert written["render_params"]["event_sequence"] == event.sequence


def test_the_lock_and_every_write_are_one_statement(cluster, organisation):
    event = make_event(cluster, capacity=5)
    (person,) = people(organisation, 1)
    table = Registration._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        registration = services.event_register(event=event, user=person)
    writes = [q["sql"] for q in queries if f'INSERT INTO "{table}"' in q["sql"]]
    assert len(writes) == 1
    (statement,) = writes
    assert "FOR UPDATE" in statement
    assert f'INSERT INTO "{OutboxMessage._meta.db_table}"' in statement
    assert not [q for q in queries if "FOR UPDATE" in q["sql"] and q["sql"] != statement]
    assert registration.pk and registration.status == Status.CONFIRMED
    assert OutboxMessage.objects.filter(render_params__registration=registration.pk).count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"registration_closes_at": timezone.now() - timedelta(minutes=1)},
        {"approval_required": True},
    ],
)
def test_an_event_not_plainly_open_is_left_to_the_general_path(cluster, organisation, change):
    event = make_event(cluster, capacity=5)
    (person,) = people(organisation, 1)
    Event.objects.filter(pk=event.pk).update(**change)  # as if changed while on its way
    if change.get("approval_required"):
        assert services.event_register(event=event, user=person).status == Status.PENDING
    else:
        with pytest.raises(services.RegistrationError, match="Registration has closed"):
            services.event_register(event=event, user=person)
        assert not Registration.objects.filter(event=event).exists()
        assert not OutboxMessage.objects.exists()


def test_a_second_registration_after_cancelling_takes_the_end_of_the_queue(cluster, organisation):
    event = make_event(cluster, capacity=1)
    first, second, third = people(organisation, 3)
    for person in (first, second, third):
        services.event_register(event=event, user=person)
    services.registration_cancel(
        registration=Registration.objects.get(event=event, user=second), by=second
    )
    again = services.event_register(event=event, user=second)
    assert (again.status, again.waitlist_position, again.sequence) == (Status.WAITLISTED, 3, 2)
    assert Registration.objects.filter(event=event).count() == 3
