"""factory_boy factories for brokerage days: the event with its settings, one meeting
block of six 20-minute slots and four tables, participants with a seat, market items and
meetings.

Rows are written directly (no service rules): for arranging a page's or a test's state.
Tests of the rules themselves go through `matchmaking.brokerage.services`.
"""

from datetime import timedelta

import factory
from django.utils import timezone

from events.models import Event, Registration
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingBlock,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
    Table,
)
from tests.events.factories import EventFactory
from tests.factories import ClusterFactory, OrganisationFactory, ProfileFactory


def _next_week_at_nine():
    start = timezone.now() + timedelta(days=7)
    return start.replace(hour=9, minute=0, second=0, microsecond=0)


def block_with_slots(
    event: Event,
    *,
    starts_at=None,
    slots: int = 6,
    slot_minutes: int = 20,
    gap_minutes: int = 0,
    name: str = "",
) -> MeetingBlock:
    """A meeting block of `event` with its `slots` slots written (no break slots)."""
    starts_at = starts_at or event.starts_at
    step = timedelta(minutes=slot_minutes + gap_minutes)
    length = timedelta(minutes=slot_minutes)
    block = MeetingBlock.objects.create(
        event=event,
        name=name,
        starts_at=starts_at,
        ends_at=starts_at + step * (slots - 1) + length,
        slot_minutes=slot_minutes,
        gap_minutes=gap_minutes,
    )
    Slot.objects.bulk_create(
        [
            Slot(
                event=event,
                block=block,
                starts_at=starts_at + step * i,
                ends_at=starts_at + step * i + length,
            )
            for i in range(slots)
        ]
    )
    return block


def tables_for(event: Event, count: int, *, start: int = 1) -> list[Table]:
    """`count` numbered tables ("Table 1", ...) of `event`, in position order."""
    return Table.objects.bulk_create(
        [Table(event=event, name=f"Table {n}", position=n) for n in range(start, start + count)]
    )


_BROKERAGE_PARAMS = (
    "scheduling",
    "slots",
    "tables",
    "marketplace_open",
    "request_expiry_hours",
    "default_max_meetings",
)


class BrokerageEventFactory(EventFactory):
    """A published brokerage day a week from now (09:00 UTC, three hours) with settings
    (PICK mode unless `scheduling=`), one block of `slots` (6) slots of 20 minutes from
    the start, and `tables` (4) tables. Clusters default to one new cluster."""

    class Params:
        scheduling = BrokerageSettings.Scheduling.PICK
        slots = 6
        tables = 4
        marketplace_open = True
        request_expiry_hours = 72
        default_max_meetings = 12

    kind = Event.Kind.BROKERAGE
    title = factory.Sequence(lambda n: f"Brokerage day {n}")
    slug = factory.Sequence(lambda n: f"brokerage-day-{n}")
    timezone = "Europe/Vienna"
    starts_at = factory.LazyFunction(_next_week_at_nine)
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=3))
    venue_name = "Tech Park Hall"
    venue_address = "Science Street 1, 4020 Linz"

    @factory.post_generation
    def clusters(self, create, extracted, **kwargs):
        if create:
            self.clusters.set(extracted or [ClusterFactory()])

    @factory.post_generation
    def brokerage(self, create, extracted, **kwargs):
        if not create:
            return
        p = self._brokerage_params
        BrokerageSettings.objects.create(
            event=self,
            scheduling=p["scheduling"],
            marketplace_open=p["marketplace_open"],
            request_expiry_hours=p["request_expiry_hours"],
            default_max_meetings=p["default_max_meetings"],
        )
        if p["slots"]:
            block_with_slots(self, slots=p["slots"])
        if p["tables"]:
            tables_for(self, p["tables"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        params = {name: kwargs.pop(f"_{name}") for name in _BROKERAGE_PARAMS}
        obj = super()._create(model_class, *args, **kwargs)
        obj._brokerage_params = params
        return obj

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        for name in _BROKERAGE_PARAMS:
            kwargs.pop(f"_{name}")
        return super()._build(model_class, *args, **kwargs)

    # Hand the Params to _create (factory_boy drops Params from the model's kwargs).
    _scheduling = factory.SelfAttribute("scheduling")
    _slots = factory.SelfAttribute("slots")
    _tables = factory.SelfAttribute("tables")
    _marketplace_open = factory.SelfAttribute("marketplace_open")
    _request_expiry_hours = factory.SelfAttribute("request_expiry_hours")
    _default_max_meetings = factory.SelfAttribute("default_max_meetings")


class BrokerageSettingsFactory(factory.django.DjangoModelFactory):
    """Settings of a bare brokerage event (one made with `brokerage_settings=False`)."""

    class Meta:
        model = BrokerageSettings
        django_get_or_create = ("event",)

    event = factory.SubFactory(BrokerageEventFactory)


class MeetingBlockFactory(factory.django.DjangoModelFactory):
    """A bare block (no slots written); use `block_with_slots` for a block with slots."""

    class Meta:
        model = MeetingBlock

    event = factory.SubFactory(BrokerageEventFactory, slots=0)
    name = factory.Sequence(lambda n: f"Block {n}")
    starts_at = factory.LazyAttribute(lambda o: o.event.starts_at)
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=2))


class SlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Slot

    block = factory.SubFactory(MeetingBlockFactory)
    event = factory.LazyAttribute(lambda o: o.block.event)
    starts_at = factory.LazyAttribute(lambda o: o.block.starts_at)
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=20))


class TableFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Table

    event = factory.SubFactory(BrokerageEventFactory, tables=0)
    name = factory.Sequence(lambda n: f"Room {n}")
    position = factory.Sequence(lambda n: 100 + n)


def _person_for(event: Event):
    organisation = OrganisationFactory(clusters=list(event.clusters.all()))
    return ProfileFactory(organisation=organisation).user


class ParticipantFactory(factory.django.DjangoModelFactory):
    """A person with a profile (organisation in the event's clusters), a confirmed
    registration on the event and a participant row; all blocks (no `blocks=`) means
    present all day, as the services read it."""

    class Meta:
        model = Participant
        skip_postgeneration_save = True

    event = factory.SubFactory(BrokerageEventFactory)
    user = factory.LazyAttribute(lambda o: _person_for(o.event))
    organisation_kind = factory.LazyAttribute(
        lambda o: (
            o.user.profile.organisation.kind
            if getattr(o.user, "profile", None) and o.user.profile.organisation_id
            else "other"
        )
    )
    headline = "Looking for partners in applied research."
    max_meetings = 12

    @factory.post_generation
    def registration(self, create, extracted, **kwargs):
        """A confirmed registration; pass `registration=<status>` for another status or
        `registration=False` for none."""
        if not create or extracted is False:
            return
        status = extracted or Registration.Status.CONFIRMED
        Registration.objects.update_or_create(
            event=self.event, user=self.user, session=None, defaults={"status": status}
        )

    @factory.post_generation
    def blocks(self, create, extracted, **kwargs):
        if create and extracted:
            self.blocks.set(extracted)


class MarketItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MarketItem
        skip_postgeneration_save = True

    participant = factory.SubFactory(ParticipantFactory)
    direction = MarketItem.Direction.OFFER
    type = MarketItem.Type.EXPERTISE
    title = factory.Sequence(lambda n: f"Market item {n}")
    description = "What we bring and what we look for."

    @factory.post_generation
    def topics(self, create, extracted, **kwargs):
        if create and extracted:
            self.topics.set(extracted)


class MeetingFactory(factory.django.DjangoModelFactory):
    """A pending request between two participants of one event. With `slot=` (and
    `table=`) and a live status, the seats of both sides are written too, as the services
    would; pass `published_at=` for a published placement."""

    class Meta:
        model = Meeting
        skip_postgeneration_save = True

    requester = factory.SubFactory(ParticipantFactory)
    recipient = factory.SubFactory(
        ParticipantFactory, event=factory.SelfAttribute("..requester.event")
    )
    event = factory.LazyAttribute(lambda o: o.requester.event)
    message = "We would like to talk about a joint project."
    status = Meeting.Status.PENDING
    expires_at = factory.LazyAttribute(
        lambda o: (
            timezone.now() + timedelta(hours=72) if o.status == Meeting.Status.PENDING else None
        )
    )
    answered_at = factory.LazyAttribute(
        lambda o: None if o.status == Meeting.Status.PENDING else timezone.now()
    )

    @factory.post_generation
    def seats(self, create, extracted, **kwargs):
        """Seats for both sides when the meeting holds a slot; `seats=False` skips them."""
        if not create or extracted is False:
            return
        if self.slot_id and self.status in Meeting.LIVE_STATUSES:
            MeetingSeat.objects.bulk_create(
                [
                    MeetingSeat(meeting=self, participant_id=pid, slot_id=self.slot_id)
                    for pid in (self.requester_id, self.recipient_id)
                ]
            )


def accepted(requester: Participant, recipient: Participant, **kwargs) -> Meeting:
    """An accepted meeting between two participants (unplaced unless `slot=`/`table=`)."""
    return MeetingFactory(
        requester=requester, recipient=recipient, status=Meeting.Status.ACCEPTED, **kwargs
    )


class ScheduleRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScheduleRun

    event = factory.SubFactory(BrokerageEventFactory)
    started_by = None
    outcome = ScheduleRun.Outcome.OPTIMAL
