"""The rules of a brokerage day's writes: who may join and act, meeting requests and
their answers, held and picked slots, expiry, placement, feedback and check-in."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from events.models import Event, Registration
from matchmaking.brokerage import selectors, services, tasks
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingSeat,
    Participant,
)
from members.models import Organisation, Profile
from notifications.models import OutboxMessage
from tests.factories import (
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
    TopicFactory,
    UserFactory,
)
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MarketItemFactory,
    MeetingFactory,
    ParticipantFactory,
    accepted,
    block_with_slots,
)

pytestmark = pytest.mark.django_db

Status = Meeting.Status


@pytest.fixture
def event():
    return BrokerageEventFactory()


@pytest.fixture
def people(event):
    return [ParticipantFactory(event=event) for _ in range(4)]


def slots_of(event):
    return list(event.meeting_slots.order_by("starts_at"))


def organiser_of(event):
    return ClusterOrganiserFactory(cluster=event.clusters.first()).user


def seats(meeting) -> set[tuple[int, int]]:
    return set(MeetingSeat.objects.filter(meeting=meeting).values_list("participant_id", "slot_id"))


def mails_to(participant, kind: str | None = None) -> list[OutboxMessage]:
    qs = OutboxMessage.objects.filter(recipient=participant.user.email)
    if kind:
        qs = qs.filter(kind=f"brokerage.{kind}")
    return list(qs.order_by("pk"))


# --- joining -----------------------------------------------------------------------------


def test_joining_needs_a_seat_and_takes_kind_and_cap_from_profile_and_settings(event):
    user = ProfileFactory(organisation=OrganisationFactory(kind=Organisation.Kind.RESEARCH)).user
    with pytest.raises(ValidationError, match="registered"):
        services.participant_join(event=event, user=user)
    Registration.objects.create(
        event=event, user=user, status=Registration.Status.WAITLISTED, waitlist_position=1
    )
    with pytest.raises(ValidationError):
        services.participant_join(event=event, user=user)
    Registration.objects.filter(event=event, user=user).update(
        status=Registration.Status.CONFIRMED, waitlist_position=None
    )
    BrokerageSettings.objects.filter(event=event).update(default_max_meetings=7)
    event.refresh_from_db()
    participant = services.participant_join(event=event, user=user)
    assert participant.organisation_kind == Organisation.Kind.RESEARCH
    assert participant.max_meetings == 7
    assert list(participant.blocks.all()) == []
    again = services.participant_join(event=event, user=user)
    assert again.pk == participant.pk
    assert Participant.objects.filter(event=event, user=user).count() == 1


def test_only_a_brokerage_event_that_is_not_cancelled_takes_participants():
    webinar = BrokerageEventFactory(kind=Event.Kind.WEBINAR)
    user = UserFactory()
    Registration.objects.create(event=webinar, user=user, status=Registration.Status.CONFIRMED)
    with pytest.raises(ValidationError, match="not a brokerage"):
        services.participant_join(event=webinar, user=user)
    cancelled = BrokerageEventFactory(status=Event.Status.CANCELLED)
    Registration.objects.create(event=cancelled, user=user, status=Registration.Status.CONFIRMED)
    with pytest.raises(ValidationError, match="cancelled"):
        services.participant_join(event=cancelled, user=user)


def test_a_participant_without_a_seat_any_more_cannot_act(event, people):
    a, b = people[:2]
    Registration.objects.filter(event=event, user=a.user).update(
        status=Registration.Status.CANCELLED
    )
    with pytest.raises(ValidationError, match="registered"):
        services.meeting_request(event=event, requester=a, recipient=b, message="Hi")
    with pytest.raises(ValidationError, match="no longer takes part"):
        services.meeting_request(event=event, requester=b, recipient=a, message="Hi")
    with pytest.raises(ValidationError):
        services.item_create(
            participant=a, direction="offer", type="expertise", title="Robots", topic_ids=[]
        )


def test_participant_update_stores_all_blocks_as_every_block_and_guards_meetings(event):
    first = event.meeting_blocks.get()
    second = block_with_slots(event, starts_at=first.ends_at + timedelta(hours=1), slots=3)
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    services.participant_update(
        participant=a,
        organisation_kind=Organisation.Kind.INVESTOR,
        headline="Seed funding for robotics",
        max_meetings=5,
        block_ids=[first.pk, second.pk],
    )
    a.refresh_from_db()
    assert a.organisation_kind == Organisation.Kind.INVESTOR
    assert a.max_meetings == 5 and list(a.blocks.all()) == []
    accepted(a, b, slot=first.slots.first(), table=event.meeting_tables.first())
    with pytest.raises(ValidationError, match="meeting at"):
        services.participant_update(
            participant=a,
            organisation_kind="sme",
            headline="",
            max_meetings=5,
            block_ids=[second.pk],
        )
    other = BrokerageEventFactory()
    with pytest.raises(ValidationError, match="meeting blocks of this event"):
        services.participant_update(
            participant=a,
            organisation_kind="sme",
            headline="",
            max_meetings=5,
            block_ids=[other.meeting_blocks.get().pk],
        )
    with pytest.raises(ValidationError):
        services.participant_update(
            participant=a,
            organisation_kind="sme",
            headline="two\nlines",
            max_meetings=5,
            block_ids=[],
        )


# --- offers and requests -----------------------------------------------------------------


def test_items_need_an_open_marketplace_and_valid_topics(event, people):
    a = people[0]
    robots = TopicFactory(name="Industrial robots")
    item = services.item_create(
        participant=a,
        direction=MarketItem.Direction.OFFER,
        type=MarketItem.Type.TECHNOLOGY,
        title="  Gripper design ",
        description="We design grippers.",
        topic_ids=[robots.pk],
    )
    assert item.title == "Gripper design" and list(item.topics.all()) == [robots]
    services.item_update(item=item, title="Soft grippers", topic_ids=[])
    item.refresh_from_db()
    assert item.title == "Soft grippers" and item.type == MarketItem.Type.TECHNOLOGY
    assert item.topics.count() == 0
    with pytest.raises(ValidationError, match="listed topics"):
        services.item_update(item=item, topic_ids=[999999])
    with pytest.raises(ValidationError):
        services.item_create(
            participant=a, direction="sideways", type="technology", title="X", topic_ids=[]
        )
    BrokerageSettings.objects.filter(event=event).update(marketplace_open=False)
    a = Participant.objects.get(pk=a.pk)
    with pytest.raises(ValidationError, match="marketplace of this event is closed"):
        services.item_create(
            participant=a, direction="offer", type="technology", title="X", topic_ids=[]
        )
    services.item_delete(item=MarketItem.objects.get(pk=item.pk))
    assert not MarketItem.objects.filter(pk=item.pk).exists()


def test_item_prefill_suggests_offers_from_expertise_and_requests_from_interests(event):
    robots, water = TopicFactory(name="Robots"), TopicFactory(name="Water treatment")
    profile = ProfileFactory(expertise=[robots, water], interests=[water])
    participant = ParticipantFactory(event=event, user=profile.user)
    MarketItemFactory(participant=participant, direction="offer", topics=[water])
    suggestions = services.item_prefill(participant=participant)
    offers = [s for s in suggestions if s["direction"] == "offer"]
    requests = [s for s in suggestions if s["direction"] == "request"]
    assert [s["topic_ids"] for s in offers] == [[robots.pk]]
    assert "Robots" in offers[0]["title"] and offers[0]["type"] == "expertise"
    assert [s["topic_ids"] for s in requests] == [[water.pk]]


# --- requests ----------------------------------------------------------------------------


def test_a_request_waits_for_the_settings_expiry_and_tells_the_recipient(event, people):
    a, b = people[:2]
    BrokerageSettings.objects.filter(event=event).update(request_expiry_hours=10)
    event = Event.objects.get(pk=event.pk)
    before = timezone.now()
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message=" Hello ")
    assert meeting.status == Status.PENDING and meeting.message == "Hello"
    assert (
        before + timedelta(hours=10) <= meeting.expires_at <= timezone.now() + timedelta(hours=10)
    )
    assert meeting.slot is None and not seats(meeting)
    assert len(mails_to(b, "requested")) == 1


def test_nobody_asks_themselves(event, people):
    with pytest.raises(ValidationError, match="yourself"):
        services.meeting_request(event=event, requester=people[0], recipient=people[0], message="")


def test_one_live_request_per_pair_whichever_side_asked(event, people):
    a, b = people[:2]
    first = services.meeting_request(event=event, requester=a, recipient=b, message="")
    with pytest.raises(ValidationError, match="already an open request"):
        services.meeting_request(event=event, requester=a, recipient=b, message="")
    with pytest.raises(ValidationError, match="already an open request"):
        services.meeting_request(event=event, requester=b, recipient=a, message="")
    services.meeting_decline(meeting=first, by=b)
    again = services.meeting_request(event=event, requester=b, recipient=a, message="Now?")
    assert again.status == Status.PENDING


def test_the_database_constraint_backs_the_pair_rule_with_a_clear_message(
    event, people, monkeypatch
):
    """A second writer that passed the check at the same moment hits the constraint."""
    a, b = people[:2]
    services.meeting_request(event=event, requester=a, recipient=b, message="")
    monkeypatch.setattr(selectors, "live_meeting_between", lambda **kwargs: None)
    with pytest.raises(ValidationError, match="already an open request"):
        services.meeting_request(event=event, requester=b, recipient=a, message="")
    assert Meeting.objects.count() == 1
    assert len(mails_to(a, "requested")) == 0


def test_a_hidden_profile_cannot_be_asked_unless_they_asked_first(event):
    hidden = ParticipantFactory(
        event=event, user=ProfileFactory(visibility=Profile.Visibility.HIDDEN).user
    )
    a = ParticipantFactory(event=event)
    with pytest.raises(ValidationError, match="cannot be asked"):
        services.meeting_request(event=event, requester=a, recipient=hidden, message="")
    earlier = services.meeting_request(event=event, requester=hidden, recipient=a, message="")
    services.meeting_decline(meeting=earlier, by=a)
    meeting = services.meeting_request(event=event, requester=a, recipient=hidden, message="")
    assert meeting.recipient == hidden


def test_a_closed_marketplace_refuses_requests(event, people):
    BrokerageSettings.objects.filter(event=event).update(marketplace_open=False)
    event = Event.objects.get(pk=event.pk)
    a, b = (Participant.objects.get(pk=p.pk) for p in people[:2])
    with pytest.raises(ValidationError, match="closed"):
        services.meeting_request(event=event, requester=a, recipient=b, message="")
    assert not Meeting.objects.exists()


def test_requests_stop_at_the_requesters_cap_counting_live_meetings(event, people):
    a, b, c, d = people
    Participant.objects.filter(pk=a.pk).update(max_meetings=2)
    services.meeting_request(event=event, requester=a, recipient=b, message="")
    accepted(c, a)
    with pytest.raises(ValidationError, match="number of meetings you want \\(2\\)"):
        services.meeting_request(event=event, requester=a, recipient=d, message="")
    # Requests others sent them do not fill their agenda.
    services.meeting_request(event=event, requester=d, recipient=a, message="")


def test_accepting_respects_the_recipients_cap(event, people):
    a, b, c, _ = people
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    Participant.objects.filter(pk=b.pk).update(max_meetings=1)
    accepted(b, c)
    with pytest.raises(ValidationError, match="number of meetings you want \\(1\\)"):
        services.meeting_accept(meeting=meeting, by=b, slot=slots_of(event)[0])
    meeting.refresh_from_db()
    assert meeting.status == Status.PENDING and not seats(meeting)


def test_a_request_after_the_day_is_refused(people):
    event = BrokerageEventFactory(starts_at=timezone.now() - timedelta(hours=5), slots=0)
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    with pytest.raises(ValidationError, match="over"):
        services.meeting_request(event=event, requester=a, recipient=b, message="")


# --- PICK mode: held and picked slots ----------------------------------------------------


def test_a_proposed_slot_is_held_with_both_seats_and_the_first_free_table(event, people):
    a, b = people[:2]
    slot = slots_of(event)[1]
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="", slot=slot)
    assert meeting.slot == slot
    assert meeting.table == event.meeting_tables.order_by("position").first()
    assert seats(meeting) == {(a.pk, slot.pk), (b.pk, slot.pk)}
    assert meeting.published_at is None
    assert slot not in selectors.free_common_slots(a=a, b=people[2])


def test_accepting_places_the_held_slot_and_publishes_it_at_once(event, people):
    a, b = people[:2]
    slot = slots_of(event)[2]
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="", slot=slot)
    meeting = services.meeting_accept(meeting=meeting, by=b)
    meeting.refresh_from_db()
    assert meeting.status == Status.ACCEPTED and meeting.is_scheduled
    assert meeting.slot == slot and meeting.published_at is not None
    assert meeting.answered_at is not None and meeting.sequence == 0
    assert seats(meeting) == {(a.pk, slot.pk), (b.pk, slot.pk)}
    assert selectors.agenda_for(participant=a) == [meeting]
    assert selectors.agenda_for(participant=b)[0].partner == a


def test_the_recipient_may_pick_another_free_common_slot(event, people):
    a, b = people[:2]
    held, other = slots_of(event)[0], slots_of(event)[3]
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="", slot=held)
    services.meeting_accept(meeting=meeting, by=b, slot=other)
    meeting.refresh_from_db()
    assert meeting.slot == other
    assert seats(meeting) == {(a.pk, other.pk), (b.pk, other.pk)}
    assert held in selectors.free_common_slots(a=a, b=b)


def test_accepting_needs_a_time_while_a_common_one_is_free(event, people):
    a, b = people[:2]
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    with pytest.raises(ValidationError, match="pick a time"):
        services.meeting_accept(meeting=meeting, by=b)


def test_without_a_free_common_slot_accepting_leaves_it_for_the_organisers(people):
    event = BrokerageEventFactory(slots=1)
    a, b, c = (ParticipantFactory(event=event) for _ in range(3))
    accepted(a, c, slot=slots_of(event)[0], table=event.meeting_tables.first())
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    meeting = services.meeting_accept(meeting=meeting, by=b)
    assert meeting.status == Status.ACCEPTED and meeting.slot is None
    assert meeting.published_at is None


def test_only_the_recipient_answers(event, people):
    a, b, c, _ = people
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    for wrong in (a, c):
        with pytest.raises(PermissionDenied):
            services.meeting_accept(meeting=meeting, by=wrong, slot=slots_of(event)[0])
        with pytest.raises(PermissionDenied):
            services.meeting_decline(meeting=meeting, by=wrong)
    with pytest.raises(PermissionDenied):
        services.meeting_withdraw(meeting=meeting, by=b)


def test_an_expired_request_cannot_be_accepted(event, people):
    a, b = people[:2]
    meeting = MeetingFactory(
        requester=a, recipient=b, expires_at=timezone.now() - timedelta(minutes=1)
    )
    with pytest.raises(ValidationError, match="expired"):
        services.meeting_accept(meeting=meeting, by=b, slot=slots_of(event)[0])


def test_nobody_is_double_booked_in_a_slot(event, people):
    a, b, c, d = people
    slot = slots_of(event)[0]
    accepted(a, b, slot=slot, table=event.meeting_tables.first(), published_at=timezone.now())
    with pytest.raises(ValidationError, match="just taken"):
        services.meeting_request(event=event, requester=c, recipient=a, message="", slot=slot)
    meeting = services.meeting_request(event=event, requester=a, recipient=d, message="")
    with pytest.raises(ValidationError, match="just taken"):
        services.meeting_accept(meeting=meeting, by=d, slot=slot)
    meeting.refresh_from_db()
    assert meeting.status == Status.PENDING and not seats(meeting)
    assert MeetingSeat.objects.filter(slot=slot).count() == 2


def test_each_table_takes_one_meeting_per_slot(people):
    event = BrokerageEventFactory(tables=1)
    a, b, c, d = (ParticipantFactory(event=event) for _ in range(4))
    slot = slots_of(event)[0]
    first = services.meeting_request(event=event, requester=a, recipient=b, message="")
    second = services.meeting_request(event=event, requester=c, recipient=d, message="")
    services.meeting_accept(meeting=first, by=b, slot=slot)
    with pytest.raises(ValidationError, match="just taken"):
        services.meeting_accept(meeting=second, by=d, slot=slot)
    assert slot not in selectors.free_common_slots(a=c, b=d)
    services.meeting_accept(meeting=second, by=d, slot=slots_of(event)[1])


def test_a_slot_outside_someones_blocks_or_a_break_is_refused(event):
    morning = event.meeting_blocks.get()
    afternoon = block_with_slots(event, starts_at=morning.ends_at + timedelta(hours=2), slots=2)
    a = ParticipantFactory(event=event, blocks=[morning])
    b = ParticipantFactory(event=event)
    late = afternoon.slots.first()
    assert late not in selectors.free_common_slots(a=a, b=b)
    with pytest.raises(ValidationError, match="not at the meetings"):
        services.meeting_request(event=event, requester=b, recipient=a, message="", slot=late)
    pause = slots_of(event)[2]
    pause.is_break = True
    pause.save(update_fields=["is_break"])
    assert pause not in selectors.free_common_slots(a=a, b=b)
    with pytest.raises(ValidationError, match="break"):
        services.meeting_request(event=event, requester=b, recipient=a, message="", slot=pause)


def test_scheduler_mode_takes_no_time_and_leaves_the_meeting_unplaced():
    event = BrokerageEventFactory(scheduling=BrokerageSettings.Scheduling.SCHEDULER)
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    with pytest.raises(ValidationError, match="organisers schedule"):
        services.meeting_request(
            event=event, requester=a, recipient=b, message="", slot=slots_of(event)[0]
        )
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    meeting = services.meeting_accept(meeting=meeting, by=b)
    assert meeting.status == Status.ACCEPTED and meeting.slot is None
    assert not seats(meeting) and meeting.published_at is None


# --- ending a request or meeting ---------------------------------------------------------


@pytest.mark.parametrize("how", ["decline", "withdraw"])
def test_declining_or_withdrawing_frees_the_held_slot(event, people, how):
    a, b = people[:2]
    slot = slots_of(event)[0]
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="", slot=slot)
    if how == "decline":
        services.meeting_decline(meeting=meeting, by=b)
        told, status = a, Status.DECLINED
    else:
        services.meeting_withdraw(meeting=meeting, by=a)
        told, status = b, Status.WITHDRAWN
    meeting.refresh_from_db()
    assert meeting.status == status and not seats(meeting)
    assert meeting.slot == slot  # kept for history
    assert slot in selectors.free_common_slots(a=a, b=b)
    assert len(mails_to(told, "declined" if how == "decline" else "withdrawn")) == 1
    with pytest.raises(ValidationError):
        services.meeting_decline(meeting=meeting, by=b)


def test_cancelling_a_published_meeting_raises_its_sequence_and_frees_the_slot(event, people):
    a, b = people[:2]
    slot = slots_of(event)[0]
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    services.meeting_accept(meeting=meeting, by=b, slot=slot)
    services.meeting_cancel(meeting=meeting, by=a.user)
    meeting.refresh_from_db()
    assert meeting.status == Status.CANCELLED and meeting.sequence == 1
    assert not seats(meeting)
    assert slot in selectors.free_common_slots(a=a, b=b)
    told = mails_to(b, "cancelled")
    assert len(told) == 1 and "METHOD:CANCEL" in str(told[0].attachments)
    assert any("METHOD:CANCEL" in str(m.attachments) for m in mails_to(a, "agenda"))


def test_only_the_two_sides_or_an_organiser_cancel(event, people):
    a, b, c, _ = people
    meeting = accepted(
        a,
        b,
        slot=slots_of(event)[0],
        table=event.meeting_tables.first(),
        published_at=timezone.now(),
    )
    with pytest.raises(PermissionDenied):
        services.meeting_cancel(meeting=meeting, by=c.user)
    pending = services.meeting_request(event=event, requester=c, recipient=a, message="")
    with pytest.raises(ValidationError, match="accepted meeting"):
        services.meeting_cancel(meeting=pending, by=a.user)
    services.meeting_cancel(meeting=meeting, by=organiser_of(event))
    meeting.refresh_from_db()
    assert meeting.status == Status.CANCELLED
    assert len(mails_to(a, "cancelled")) == 1 and len(mails_to(b, "cancelled")) == 1


# --- expiry ------------------------------------------------------------------------------


def test_expiry_frees_held_slots_tells_both_and_is_idempotent(event, people):
    a, b, c, d = people
    slot = slots_of(event)[0]
    due = services.meeting_request(event=event, requester=a, recipient=b, message="", slot=slot)
    later = services.meeting_request(event=event, requester=c, recipient=d, message="")
    Meeting.objects.filter(pk=later.pk).update(expires_at=timezone.now() + timedelta(days=9))
    answered = services.meeting_request(event=event, requester=a, recipient=c, message="")
    services.meeting_accept(meeting=answered, by=c, slot=slots_of(event)[1])
    moment = timezone.now() + timedelta(hours=80)
    assert services.meetings_expire(now=moment) == 1
    due.refresh_from_db()
    assert due.status == Status.EXPIRED and not seats(due)
    assert slot in selectors.free_common_slots(a=a, b=b)
    assert len(mails_to(a, "expired")) == 1 and len(mails_to(b, "expired")) == 1
    assert Meeting.objects.get(pk=later.pk).status == Status.PENDING
    assert Meeting.objects.get(pk=answered.pk).status == Status.ACCEPTED
    assert services.meetings_expire(now=moment) == 0
    assert len(mails_to(a, "expired")) == 1


def test_expiry_works_through_many_batches(event, monkeypatch):
    monkeypatch.setattr(services, "EXPIRE_BATCH", 3)
    hub = ParticipantFactory(event=event, max_meetings=50)
    for _ in range(7):
        MeetingFactory(
            requester=hub,
            recipient=ParticipantFactory(event=event),
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    assert services.meetings_expire() == 7
    assert not Meeting.objects.filter(status=Status.PENDING).exists()


def test_the_expiry_task_runs_the_service_and_beat_runs_it_every_few_minutes(event, people):
    MeetingFactory(
        requester=people[0], recipient=people[1], expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.meetings_expire_task() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["brokerage-meetings-expire"]
    assert entry["task"] == "matchmaking.brokerage.tasks.meetings_expire_task"
    assert entry["schedule"] <= 10 * 60
    from config.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


# --- placement by the organisers ---------------------------------------------------------


def test_a_first_placement_keeps_sequence_zero_and_a_move_raises_it(people):
    event = BrokerageEventFactory(scheduling=BrokerageSettings.Scheduling.SCHEDULER)
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    meeting = accepted(a, b)
    first, second = slots_of(event)[:2]
    tables = list(event.meeting_tables.order_by("position"))
    services.meeting_place(meeting=meeting, slot=first, table=None)
    meeting.refresh_from_db()
    assert (meeting.slot, meeting.table, meeting.sequence) == (first, tables[0], 0)
    assert meeting.published_at is not None
    services.meeting_place(meeting=meeting, slot=first, table=tables[0])
    meeting.refresh_from_db()
    assert meeting.sequence == 0  # unchanged placement
    services.meeting_place(meeting=meeting, slot=second, table=tables[2])
    meeting.refresh_from_db()
    assert (meeting.slot, meeting.table, meeting.sequence) == (second, tables[2], 1)
    assert seats(meeting) == {(a.pk, second.pk), (b.pk, second.pk)}
    services.meeting_place(meeting=meeting, slot=None, table=None)
    meeting.refresh_from_db()
    assert meeting.slot is None and meeting.sequence == 2 and not seats(meeting)
    keys = set(
        OutboxMessage.objects.filter(kind="brokerage.agenda").values_list(
            "idempotency_key", flat=True
        )
    )
    assert {k.split(":", 3)[-1] for k in keys} == {"0:REQUEST", "1:REQUEST", "2:CANCEL"}
    assert len(keys) == 6  # three states, two people


def test_placing_refuses_a_taken_table_and_a_double_booking(event, people):
    a, b, c, d = people
    slot = slots_of(event)[0]
    table = event.meeting_tables.order_by("position").first()
    accepted(a, b, slot=slot, table=table, published_at=timezone.now())
    meeting = accepted(c, d)
    with pytest.raises(ValidationError, match="table is taken"):
        services.meeting_place(meeting=meeting, slot=slot, table=table)
    clash = accepted(a, c)
    with pytest.raises(ValidationError, match="just taken"):
        services.meeting_place(meeting=clash, slot=slot, table=None)
    pending = services.meeting_request(event=event, requester=b, recipient=d, message="")
    with pytest.raises(ValidationError, match="accepted meeting"):
        services.meeting_place(meeting=pending, slot=slots_of(event)[1], table=None)


# --- after the day -----------------------------------------------------------------------


@pytest.fixture
def past_meeting():
    event = BrokerageEventFactory(starts_at=timezone.now() - timedelta(hours=4))
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    return accepted(
        a,
        b,
        slot=slots_of(event)[0],
        table=event.meeting_tables.first(),
        published_at=timezone.now() - timedelta(days=1),
    )


def test_feedback_is_each_sides_own_and_only_after_the_meeting(past_meeting, event, people):
    a, b = past_meeting.requester, past_meeting.recipient
    services.meeting_feedback(meeting=past_meeting, by=a, held=True, follow_up=True)
    services.meeting_feedback(meeting=past_meeting, by=b, held=False, follow_up=True)
    past_meeting.refresh_from_db()
    assert (past_meeting.requester_held, past_meeting.requester_follow_up) == (True, True)
    assert (past_meeting.recipient_held, past_meeting.recipient_follow_up) == (False, None)
    stranger = ParticipantFactory(event=past_meeting.event)
    with pytest.raises(PermissionDenied):
        services.meeting_feedback(meeting=past_meeting, by=stranger, held=True, follow_up=None)
    upcoming = accepted(
        people[0],
        people[1],
        slot=slots_of(event)[0],
        table=event.meeting_tables.first(),
        published_at=timezone.now(),
    )
    with pytest.raises(ValidationError, match="once it is over"):
        services.meeting_feedback(meeting=upcoming, by=people[0], held=True, follow_up=True)


def test_an_organiser_checks_a_meeting_in(past_meeting):
    with pytest.raises(PermissionDenied):
        services.meeting_check_in(meeting=past_meeting, by=past_meeting.requester.user)
    organiser = organiser_of(past_meeting.event)
    services.meeting_check_in(meeting=past_meeting, by=organiser)
    past_meeting.refresh_from_db()
    first = past_meeting.checked_in_at
    assert first is not None
    services.meeting_check_in(meeting=past_meeting, by=organiser)
    past_meeting.refresh_from_db()
    assert past_meeting.checked_in_at == first


# --- selectors ---------------------------------------------------------------------------


def test_requests_for_lists_received_and_sent_pending_first(event, people):
    a, b, c, _ = people
    old = services.meeting_request(event=event, requester=b, recipient=a, message="")
    services.meeting_decline(meeting=old, by=a)
    waiting = services.meeting_request(event=event, requester=c, recipient=a, message="")
    sent = services.meeting_request(event=event, requester=a, recipient=people[3], message="")
    found = selectors.requests_for(participant=a)
    assert list(found["received"]) == [waiting, old]
    assert list(found["sent"]) == [sent]


def test_participant_for_needs_a_seat(event, people):
    a = people[0]
    assert selectors.participant_for(event=event, user=a.user) == a
    Registration.objects.filter(event=event, user=a.user).update(
        status=Registration.Status.CANCELLED
    )
    assert selectors.participant_for(event=event, user=a.user) is None
    assert not selectors.user_is_participant(event=event, user=a.user)
