import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from matchmaking.brokerage.funnel import funnel_for_event
from matchmaking.brokerage.models import Meeting
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MeetingFactory,
    ParticipantFactory,
    accepted,
)

pytestmark = pytest.mark.django_db
S = Meeting.Status


@pytest.fixture
def day():
    """A day with meetings at every stage of the funnel.

    sme1–res:  accepted, scheduled, checked in                → held
    sme1–inv:  scheduled, both say held, requester wants more → follow-up
    sme2–res:  scheduled, one says held, the other says not   → scheduled only
    sme2–inv:  scheduled, one says held, other silent         → held
    big–res:   accepted, no slot                              → accepted only
    big–inv:   cancelled after acceptance                     → accepted only
    big–sme1:  declined                                       → requested only
    lurker joined and asked nobody.
    """
    event = BrokerageEventFactory()
    slots = list(event.meeting_slots.order_by("starts_at"))
    tables = list(event.meeting_tables.order_by("position"))
    sme1 = ParticipantFactory(event=event, organisation_kind="sme")
    sme2 = ParticipantFactory(event=event, organisation_kind="sme")
    res = ParticipantFactory(event=event, organisation_kind="research")
    inv = ParticipantFactory(event=event, organisation_kind="investor")
    big = ParticipantFactory(event=event, organisation_kind="large_company")
    ParticipantFactory(event=event, organisation_kind="public_body")  # the lurker
    accepted(sme1, res, slot=slots[0], table=tables[0], checked_in_at=timezone.now())
    accepted(sme1, inv, slot=slots[1], table=tables[0], requester_held=True,
             recipient_held=True, requester_follow_up=True, recipient_follow_up=False)  # fmt: skip
    accepted(sme2, res, slot=slots[1], table=tables[1], requester_held=True,
             recipient_held=False, requester_follow_up=True)  # fmt: skip
    accepted(sme2, inv, slot=slots[2], table=tables[0], recipient_held=True)
    accepted(big, res)
    MeetingFactory(requester=big, recipient=inv, status=S.CANCELLED)
    MeetingFactory(requester=big, recipient=sme1, status=S.DECLINED)
    return event


def test_the_funnel_counts_meetings_and_participants_per_stage(day):
    funnel = funnel_for_event(event=day)
    assert funnel.joined == 6
    assert funnel.total.meetings == {
        "requested": 7, "accepted": 6, "scheduled": 4, "held": 3, "follow_up": 1,
    }  # fmt: skip
    # The one who disagreed about a meeting that took place does not make it held; a
    # follow-up on a meeting that is not held does not count.
    assert funnel.total.participants == {
        "requested": 5, "accepted": 5, "scheduled": 4, "held": 4, "follow_up": 2,
    }  # fmt: skip


def test_by_kind_a_meeting_counts_once_under_each_kind_taking_part(day):
    rows = {row.key: row for row in funnel_for_event(event=day).by_kind}
    assert rows["sme"].meetings == {
        "requested": 5, "accepted": 4, "scheduled": 4, "held": 3, "follow_up": 1,
    }  # fmt: skip
    assert rows["research"].meetings["requested"] == 3
    assert rows["research"].meetings["held"] == 1
    assert rows["sme"].participants["held"] == 2
    assert rows["public_body"].participants == dict.fromkeys(rows["sme"].participants, 0)
    assert rows["association"].meetings["requested"] == 0  # every kind is listed


def test_two_people_of_the_same_kind_count_their_meeting_once_under_it():
    event = BrokerageEventFactory()
    a = ParticipantFactory(event=event, organisation_kind="sme")
    b = ParticipantFactory(event=event, organisation_kind="sme")
    MeetingFactory(requester=a, recipient=b)
    rows = {row.key: row for row in funnel_for_event(event=event).by_kind}
    assert rows["sme"].meetings["requested"] == 1
    assert rows["sme"].participants["requested"] == 2


def test_the_funnel_takes_the_same_queries_however_many_meetings(day):
    with CaptureQueriesContext(connection) as small:
        funnel_for_event(event=day)
    for _ in range(5):
        MeetingFactory(
            requester=ParticipantFactory(event=day), recipient=ParticipantFactory(event=day)
        )
    with CaptureQueriesContext(connection) as large:
        funnel_for_event(event=day)
    assert len(small) == len(large) <= 5


def test_another_events_meetings_do_not_count(day):
    MeetingFactory()
    assert funnel_for_event(event=day).total.meetings["requested"] == 7
