"""Every write of a brokerage day's participants: joining, offers and requests, meeting
requests and their answers, expiry, placement, feedback and check-in.

Who may act. Only people with a seat on the event (`selectors.user_is_participant`) join
or act, on a brokerage event that is not cancelled; new requests and items need the
marketplace open (`BrokerageSettings.marketplace_open`). A refusal is a
`ValidationError` whose message is for the person; acting for someone else (declining a
request sent to another) is a `PermissionDenied`.

No double booking, under any concurrency. A meeting that holds a slot writes one
`MeetingSeat` per side; the database refuses a second seat of one person in one slot, a
second live meeting at one table in one slot and a second live request of one pair.
Placing a meeting takes row locks in one order everywhere — the meeting, then the slot,
then both participants by primary key — re-checks under them, and writes the seats in
a savepoint: a constraint that still fires (a writer that skipped the locks) becomes
"That slot was just taken; please pick another." with nothing written.

Slots, sequence, publication. A PICK-mode request may propose a slot, held (seats and
table written) while it waits; accepting places it there or in another free common slot
and publishes it at once. In SCHEDULER mode accepting leaves it unplaced for the
organiser's scheduler, which places it with `meeting_place`. A meeting that leaves the
live states (declined, withdrawn, expired, cancelled) frees its seats and keeps its slot
and table on the row for history. `sequence` (the calendar entry's SEQUENCE) rises when
a published placement moves, is taken away, or is cancelled; a first placement keeps 0.

Mail goes through `notify` inside the transaction (the outbox sends after commit).
"""

import functools
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from events.models import Event
from events.selectors import user_manages_event
from matchmaking.brokerage import notify, selectors
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingBlock,
    MeetingSeat,
    Participant,
    Slot,
    Table,
)
from members import contact
from members.models import Organisation, Topic, User

Status = Meeting.Status

SLOT_TAKEN = gettext_lazy("That slot was just taken; please pick another.")
# Shown to the requester when the request went out without holding the proposed time
# (`meeting.hold_refused`): the recipient's agenda is full of held and accepted meetings.
SLOT_NOT_HELD = gettext_lazy(
    "%(name)s already has as many meetings and held times as they want, so the time you "
    "proposed is not held for them; you will agree on a time when they answer."
)
# Requests from one person to another on one event, in any state, at most.
MAX_REQUESTS_PER_PAIR = 2
MAX_ITEMS_PER_PARTICIPANT = 30
MAX_TOPICS_PER_ITEM = 10
# Pending requests expire in batches of this many rows (one transaction each).
EXPIRE_BATCH = 200
# Suggestions `item_prefill` makes at most.
MAX_PREFILL = 12


# --- checks ------------------------------------------------------------------------------


def _require_brokerage(event: Event) -> None:
    if event.kind != Event.Kind.BROKERAGE:
        raise ValidationError(_("This event is not a brokerage event."))
    if event.status == Event.Status.CANCELLED:
        raise ValidationError(_("This event is cancelled."))


def _require_not_over(event: Event) -> None:
    if timezone.now() >= event.ends_at:
        raise ValidationError(_("This brokerage day is over."))


def _require_seat(participant: Participant, *, own: bool = True) -> None:
    if not selectors.user_is_participant(event=participant.event, user=participant.user):
        if own:
            raise ValidationError(
                _("Only people registered for this event can take part in its brokerage.")
            )
        raise ValidationError(
            _("%(name)s no longer takes part in this event.")
            % {"name": selectors.participant_name(participant)}
        )


def _settings(event: Event) -> BrokerageSettings:
    """The event's settings read fresh (never an instance cached on the event)."""
    found = BrokerageSettings.objects.filter(event_id=event.pk).first()
    return found or BrokerageSettings(event_id=event.pk)


def _require_open(event: Event) -> BrokerageSettings:
    brokerage = _settings(event)
    if not brokerage.marketplace_open:
        raise ValidationError(
            _("The marketplace of this event is closed: no new offers, requests or meetings.")
        )
    return brokerage


def _require_acting(participant: Participant) -> BrokerageSettings:
    """The person may use the marketplace now: brokerage event, seat, marketplace open."""
    _require_brokerage(participant.event)
    _require_seat(participant)
    return _require_open(participant.event)


def _require_side(meeting: Meeting, participant: Participant, *, side: str) -> None:
    holder = meeting.recipient_id if side == "recipient" else meeting.requester_id
    if participant.pk != holder:
        if side == "recipient":
            raise PermissionDenied(_("Only the person who received this request can answer it."))
        raise PermissionDenied(_("Only the person who sent this request can withdraw it."))


def _require_either_side(meeting: Meeting, participant: Participant) -> None:
    if participant.pk not in (meeting.requester_id, meeting.recipient_id):
        raise PermissionDenied(_("Only the two people meeting can do that."))


# --- locks -------------------------------------------------------------------------------


