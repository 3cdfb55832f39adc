"""Registration tallies under concurrent writes on PostgreSQL: a registration and a change
of the same person's gender record never miss each other, and registering, cancelling
and changing consent at once neither fails nor leaves the tallies off a direct count."""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from events.models import Event, Registration
from events.services import event_register, registration_cancel
from members import privacy
from members.models import GenderIdentity
from tests.events.test_tally import counted_directly, tallies
from tests.factories import UserFactory
from tests.integration.threads import run_together

pytestmark = pytest.mark.integration

G = GenderIdentity.Gender
RS = Registration.Status
PAUSE = 0.5  # long enough for the other thread to reach its lock


def _event(slug: str, capacity: int | None = None) -> Event:
    start = timezone.now() + timedelta(days=14)
    return Event.objects.create(
        kind=Event.Kind.WEBINAR, title=slug, slug=slug, starts_at=start,
        ends_at=start + timedelta(hours=2), capacity=capacity,
        audience=Event.Audience.PUBLIC, status=Event.Status.PUBLISHED,
    )  # fmt: skip


def _interleaved(first, second) -> list[BaseException]:
    """`first` writes in a transaction and holds it open; `second` starts meanwhile (and
    must wait for what it needs); then `first` commits."""
    started, errors = threading.Event(), []

    def one():
        try:
            with transaction.atomic():
                first()
                started.set()
                time.sleep(PAUSE)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    def two():
        try:
            started.wait(10)
            with transaction.atomic():
                second()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


@pytest.fixture
def woman(postgres, transactional_db):
    person = UserFactory()
    privacy.gender_set(user=person, gender=G.WOMAN, statistics_consent=True)
    return person


def test_consent_withdrawn_while_registering_is_not_counted_as_a_woman(woman):
    event = _event("while-registering")

    errors = _interleaved(
        lambda: Registration.objects.create(event=event, user=woman, status=RS.CONFIRMED),
        lambda: privacy.gender_set(user=woman, gender=G.WOMAN, statistics_consent=False),
    )

    assert errors == []
    assert tallies() == counted_directly() == {(event.pk, RS.CONFIRMED, G.UNDISCLOSED): 1}


def test_registering_while_consent_is_withdrawn_is_not_counted_as_a_woman(woman):
    event = _event("while-withdrawing")

    errors = _interleaved(
        lambda: privacy.gender_set(user=woman, gender=G.WOMAN, statistics_consent=False),
        lambda: Registration.objects.create(event=event, user=woman, status=RS.CONFIRMED),
    )

    assert errors == []
    assert tallies() == counted_directly() == {(event.pk, RS.CONFIRMED, G.UNDISCLOSED): 1}


def test_a_check_in_while_the_gender_changes_is_counted_once(woman):
    event = _event("check-in")
    registration = Registration.objects.create(event=event, user=woman, status=RS.CONFIRMED)

    errors = _interleaved(
        lambda: Registration.objects.filter(pk=registration.pk).update(status=RS.ATTENDED),
        lambda: privacy.gender_set(user=woman, gender=G.MAN, statistics_consent=True),
    )

    assert errors == []
    assert tallies() == counted_directly() == {(event.pk, RS.ATTENDED, G.MAN): 1}


def test_registering_cancelling_and_changing_consent_at_once(postgres, transactional_db):
    """Forty people at once on two small events (so cancellations promote from the
    waitlist): each registers, or cancels, or changes their consent."""
    rng = random.Random(6)
    events = [_event("busy-a", capacity=5), _event("busy-b", capacity=5)]
    people = UserFactory.create_batch(40)
    for person in people:
        privacy.gender_set(
            user=person, gender=rng.choice([G.WOMAN, G.MAN]), statistics_consent=True
        )
    for person in people[:20]:
        for event in events:
            event_register(event=event, user=person)

    def cancel(person):
        for registration in Registration.objects.filter(user=person, status=RS.CONFIRMED):
            registration_cancel(registration=registration, by=person)

    def withdraw(person):
        privacy.gender_set(user=person, gender=G.WOMAN, statistics_consent=False)

    calls = [
        (lambda p=person, f=rng.choice([cancel, withdraw]): f(p))  # noqa: B008 -- drawn once
        if i < 20
        else (lambda p=person, e=rng.choice(events): event_register(event=e, user=p))  # noqa: B008
        for i, person in enumerate(people)
    ]

    _, errors = run_together(calls)

    assert errors == []
    assert tallies() == counted_directly()


def test_one_statement_can_touch_twenty_thousand_people(postgres, transactional_db):
    """The triggers' person locks live in the rows, not in the server's lock table
    (which holds a few thousand): a big event can be registered, closed and deleted."""
    from members.models import User

    people = User.objects.bulk_create(
        [User(email=f"many{i}@example.org") for i in range(20_000)], batch_size=5_000
    )
    event = _event("twenty-thousand")
    with transaction.atomic():
        Registration.objects.bulk_create(
            [Registration(event=event, user=p, status=RS.CONFIRMED) for p in people],
            batch_size=5_000,
        )
    Registration.objects.filter(event=event).update(status=RS.NO_SHOW)
    assert tallies() == counted_directly() == {(event.pk, RS.NO_SHOW, G.UNDISCLOSED): 20_000}

    event.delete()
    assert tallies() == counted_directly() == {}
