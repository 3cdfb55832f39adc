"""Registration never overbooks: real threads, each with its own PostgreSQL connection."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event, Registration
from events.services import RegistrationBusy, RegistrationError, event_register
from notifications.models import OutboxMessage
from tests.factories import UserFactory
from tests.integration.threads import run_together, seat_lock_held, transaction_held_open

pytestmark = pytest.mark.integration

THREADS = 50
SEATS = 10


def _event(*, capacity: int) -> Event:
    start = timezone.now() + timedelta(days=14)
    return Event.objects.create(
        kind=Event.Kind.WEBINAR,
        title="Concurrency check",
        slug="concurrency-check",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        capacity=capacity,
        audience=Event.Audience.PUBLIC,
        status=Event.Status.PUBLISHED,
    )


def test_fifty_people_for_ten_seats_get_ten_seats_and_an_ordered_waitlist(
    postgres, transactional_db
):
    event = _event(capacity=SEATS)
    users = UserFactory.create_batch(THREADS)

    results, errors = run_together(
        [lambda user=user: event_register(event=event, user=user) for user in users]
    )

    assert errors == []
    assert len(results) == THREADS
    rows = Registration.objects.filter(event=event)
    assert rows.count() == THREADS
    assert rows.filter(status=Registration.Status.CONFIRMED).count() == SEATS
    waitlisted = rows.filter(status=Registration.Status.WAITLISTED)
    assert sorted(waitlisted.values_list("waitlist_position", flat=True)) == list(
        range(1, THREADS - SEATS + 1)
    )
    # Each person is told what they got: one message each, with their place in the queue.
    told = {
        message.render_params["registration"]: message.render_params
        for message in OutboxMessage.objects.filter(batch=f"event:{event.pk}")
    }
    assert len(told) == THREADS
    for registration in rows:
        said = told[registration.pk]
        assert (said["status"], said["waitlist_position"]) == (
            registration.status,
            registration.waitlist_position,
        )
        assert said["waitlist_number"] == registration.waitlist_position  # nobody left


def test_a_registration_that_cannot_have_the_lock_in_time_writes_nothing(
    postgres, transactional_db, settings
):
    settings.EVENTS_LOCK_TIMEOUT_MS = 200
    event = _event(capacity=SEATS)
    user = UserFactory()
    with seat_lock_held(event):
        with pytest.raises(RegistrationBusy):
            event_register(event=event, user=user)
        assert not Registration.objects.filter(event=event).exists()
        assert not OutboxMessage.objects.exists()
    # The connection is usable and unlocked afterwards: the person's next try gets the seat.
    assert event_register(event=event, user=user).status == Registration.Status.CONFIRMED
    assert OutboxMessage.objects.count() == 1


def test_a_registration_written_past_the_lock_meanwhile_leaves_one_registration(
    postgres, transactional_db
):
    # Someone (an import, the admin) writes this person's registration without the seat
    # lock while they register. The two transactions wait for each other (the other's
    # foreign-key check on the event is deferred to its commit), and PostgreSQL ends one.
    # Usually ours: the person is asked to try again, and nothing of it is left behind.
    event = _event(capacity=SEATS)
    user = UserFactory()

    def write_without_the_lock() -> None:
        Registration.objects.create(event=event, user=user, status=Registration.Status.CONFIRMED)

    with transaction_held_open(write_without_the_lock) as release:
        threading.Timer(0.5, release.set).start()  # commits while the registration waits
        try:
            mine = event_register(event=event, user=user)
        except RegistrationError as error:
            assert "try again" in str(error)
            mine = None
    # Either way: one registration, and a message only if it was this person's.
    (registration,) = Registration.objects.filter(event=event, user=user)
    assert mine in (None, registration)
    assert OutboxMessage.objects.count() == (0 if mine is None else 1)
    # Trying again finds that registration, unchanged.
    assert event_register(event=event, user=user) == registration
    assert OutboxMessage.objects.count() == (0 if mine is None else 1)


def test_fifty_simultaneous_clicks_of_one_person_make_one_registration(postgres, transactional_db):
    event = _event(capacity=SEATS)
    user = UserFactory()

    results, errors = run_together(
        [lambda: event_register(event=event, user=user) for _ in range(THREADS)]
    )

    assert errors == []
    assert {registration.pk for registration in results} == {
        Registration.objects.get(event=event, user=user).pk
    }
    assert Registration.objects.get(event=event, user=user).status == (
        Registration.Status.CONFIRMED
    )