def _lock_meeting(meeting: Meeting) -> Meeting:
    """The meeting's row, locked, with both sides, its event, slot and table loaded fresh."""
    locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
    fresh = selectors.meetings_with_sides().get(pk=locked.pk)
    return fresh


def _lock_slot(slot: Slot) -> Slot:
    """The slot's row, locked (the first lock of a placement after the meeting's). A slot
    deleted meanwhile (its block reshaped or deleted) is "just taken", never an error."""
    found = Slot.objects.select_for_update().select_related("block").filter(pk=slot.pk).first()
    if found is None:
        raise ValidationError(SLOT_TAKEN)
    return found


def _lock_table(table_id: int) -> Table | None:
    """The table's row, locked after the slot and before the people, so an organiser
    taking it out of use or deleting it (`day_setup`) waits for the placement or makes
    it wait; None when it is gone or out of use."""
    found = Table.objects.select_for_update().filter(pk=table_id).first()
    if found is None or not found.is_active:
        return None
    return found


def _lock_people(*participants: Participant) -> None:
    """Lock the participants' rows in primary key order (one order for every writer), so
    their counts and seats are re-read by one writer at a time. Refreshes `max_meetings`."""
    ids = sorted({p.pk for p in participants})
    rows = {
        row.pk: row
        for row in Participant.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    for participant in participants:
        participant.max_meetings = rows[participant.pk].max_meetings


def _taken_at_commit(function):
    """A placement whose slot or table was deleted under it fails its deferred foreign
    key check at COMMIT: that is "That slot was just taken", not an error page. (The
    row locks make this rare; it is the last net.)"""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except IntegrityError as error:
            raise ValidationError(SLOT_TAKEN) from error

    return wrapper


# --- participants ------------------------------------------------------------------------


def _event_time(event: Event, moment) -> str:
    """A time of day as the event's pages show it: in the event's zone, in the locale's
    TIME_FORMAT, with the zone named ("14:30 (Europe/Vienna)")."""
    zone = zoneinfo.ZoneInfo(event.timezone) if event.timezone else timezone.get_default_timezone()
    local = timezone.localtime(moment, zone)
    return _("%(time)s (%(zone)s)") % {
        "time": formats.time_format(local, "TIME_FORMAT"),
        "zone": str(zone),
    }


def participant_join(*, event: Event, user: User, shown_to_all: bool | None = None) -> Participant:
    """Join the brokerage of `event` (idempotent): the person needs a seat on it.

    The organisation kind comes from the person's organisation, the meeting cap from the
    organiser's default; no blocks chosen means present in every block. `shown_to_all`
    (None: leave as is) is their consent to show their card to every participant."""
    _require_brokerage(event)
    if not selectors.user_is_participant(event=event, user=user):
        raise ValidationError(
            _("Only people registered for this event can take part in its brokerage.")
        )
    existing = Participant.objects.filter(event=event, user=user).first()
    if existing is not None:
        return _set_shown_to_all(existing, shown_to_all)
    profile = getattr(user, "profile", None)
    organisation = profile.organisation if profile is not None else None
    brokerage = _settings(event)
    try:
        with transaction.atomic():
            return Participant.objects.create(
                event=event,
                user=user,
                organisation_kind=organisation.kind if organisation else Organisation.Kind.OTHER,
                max_meetings=brokerage.default_max_meetings,
                shown_to_all=bool(shown_to_all),
            )
    except IntegrityError:
        # Joined at the same moment in another request.
        return _set_shown_to_all(Participant.objects.get(event=event, user=user), shown_to_all)


def _set_shown_to_all(participant: Participant, shown_to_all: bool | None) -> Participant:
    if shown_to_all is None or participant.shown_to_all == shown_to_all:
        return participant
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        locked.shown_to_all = shown_to_all
        locked.save(update_fields=["shown_to_all", "updated_at"])
    return locked


@transaction.atomic
def participant_update(
    *,
    participant: Participant,
    organisation_kind: str,
    headline: str,
    max_meetings: int,
    block_ids: list[int],
    shown_to_all: bool | None = None,
) -> Participant:
    """Change what the marketplace shows of the person, their meeting cap and the blocks
    they attend (none or all: every block, including blocks added later).

    Leaving a block that holds one of their live meetings is refused."""
    _require_brokerage(participant.event)
    _require_seat(participant)
    locked = Participant.objects.select_for_update().get(pk=participant.pk)
    wanted = set(block_ids)
    blocks = list(MeetingBlock.objects.filter(event_id=participant.event_id, pk__in=wanted))
    if len(blocks) != len(wanted):
        raise ValidationError(_("Choose among the meeting blocks of this event."))
    every = set(
        MeetingBlock.objects.filter(event_id=participant.event_id).values_list("pk", flat=True)
    )
    if wanted == every:
        wanted = set()
    if wanted:
        clash = (
            MeetingSeat.objects.filter(
                participant=locked, meeting__status__in=Meeting.LIVE_STATUSES
            )
            .exclude(slot__block_id__in=wanted)
            .select_related("slot")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                _(
                    "You have a meeting at %(time)s in a block you no longer mark; cancel "
                    "or move it first."
                )
                % {"time": _event_time(participant.event, clash.slot.starts_at)}
            )
    locked.organisation_kind = organisation_kind
    locked.headline = (headline or "").strip()
    locked.max_meetings = max_meetings
    fields = ["organisation_kind", "headline", "max_meetings", "updated_at"]
    if shown_to_all is not None:
        locked.shown_to_all = shown_to_all
        fields.append("shown_to_all")
    locked.full_clean(exclude=["event", "user"], validate_unique=False, validate_constraints=False)
    locked.save(update_fields=fields)
    locked.blocks.set(wanted)
    return locked


def item_prefill(*, participant: Participant) -> list[dict]:
    """Offers and requests the person may publish, from their profile: an offer per
    field of expertise, a request per interest, leaving out topics their items of that
    direction already name. Each: direction, type, title, description, topic_ids."""
    profile = getattr(participant.user, "profile", None)
    if profile is None:
        return []
    covered: dict[str, set[int]] = {MarketItem.Direction.OFFER: set(), "request": set()}
    for direction, topic_id in MarketItem.topics.through.objects.filter(
        marketitem__participant=participant
    ).values_list("marketitem__direction", "topic_id"):
        covered.setdefault(direction, set()).add(topic_id)
    suggestions = []
    for topic in profile.expertise.order_by("name"):
        if topic.pk not in covered[MarketItem.Direction.OFFER]:
            suggestions.append(
                {
                    "direction": MarketItem.Direction.OFFER,
                    "type": MarketItem.Type.EXPERTISE,
                    "title": _("Expertise in %(topic)s") % {"topic": topic.name},
                    "description": "",
                    "topic_ids": [topic.pk],
                }
            )
    for topic in profile.interests.order_by("name"):
        if topic.pk not in covered[MarketItem.Direction.REQUEST]:
            suggestions.append(
                {
                    "direction": MarketItem.Direction.REQUEST,
                    "type": MarketItem.Type.COOPERATION,
                    "title": _("Partners in %(topic)s") % {"topic": topic.name},
                    "description": "",
                    "topic_ids": [topic.pk],
                }
            )
    return suggestions[:MAX_PREFILL]


# --- offers and requests -----------------------------------------------------------------


def _topics(topic_ids) -> list[Topic]:
    wanted = {int(pk) for pk in topic_ids or ()}
    if len(wanted) > MAX_TOPICS_PER_ITEM:
        raise ValidationError(_("Choose at most %(n)d topics.") % {"n": MAX_TOPICS_PER_ITEM})
    topics = list(Topic.objects.filter(pk__in=wanted))
    if len(topics) != len(wanted):
        raise ValidationError(_("Choose among the listed topics."))
    return topics


@transaction.atomic
def item_create(
    *,
    participant: Participant,
    direction: str,
    type: str,  # noqa: A002 - the model's field name
    title: str,
    description: str = "",
    topic_ids=(),
) -> MarketItem:
    """Publish an offer or a request in the event's marketplace."""
    _require_acting(participant)
    Participant.objects.select_for_update().filter(pk=participant.pk).first()
    if MarketItem.objects.filter(participant=participant).count() >= MAX_ITEMS_PER_PARTICIPANT:
        raise ValidationError(
            _("You can publish at most %(n)d offers and requests.")
            % {"n": MAX_ITEMS_PER_PARTICIPANT}
        )
    topics = _topics(topic_ids)
    item = MarketItem(
        participant=participant,
        direction=direction,
        type=type,
        title=(title or "").strip(),
        description=(description or "").strip(),
    )
    item.full_clean()
    item.save()
    item.topics.set(topics)
    return item


@transaction.atomic
def item_update(
    *,
    item: MarketItem,
    direction: str | None = None,
    type: str | None = None,  # noqa: A002 - the model's field name
    title: str | None = None,
    description: str | None = None,
    topic_ids=None,
) -> MarketItem:
    """Change an offer or request; arguments left out (None) stay as they are."""
    _require_acting(item.participant)
    changes = {"direction": direction, "type": type, "title": title, "description": description}
    fields = []
    for name, value in changes.items():
        if value is not None:
            setattr(item, name, value.strip() if name in ("title", "description") else value)
            fields.append(name)
    topics = _topics(topic_ids) if topic_ids is not None else None
    item.full_clean()
    item.save(update_fields=[*fields, "updated_at"])
    if topics is not None:
        item.topics.set(topics)
    return item


@transaction.atomic
def item_delete(*, item: MarketItem) -> None:
    """Take an offer or request out of the marketplace (also while it is closed)."""
    item.delete()


# --- placing a meeting -------------------------------------------------------------------


def _check_slot_usable(*, slot: Slot, a: Participant, b: Participant) -> None:
    """`slot` can take a meeting of `a` and `b` at all: of the event, not a break, in
    both people's blocks."""
    if slot.event_id != a.event_id:
        raise ValidationError(_("Choose one of the meeting times of this event."))
    if slot.is_break:
        raise ValidationError(_("This time is a break; please pick another."))
    for side in (a, b):
        blocks = set(side.blocks.values_list("pk", flat=True))
        if blocks and slot.block_id not in blocks:
            raise ValidationError(
                _("%(name)s is not at the meetings at that time; please pick another.")
                % {"name": selectors.participant_name(side)}
            )


def _check_slot(*, meeting: Meeting | None, slot: Slot, a: Participant, b: Participant) -> None:
    """Under the locks: `slot` can take a meeting of `a` and `b` (other than `meeting`'s
    own seats): usable, and neither seated there by a meeting that holds its seats (a
    request past its deadline does not)."""
    _check_slot_usable(slot=slot, a=a, b=b)
    seats = MeetingSeat.objects.filter(slot=slot, participant__in=[a.pk, b.pk]).exclude(
        meeting__status=Status.PENDING, meeting__expires_at__lte=timezone.now()
    )
    if meeting is not None:
        seats = seats.exclude(meeting=meeting)
    if seats.exists():
        raise ValidationError(SLOT_TAKEN)


def _expire_stale_in(*, slot: Slot) -> None:
    """Under the slot's lock: requests past their deadline that still hold seats or a
    table in `slot` expire now (as the sweep would), so their time is free at once. Rows
    another writer holds are skipped; their seats are left out of the checks anyway."""
    now = timezone.now()
    ids = list(
        Meeting.objects.select_for_update(skip_locked=True)
        .filter(slot=slot, status=Status.PENDING, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        _expire(ids, now=now)


def _table_for(*, meeting: Meeting | None, slot: Slot, table: Table | None) -> Table:
    """The table the meeting gets in `slot`: the one asked for if free, the one it holds
    there already, or the first free table in use (by position). Under the slot's lock
    (which keeps other placements out of the slot); the table's row is locked and read
    again, so one taken out of use or deleted meanwhile is not used."""
    free = selectors.free_tables(slot=slot, exclude=meeting)
    if table is not None:
        if table.event_id != slot.event_id:
            raise ValidationError(_("Choose one of the tables of this event."))
        if not free.filter(pk=table.pk).exists():
            if not Table.objects.filter(pk=table.pk, is_active=True).exists():
                raise ValidationError(_("Choose one of the tables of this event."))
            raise ValidationError(_("That table is taken at that time; please pick another."))
        locked = _lock_table(table.pk)
        if locked is None:
            raise ValidationError(_("Choose one of the tables of this event."))
        return locked
    candidates = list(free.order_by("position", "pk").values_list("pk", flat=True))
    if meeting is not None and meeting.slot_id == slot.pk and meeting.table_id in candidates:
        candidates.remove(meeting.table_id)
        candidates.insert(0, meeting.table_id)
    for table_id in candidates:
        locked = _lock_table(table_id)
        if locked is not None:
            return locked
    raise ValidationError(SLOT_TAKEN)


def _lock_place(
    *, meeting: Meeting | None, slot: Slot, a: Participant, b: Participant, table=None
) -> tuple[Slot, Table]:
    """Lock a placement's rows in the one order every writer uses — the slot, then the
    table, then both people by primary key — and check the slot under them. (The
    meeting's own row, when there is one, is locked first by the caller.)"""
    slot = _lock_slot(slot)
    _check_slot_usable(slot=slot, a=a, b=b)
    _expire_stale_in(slot=slot)
    table = _table_for(meeting=meeting, slot=slot, table=table)
    _lock_people(a, b)
    _check_slot(meeting=meeting, slot=slot, a=a, b=b)
    return slot, table


def _write_placement(*, meeting: Meeting, fields: dict) -> None:
    """Save `fields` (slot and table among them) and the seats of both sides for the
    meeting's slot, in a savepoint: a constraint that fires leaves nothing written."""
    try:
        with transaction.atomic():
            MeetingSeat.objects.filter(meeting=meeting).delete()
            for name, value in fields.items():
                setattr(meeting, name, value)
            meeting.save(update_fields=[*fields, "updated_at"])
            if meeting.slot_id is not None and meeting.status in Meeting.LIVE_STATUSES:
                MeetingSeat.objects.bulk_create(
                    [
                        MeetingSeat(meeting=meeting, participant_id=pid, slot_id=meeting.slot_id)
                        for pid in (meeting.requester_id, meeting.recipient_id)
                    ]
                )
    except IntegrityError as error:
        raise ValidationError(SLOT_TAKEN) from error


def _free_seats(meeting: Meeting) -> None:
    MeetingSeat.objects.filter(meeting=meeting).delete()


def _check_caps(*, meeting: Meeting | None, requester: Participant, recipient: Participant):
    """Under the people's locks: neither side goes over their `max_meetings`."""
    mine = selectors.commitments_of(participant=recipient, exclude=meeting)
    if mine >= recipient.max_meetings:
        raise ValidationError(
            _(
                "You have reached the number of meetings you want (%(n)d). Raise it in "
                "your settings, or withdraw or cancel another meeting first."
            )
            % {"n": recipient.max_meetings}
        )
    theirs = Meeting.objects.filter(
        Q(requester=requester) | Q(recipient=requester), status=Status.ACCEPTED
    )
    if meeting is not None:
        theirs = theirs.exclude(pk=meeting.pk)
    if theirs.count() >= requester.max_meetings:
        raise ValidationError(
            _("%(name)s cannot take more meetings.")
            % {"name": selectors.participant_name(requester)}
        )


# --- meeting requests --------------------------------------------------------------------


@_taken_at_commit
def meeting_request(
    *,
    event: Event,
    requester: Participant,
    recipient: Participant,
    message: str,
    slot: Slot | None = None,
) -> Meeting:
    """Ask another participant for a meeting, with a message; it waits for an answer
    until `request_expiry_hours` have passed. In PICK mode a `slot` free for both may be
    proposed: it is held (seats and a table) while the request waits."""
    with transaction.atomic():
        if requester.event_id != event.pk or recipient.event_id != event.pk:
            raise ValidationError(_("Both people must take part in this event."))
        brokerage = _require_acting(requester)
        _require_not_over(event)
        if requester.pk == recipient.pk:
            raise ValidationError(_("You cannot ask yourself for a meeting."))
        _require_seat(recipient, own=False)
        if slot is not None and brokerage.scheduling != BrokerageSettings.Scheduling.PICK:
            raise ValidationError(
                _("The organisers schedule the meetings of this event; no time is picked.")
            )
        profile = getattr(recipient.user, "profile", None)
        hidden = profile is not None and profile.visibility == profile.Visibility.HIDDEN
        if hidden and not Meeting.objects.filter(requester=recipient, recipient=requester).exists():
            raise ValidationError(_("This person cannot be asked for a meeting."))
        table = None
        if slot is not None:
            if slot.starts_at <= timezone.now():
                raise ValidationError(_("That time has passed; please pick another."))
            slot, table = _lock_place(meeting=None, slot=slot, a=requester, b=recipient)
        else:
            _lock_people(requester, recipient)
        # Under the requester's row lock from here: parallel posts are counted one by one.
        _check_may_ask(event=event, requester=requester, recipient=recipient)
        if selectors.commitments_of(participant=requester) >= requester.max_meetings:
            raise ValidationError(
                _(
                    "You have reached the number of meetings you want (%(n)d). Raise it in "
                    "your settings, or withdraw a request first."
                )
                % {"n": requester.max_meetings}
            )
        hold_refused = slot is not None and not _may_hold(recipient)
        if hold_refused:
            slot = table = None
        meeting = Meeting(
            event=event,
            requester=requester,
            recipient=recipient,
            message=(message or "").strip(),
            expires_at=timezone.now() + timedelta(hours=brokerage.request_expiry_hours),
        )
        meeting.full_clean(
            exclude=["event", "requester", "recipient", "slot", "table"], validate_constraints=False
        )
        try:
            with transaction.atomic():
                meeting.save()
        except IntegrityError as error:
            raise ValidationError(
                _("There is already an open request or meeting between you and %(name)s.")
                % {"name": selectors.participant_name(recipient)}
            ) from error
        if slot is not None:
            _write_placement(meeting=meeting, fields={"slot": slot, "table": table})
        notify.meeting_requested(meeting=meeting)
        meeting.hold_refused = hold_refused
        return meeting


def _check_may_ask(*, event: Event, requester: Participant, recipient: Participant) -> None:
    """Under both people's row locks: a request is not a mail channel. Refused when the
    pair already has a live request or meeting, when the recipient declined this person
    before on this event, after `MAX_REQUESTS_PER_PAIR` requests to them, when the
    recipient blocked (reported) the requester or an organiser suspended the requester's
    messages, and beyond `BROKERAGE_REQUESTS_PER_HOUR` requests of the requester."""
    name = selectors.participant_name(recipient)
    if selectors.live_meeting_between(a=requester, b=recipient) is not None:
        raise ValidationError(
            _("There is already an open request or meeting between you and %(name)s.")
            % {"name": name}
        )
    earlier = Meeting.objects.filter(event=event, requester=requester, recipient=recipient)
    if earlier.filter(status=Status.DECLINED).exists():
        raise ValidationError(
            _("%(name)s declined your earlier request; you cannot ask them again.")
            % {"name": name},
            code="declined_before",
        )
    if earlier.count() >= MAX_REQUESTS_PER_PAIR:
        raise ValidationError(
            _("You have already asked %(name)s %(n)d times; you cannot ask them again.")
            % {"name": name, "n": MAX_REQUESTS_PER_PAIR},
            code="asked_enough",
        )
    if contact.is_suspended(user=requester.user):
        raise ValidationError(
            _(
                "An organiser has suspended your messages to other members, so you cannot "
                "send meeting requests. Contact the organisers if you think this is a "
                "mistake."
            ),
            code="suspended",
        )
    if contact.is_blocked(sender=requester.user, recipient=recipient.user):
        # The same words as for a hidden profile: nobody is told they were reported.
        raise ValidationError(_("This person cannot be asked for a meeting."), code="blocked")
    per_hour = requests_per_hour()
    since = timezone.now() - timedelta(hours=1)
    if Meeting.objects.filter(requester=requester, created_at__gte=since).count() >= per_hour:
        raise ValidationError(
            _("You have sent %(n)d requests in the last hour; please wait before sending more.")
            % {"n": per_hour},
            code="rate_limited",
        )


def requests_per_hour() -> int:
    """How many meeting requests one person may send per hour on one event."""
    return getattr(settings, "BROKERAGE_REQUESTS_PER_HOUR", 20)


def _may_hold(recipient: Participant) -> bool:
    """Under the recipient's row lock: a new request may hold one of their slots only
    while their held requests and accepted meetings stay under their `max_meetings`, so
    unsolicited requests cannot fill their time."""
    now = timezone.now()
    held = MeetingSeat.objects.filter(
        participant=recipient, meeting__status=Status.PENDING, meeting__expires_at__gt=now
    ).count()
    accepted = Meeting.objects.filter(
        Q(requester=recipient) | Q(recipient=recipient), status=Status.ACCEPTED
    ).count()
    return held + accepted < recipient.max_meetings


@_taken_at_commit
def meeting_accept(*, meeting: Meeting, by: Participant, slot: Slot | None = None) -> Meeting:
    """The recipient accepts. In PICK mode the meeting goes into `slot`, or the slot the
    request holds, with a free table, published at once; when the two have no free time
    in common left it is accepted unplaced (the organisers may place it). In SCHEDULER
    mode it waits for the organiser's scheduler."""
    with transaction.atomic():
        meeting = _lock_meeting(meeting)
        _require_side(meeting, by, side="recipient")
        if meeting.status != Status.PENDING:
            raise ValidationError(_("This request is no longer waiting for an answer."))
        now = timezone.now()
        if meeting.expires_at is not None and meeting.expires_at <= now:
            raise ValidationError(_("This request has expired."))
        event = meeting.event
        _require_brokerage(event)
        _require_not_over(event)
        requester, recipient = meeting.requester, meeting.recipient
        _require_seat(recipient)
        _require_seat(requester, own=False)
        brokerage = _settings(event)
        fields = {"status": Status.ACCEPTED, "answered_at": now}
        if brokerage.scheduling == BrokerageSettings.Scheduling.PICK:
            target = slot or meeting.slot
            if target is None and selectors.free_common_slots(a=requester, b=recipient):
                raise ValidationError(_("Please pick a time for the meeting."))
        else:
            if slot is not None:
                raise ValidationError(
                    _("The organisers schedule the meetings of this event; no time is picked.")
                )
            target = None
        if target is not None:
            if target.starts_at <= now:
                raise ValidationError(_("That time has passed; please pick another."))
            target, table = _lock_place(meeting=meeting, slot=target, a=requester, b=recipient)
            fields |= {"slot": target, "table": table, "published_at": now}
        else:
            _lock_people(requester, recipient)
            fields |= {"slot": None, "table": None}
        _check_caps(meeting=meeting, requester=requester, recipient=recipient)
        _write_placement(meeting=meeting, fields=fields)
        notify.meeting_accepted(meeting=meeting)
        return meeting


def _end(meeting: Meeting, status: str, *, answered: bool = False) -> list[str]:
    """Move a live meeting to an ended `status`, freeing its seats (slot and table stay
    on the row). Returns the saved fields."""
    _free_seats(meeting)
    meeting.status = status
    fields = ["status", "updated_at"]
    if answered:
        meeting.answered_at = timezone.now()
        fields.append("answered_at")
    return fields


def meeting_decline(*, meeting: Meeting, by: Participant) -> Meeting:
    """The recipient says no; the requester is told, the held slot is free again."""
    with transaction.atomic():
        meeting = _lock_meeting(meeting)
        _require_side(meeting, by, side="recipient")
        _require_seat(meeting.recipient)
        if meeting.status != Status.PENDING:
            raise ValidationError(_("This request is no longer waiting for an answer."))
        meeting.save(update_fields=_end(meeting, Status.DECLINED, answered=True))
        notify.meeting_declined(meeting=meeting)
        return meeting


def meeting_withdraw(*, meeting: Meeting, by: Participant) -> Meeting:
    """The requester takes back a request still waiting for an answer."""
    with transaction.atomic():
        meeting = _lock_meeting(meeting)
        _require_side(meeting, by, side="requester")
        if meeting.status != Status.PENDING:
            raise ValidationError(
                _("This request was already answered; cancel the meeting instead.")
            )
        meeting.save(update_fields=_end(meeting, Status.WITHDRAWN))
        notify.meeting_withdrawn(meeting=meeting)
        return meeting


def meeting_cancel(*, meeting: Meeting, by: User) -> Meeting:
    """Either side cancels an accepted meeting, or an organiser of the event cancels a
    live one. A published placement gets SEQUENCE+1 and a CANCEL to both calendars."""
    with transaction.atomic():
        meeting = _lock_meeting(meeting)
        sides = (meeting.requester.user_id, meeting.recipient.user_id)
        organiser = by.pk not in sides and user_manages_event(user=by, event=meeting.event)
        if by.pk not in sides and not organiser:
            raise PermissionDenied(_("Only the two people meeting or the organisers can do that."))
        if not organiser:
            side = meeting.requester if by.pk == sides[0] else meeting.recipient
            _require_seat(side)
        if meeting.status not in Meeting.LIVE_STATUSES or (
            meeting.status == Status.PENDING and not organiser
        ):
            raise ValidationError(_("Only an accepted meeting can be cancelled."))
        if meeting.slot_id is not None and meeting.slot.ends_at <= timezone.now():
            raise ValidationError(_("This meeting is already over."))
        fields = _end(meeting, Status.CANCELLED)
        if meeting.published_at is not None and meeting.slot_id is not None:
            meeting.sequence += 1
            fields.append("sequence")
        meeting.save(update_fields=fields)
        notify.meeting_cancelled(meeting=meeting, by=by)
        return meeting


def meetings_expire(*, now=None) -> int:
    """Requests still waiting at their `expires_at` expire: their held slots are freed
    and both people are told. Idempotent; batches of `EXPIRE_BATCH` rows, each in its
    own transaction, rows locked by another worker skipped. Returns how many expired."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Meeting.objects.select_for_update(skip_locked=True)
                .filter(status=Status.PENDING, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:EXPIRE_BATCH]
            )
            if not ids:
                return total
            _expire(ids, now=now)
            total += len(ids)


def _expire(ids: list[int], *, now) -> None:
    """Under the meetings' row locks: these pending requests expire, their seats are
    freed and both people are told."""
    MeetingSeat.objects.filter(meeting_id__in=ids).delete()
    Meeting.objects.filter(pk__in=ids).update(status=Status.EXPIRED, updated_at=now)
    for meeting in selectors.meetings_with_sides().filter(pk__in=ids).order_by("pk"):
        notify.meeting_expired(meeting=meeting)


def participants_without_seat_release(*, now=None) -> int:
    """End the live meetings of people who no longer have a seat on the event (their
    registration cancelled, or their account deactivated), while the day is not over:
    a request they sent is withdrawn, one they received is declined, an accepted meeting
    is cancelled (seats and table freed; a published one gets SEQUENCE+1 and the partner
    the CANCEL, as when they cancel it themselves). Idempotent; one transaction per
    meeting, rows another writer holds are left for the next run. How many ended.

    `events` knows nothing of brokerage, so this runs from the beat (every five minutes);
    until then every action of theirs is refused (`_require_seat`)."""
    now = now or timezone.now()
    ids = list(
        Meeting.objects.filter(selectors.LIVE, event__ends_at__gt=now)
        .filter(selectors.seat_lost())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    total = 0
    for pk in ids:
        with transaction.atomic():
            if not Meeting.objects.select_for_update(skip_locked=True).filter(pk=pk).exists():
                continue
            meeting = selectors.meetings_with_sides().get(pk=pk)
            if meeting.status not in Meeting.LIVE_STATUSES:
                continue
            seated = {
                side.pk: selectors.user_is_participant(event=meeting.event, user=side.user)
                for side in (meeting.requester, meeting.recipient)
            }
            if all(seated.values()):
                continue
            leaver = meeting.requester if not seated[meeting.requester_id] else meeting.recipient
            total += _end_for_leaver(meeting, leaver=leaver, now=now)
    return total


def participant_leave(*, participant: Participant, now=None) -> int:
    """End the person's live meetings of a day not over yet, whatever their seat (their
    account is being erased, or they leave): as `participants_without_seat_release`
    does. How many ended."""
    now = now or timezone.now()
    with transaction.atomic():
        meetings = list(
            Meeting.objects.select_for_update()
            .filter(Q(requester=participant) | Q(recipient=participant))
            .filter(selectors.LIVE, event__ends_at__gt=now)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        total = 0
        for meeting in selectors.meetings_with_sides().filter(pk__in=meetings).order_by("pk"):
            leaver = meeting.requester if meeting.requester_id == participant.pk else None
            total += _end_for_leaver(meeting, leaver=leaver or meeting.recipient, now=now)
        return total


def _end_for_leaver(meeting: Meeting, *, leaver: Participant, now) -> int:
    """Under the meeting's lock: `leaver` is gone. Their request is withdrawn, one sent to
    them declined, an accepted meeting ahead cancelled (SEQUENCE+1 when published; the
    partner gets the CANCEL). 1 when it ended, 0 when it stays (a meeting already over)."""
    if meeting.status == Status.PENDING:
        if leaver.pk == meeting.requester_id:
            meeting.save(update_fields=_end(meeting, Status.WITHDRAWN))
            notify.meeting_withdrawn(meeting=meeting)
        else:
            meeting.save(update_fields=_end(meeting, Status.DECLINED, answered=True))
            notify.meeting_declined(meeting=meeting)
        return 1
    if meeting.slot_id is not None and meeting.slot.ends_at <= now:
        return 0  # it took place (or not) before they left: history
    fields = _end(meeting, Status.CANCELLED)
    if meeting.published_at is not None and meeting.slot_id is not None:
        meeting.sequence += 1
        fields.append("sequence")
    meeting.save(update_fields=fields)
    notify.meeting_cancelled(meeting=meeting, by=leaver.user)
    return 1


# --- organisers: placement and check-in ---------------------------------------------------


@_taken_at_commit
def meeting_place(
    *, meeting: Meeting, slot: Slot | None, table: Table | None = None, mail: bool = True
) -> Meeting:
    """Place an accepted meeting in `slot` at `table` (None: the first free table), or
    take it out of its slot (`slot=None`); the placement is published.

    Used by the organisers moving a meeting and by the scheduler's publish. The same
    locks and checks as accepting (presence, no double booking, table free), except
    that a slot in the past is allowed. Moving or un-placing a published meeting raises
    its SEQUENCE; a first placement keeps it. With `mail` (default) both people get the
    calendar change (`notify.meetings_changed`; calling that again is a no-op). To swap
    two meetings of one person, take one out first."""
    with transaction.atomic():
        meeting = _lock_meeting(meeting)
        if meeting.status != Status.ACCEPTED:
            raise ValidationError(_("Only an accepted meeting can be placed."))
        if slot is None:
            if table is not None:
                raise ValidationError(_("A table needs a time."))
            if meeting.slot_id is None:
                return meeting
            fields = {"slot": None, "table": None}
            if meeting.published_at is not None:
                fields["sequence"] = meeting.sequence + 1
            _write_placement(meeting=meeting, fields=fields)
        else:
            if slot.event_id != meeting.event_id:
                raise ValidationError(_("Choose one of the meeting times of this event."))
            slot, table = _lock_place(
                meeting=meeting, slot=slot, a=meeting.requester, b=meeting.recipient, table=table
            )
            if (
                meeting.slot_id == slot.pk
                and meeting.table_id == table.pk
                and meeting.published_at is not None
            ):
                return meeting
            fields = {"slot": slot, "table": table, "published_at": timezone.now()}
            moved = meeting.slot_id is not None and (
                meeting.slot_id != slot.pk or meeting.table_id != table.pk
            )
            if meeting.published_at is not None and (moved or meeting.slot_id is None):
                fields["sequence"] = meeting.sequence + 1
            _write_placement(meeting=meeting, fields=fields)
        if mail:
            notify.meetings_changed(meeting_ids=[meeting.pk])
        return meeting


@transaction.atomic
def meeting_check_in(*, meeting: Meeting, by: User) -> Meeting:
    """An organiser marks the meeting as started (both came to the table). Idempotent."""
    meeting = _lock_meeting(meeting)
    if not user_manages_event(user=by, event=meeting.event):
        raise PermissionDenied(_("Only organisers of this event can check meetings in."))
    if not meeting.is_scheduled:
        raise ValidationError(_("Only a scheduled meeting can be checked in."))
    if meeting.checked_in_at is None:
        meeting.checked_in_at = timezone.now()
        meeting.save(update_fields=["checked_in_at", "updated_at"])
    return meeting


@transaction.atomic
def meeting_feedback(
    *, meeting: Meeting, by: Participant, held: bool, follow_up: bool | None
) -> Meeting:
    """One side says, after the meeting, whether it took place and whether it may lead
    to cooperation (no follow-up for a meeting that did not take place)."""
    meeting = _lock_meeting(meeting)
    _require_either_side(meeting, by)
    _require_seat(meeting.requester if by.pk == meeting.requester_id else meeting.recipient)
    if meeting.status != Status.ACCEPTED:
        raise ValidationError(_("Only an accepted meeting can get feedback."))
    over = meeting.slot.ends_at if meeting.slot_id else meeting.event.ends_at
    if timezone.now() < over:
        raise ValidationError(_("You can say how the meeting went once it is over."))
    side = "requester" if by.pk == meeting.requester_id else "recipient"
    setattr(meeting, f"{side}_held", bool(held))
    setattr(meeting, f"{side}_follow_up", follow_up if held else None)
    meeting.save(update_fields=[f"{side}_held", f"{side}_follow_up", "updated_at"])
    return meeting
