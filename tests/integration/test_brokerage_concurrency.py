"""Brokerage meetings are never double-booked: real threads, each with its own PostgreSQL
connection, accepting requests into the same last free common slot at the same instant.

Two cases, each run for many rounds: one person's two partners accept into the one slot
that person still has free (the person's seat is contended), and two unrelated pairs
accept into the last free table of a slot (the table is contended). Each round ends with
exactly one meeting there; the other accept gets the clear "slot was just taken" answer
and leaves nothing written: the request still waits, with no slot, table or seats.
"""

import threading

import pytest
from django.core.exceptions import ValidationError

from matchmaking.brokerage import services
from matchmaking.brokerage.models import Meeting, MeetingSeat
from notifications.models import OutboxMessage
from tests.integration.threads import run_together
from tests.matchmaking.brokerage.factories import BrokerageEventFactory, ParticipantFactory

pytestmark = pytest.mark.integration

ROUNDS = 20


def _accept(meeting, by, slot):
    def call():
        try:
            return services.meeting_accept(meeting=meeting, by=by, slot=slot)
        except ValidationError as error:
            return error

    return call


def _check_round(*, slot, meetings, results) -> None:
    won = [r for r in results if isinstance(r, Meeting)]
    lost = [r for r in results if isinstance(r, ValidationError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].messages == ["That slot was just taken; please pick another."]
    winner = Meeting.objects.get(pk=won[0].pk)
    loser = Meeting.objects.get(pk=next(m.pk for m in meetings if m.pk != winner.pk))
    assert winner.status == Meeting.Status.ACCEPTED and winner.slot_id == slot.pk
    assert winner.published_at is not None
    assert loser.status == Meeting.Status.PENDING
    assert (loser.slot_id, loser.table_id, loser.answered_at) == (None, None, None)
    assert not MeetingSeat.objects.filter(meeting=loser).exists()
    assert MeetingSeat.objects.filter(slot=slot).count() == 2
    assert Meeting.objects.filter(slot=slot, status=Meeting.Status.ACCEPTED).count() == 1
    assert not OutboxMessage.objects.filter(
        idempotency_key=f"brokerage.accepted:{loser.pk}"
    ).exists()


def test_two_partners_accepting_into_one_persons_last_free_slot_get_one_meeting(
    postgres, transactional_db
):
    for _ in range(ROUNDS):
        event = BrokerageEventFactory(slots=1, tables=4)
        [slot] = event.meeting_slots.all()
        asker = ParticipantFactory(event=event)
        partners = [ParticipantFactory(event=event) for _ in range(2)]
        meetings = [
            services.meeting_request(event=event, requester=asker, recipient=p, message="Hi")
            for p in partners
        ]

        results, errors = run_together(
            [_accept(m, p, slot) for m, p in zip(meetings, partners, strict=True)]
        )

        assert errors == []
        _check_round(slot=slot, meetings=meetings, results=results)


def test_two_pairs_accepting_into_the_last_free_table_get_one_meeting(postgres, transactional_db):
    for _ in range(ROUNDS):
        event = BrokerageEventFactory(slots=1, tables=1)
        [slot] = event.meeting_slots.all()
        people = [ParticipantFactory(event=event) for _ in range(4)]
        meetings = [
            services.meeting_request(
                event=event, requester=people[0], recipient=people[1], message=""
            ),
            services.meeting_request(
                event=event, requester=people[2], recipient=people[3], message=""
            ),
        ]

        results, errors = run_together(
            [
                _accept(meetings[0], people[1], slot),
                _accept(meetings[1], people[3], slot),
            ]
        )

        assert errors == []
        _check_round(slot=slot, meetings=meetings, results=results)


def test_a_table_taken_out_of_use_during_an_accept_is_never_used(
    postgres, transactional_db, monkeypatch
):
    """The organiser takes the only table out of use while an accept has already chosen
    it (paused between choosing and locking it): the accept waits for the table's row,
    sees it out of use and answers "just taken"; no live meeting sits at a table out of
    use."""
    from matchmaking.brokerage import day_setup

    event = BrokerageEventFactory(slots=1, tables=1)
    [slot] = event.meeting_slots.all()
    [table] = event.meeting_tables.all()
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    chosen, changed = threading.Event(), threading.Event()
    lock_table = services._lock_table

    def paused(table_id):
        chosen.set()
        changed.wait(timeout=30)
        return lock_table(table_id)

    monkeypatch.setattr(services, "_lock_table", paused)

    def organiser():
        chosen.wait(timeout=30)
        try:
            return day_setup.table_update(table=table, name=table.name, is_active=False)
        finally:
            changed.set()

    results, errors = run_together([_accept(meeting, b, slot), organiser])

    assert errors == []
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert refused and refused[0].messages == ["That slot was just taken; please pick another."]
    assert not Meeting.objects.filter(
        status=Meeting.Status.ACCEPTED, table__is_active=False
    ).exists()
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.PENDING and meeting.table_id is None
