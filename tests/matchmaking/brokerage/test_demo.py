from collections import Counter

import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events.models import Event, Registration
from events.selectors import user_manages_event
from matchmaking.brokerage import marketplace, selectors
from matchmaking.brokerage.demo import ANNA, FIXED_MEMBERS, MAIN_SLUG, PAST_SLUG
from matchmaking.brokerage.demo import demo_seed as brokerage_demo_seed
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
)
from members.demo import demo_seed as members_demo_seed
from members.models import Profile, User
from notifications.models import OutboxMessage

Status = Meeting.Status
MODELS = (Event, Participant, MarketItem, Meeting, MeetingSeat, ScheduleRun, OutboxMessage)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The members demo and the brokerage days once for this module, in a transaction
    rolled back at the end (the events and mentoring demos are left out: nothing here
    reads them)."""
    with django_db_blocker.unblock(), transaction.atomic():
        members_demo_seed()
        yield brokerage_demo_seed()
        transaction.set_rollback(True)


def _placed(event: Event):
    return Meeting.objects.filter(event=event, status=Status.ACCEPTED, slot__isnull=False)


def _no_double_booking(event: Event) -> None:
    placed = list(_placed(event).select_related("slot"))
    assert placed
    by_person = Counter()
    by_table = Counter()
    blocks = {
        p.pk: {b.pk for b in p.blocks.all()}
        for p in Participant.objects.filter(event=event).prefetch_related("blocks")
    }
    for m in placed:
        assert m.table_id is not None and not m.slot.is_break
        by_table[m.slot_id, m.table_id] += 1
        for side in (m.requester_id, m.recipient_id):
            by_person[side, m.slot_id] += 1
            assert not blocks[side] or m.slot.block_id in blocks[side]
    assert max(by_person.values()) == 1
    assert max(by_table.values()) == 1
    seats = MeetingSeat.objects.filter(meeting__in=placed)
    assert seats.count() == 2 * len(placed)


@pytest.mark.django_db
def test_the_day_has_80_participants_from_three_clusters_with_offers_and_requests(seeded):
    event = Event.objects.get(slug=MAIN_SLUG)
    assert event.kind == Event.Kind.BROKERAGE and event.status == Event.Status.PUBLISHED
    assert event.starts_at > timezone.now()
    assert set(event.clusters.values_list("slug", flat=True)) == {
        "mechatronics", "maritime", "textiles"
    }  # fmt: skip
    participants = Participant.objects.filter(event=event)
    assert participants.count() == 80
    seated = Registration.objects.filter(
        event=event,
        status=Registration.Status.CONFIRMED,
        user__brokerage_participations__event=event,
    )
    assert seated.count() == 80
    clusters = Counter(
        participants.values_list(
            "user__profile__organisation__cluster_memberships__cluster__slug", flat=True
        ).distinct()  # fmt: skip
    )
    assert {"mechatronics", "maritime", "textiles"} <= set(clusters)
    assert not participants.filter(user__profile__visibility=Profile.Visibility.HIDDEN).exists()
    for participant in participants.prefetch_related("items"):
        items = list(participant.items.all())
        assert 1 <= len(items) <= 3
    items = MarketItem.objects.filter(participant__event=event)
    assert items.filter(direction=MarketItem.Direction.OFFER).exists()
    assert items.filter(direction=MarketItem.Direction.REQUEST).exists()
    assert items.filter(topics__isnull=True).count() == 0
    assert len(set(items.values_list("type", flat=True))) >= 5
    settings = BrokerageSettings.objects.get(event=event)
    assert settings.scheduling == BrokerageSettings.Scheduling.SCHEDULER
    assert event.meeting_blocks.count() == 2
    assert event.meeting_tables.count() == 24
    assert Slot.objects.filter(event=event, is_break=True).count() == 1


@pytest.mark.django_db
def test_most_demo_participants_show_their_card_to_the_whole_day(seeded):
    """So that the cross-cluster marketplace is full: Anna, from mechatronics, finds
    people of the other two clusters, though some only show their card to their cluster."""
    event = Event.objects.get(slug=MAIN_SLUG)
    participants = Participant.objects.filter(event=event)
    shown = participants.filter(shown_to_all=True).count()
    assert 0.75 * 80 <= shown < 80
    assert not participants.filter(user__email__in=FIXED_MEMBERS, shown_to_all=False).exists()
    anna = User.objects.get(email=ANNA)
    listed = marketplace.participants_listed(event=event, viewer=anna)
    others = listed.exclude(
        user__profile__organisation__cluster_memberships__cluster__slug="mechatronics"
    )
    assert others.count() >= 30
    assert listed.count() < participants.count()


@pytest.mark.django_db
def test_requests_are_in_every_state_and_waiting_ones_expire_later(seeded):
    event = Event.objects.get(slug=MAIN_SLUG)
    counts = Counter(Meeting.objects.filter(event=event).values_list("status", flat=True))
    for status in (Status.PENDING, Status.ACCEPTED, Status.DECLINED, Status.EXPIRED):
        assert counts[status] >= 3, status
    now = timezone.now()
    pending = Meeting.objects.filter(event=event, status=Status.PENDING)
    assert all(m.created_at < now < m.expires_at for m in pending)
    assert not Meeting.objects.filter(event=event, created_at__gt=now).exists()
    answered = Meeting.objects.filter(event=event, status__in=[Status.ACCEPTED, Status.DECLINED])
    assert all(m.created_at < m.answered_at <= now for m in answered)


@pytest.mark.django_db
def test_the_schedule_is_published_with_nobody_double_booked(seeded):
    event = Event.objects.get(slug=MAIN_SLUG)
    settings = BrokerageSettings.objects.get(event=event)
    assert settings.schedule_published_at is not None
    run = ScheduleRun.objects.filter(event=event).get()
    assert run.published_at is not None and run.scheduled <= run.upper_bound
    assert run.scheduled >= 0.9 * run.upper_bound
    _no_double_booking(event)
    assert _placed(event).filter(published_at__isnull=True).count() == 0
    # Accepted after publishing: the organiser's next run has something to place.
    late = Meeting.objects.filter(event=event, status=Status.ACCEPTED, slot__isnull=True)
    assert late.count() >= 3


@pytest.mark.django_db
def test_the_printed_logins_can_run_the_scheduler_and_read_their_agenda(seeded):
    event = Event.objects.get(slug=MAIN_SLUG)
    for cluster in ("mechatronics", "maritime", "textiles"):
        organiser = User.objects.get(email=f"organiser@{cluster}.example")
        assert user_manages_event(user=organiser, event=event)
    for email in FIXED_MEMBERS:
        participant = selectors.participant_for(event=event, user=User.objects.get(email=email))
        assert participant is not None, email
        assert selectors.agenda_for(participant=participant), email
    anna = Participant.objects.get(event=event, user__email=ANNA)
    assert Meeting.objects.filter(recipient=anna, status=Status.PENDING).count() >= 2


@pytest.mark.django_db
def test_the_first_edition_was_held_with_feedback_from_both_sides(seeded):
    event = Event.objects.get(slug=PAST_SLUG)
    assert event.status == Event.Status.COMPLETED and event.ends_at < timezone.now()
    participants = Participant.objects.filter(event=event)
    assert participants.count() >= 40
    assert (
        not Registration.objects.filter(event=event)
        .exclude(status=Registration.Status.ATTENDED)
        .exists()
    )
    _no_double_booking(event)
    placed = _placed(event)
    assert not placed.filter(Q(published_at__isnull=True) | Q(published_at__gt=event.starts_at))
    both = placed.filter(requester_held=True, recipient_held=True)
    assert both.count() >= 0.5 * placed.count()
    assert placed.filter(requester_follow_up=True, recipient_follow_up=True).exists()
    assert placed.filter(Q(requester_held=False) | Q(recipient_held=False)).exists()
    assert placed.filter(checked_in_at__isnull=False).count() >= both.count() * 0.9
    assert not Meeting.objects.filter(event=event, status=Status.PENDING).exists()


@pytest.mark.django_db
def test_a_second_run_changes_nothing_and_queues_no_mail(seeded):
    before = {model.__name__: model.objects.count() for model in MODELS}
    result = brokerage_demo_seed()
    assert {model.__name__: model.objects.count() for model in MODELS} == before
    assert "already up to date" in str(result)
    assert "created" in str(seeded)
