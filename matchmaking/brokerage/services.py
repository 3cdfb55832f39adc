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

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
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
from members.models import Organisation, Topic, User

Status = Meeting.Status

SLOT_TAKEN = gettext_lazy("That slot was just taken; please pick another.")
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
    return Slot.objects.select_for_update().select_related("block").get(pk=slot.pk)


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


# --- participants ------------------------------------------------------------------------


def participant_join(*, event: Event, user: User) -> Participant:
    """Join the brokerage of `event` (idempotent): the person needs a seat on it.

    The organisation kind comes from the person's organisation, the meeting cap from the
    organiser's default; no blocks chosen means present in every block."""
    _require_brokerage(event)
    if not selectors.user_is_participant(event=event, user=user):
        raise ValidationError(
            _("Only people registered for this event can take part in its brokerage.")
        )
    existing = Participant.objects.filter(event=event, user=user).first()
    if existing is not None:
        return existing
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
            )
    except IntegrityError:
        # Joined at the same moment in another request.
        return Participant.objects.get(event=event, user=user)


@transaction.atomic
def participant_update(
    *,
    participant: Participant,
    organisation_kind: str,
    headline: str,
    max_meetings: int,
    block_ids: list[int],
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
                % {"time": timezone.localtime(clash.slot.starts_at).strftime("%H:%M")}
            )
    locked.organisation_kind = organisation_kind
    locked.headline = (headline or "").strip()
    locked.max_meetings = max_meetings
    locked.full_clean(exclude=["event", "user"], validate_unique=False, validate_constraints=False)
    locked.save(update_fields=["organisation_kind", "headline", "max_meetings", "updated_at"])
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


def _check_slot(*, meeting: Meeting | None, slot: Slot, a: Participant, b: Participant) -> None:
    """Under the locks: `slot` can take a meeting of `a` and `b` (other than `meeting`'s
    own seats): of the event, not a break, in both people's blocks, neither seated there."""
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
    seats = MeetingSeat.objects.filter(slot=slot, participant__in=[a.pk, b.pk])
    if meeting is not None:
        seats = seats.exclude(meeting=meeting)
    if seats.exists():
        raise ValidationError(SLOT_TAKEN)


def _table_for(*, meeting: Meeting | None, slot: Slot, table: Table | None) -> Table:
    """The table the meeting gets in `slot`: the one asked for if free, the one it holds
    there already, or the first free table in use (by position)."""
    free = selectors.free_tables(slot=slot, exclude=meeting)
    if table is not None:
        if table.event_id != slot.event_id or not table.is_active:
            raise ValidationError(_("Choose one of the tables of this event."))
        if not free.filter(pk=table.pk).exists():
            raise ValidationError(_("That table is taken at that time; please pick another."))
        return table
    if meeting is not None and meeting.slot_id == slot.pk and meeting.table_id:
        held = free.filter(pk=meeting.table_id).first()
        if held is not None:
            return held
    found = free.order_by("position", "pk").first()
    if found is None:
        raise ValidationError(SLOT_TAKEN)
    return found


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
        if slot is not None:
            slot = _lock_slot(slot)
        _lock_people(requester, recipient)
        if selectors.live_meeting_between(a=requester, b=recipient) is not None:
            raise ValidationError(
                _("There is already an open request or meeting between you and %(name)s.")
                % {"name": selectors.participant_name(recipient)}
            )
        if selectors.commitments_of(participant=requester) >= requester.max_meetings:
            raise ValidationError(
                _(
                    "You have reached the number of meetings you want (%(n)d). Raise it in "
                    "your settings, or withdraw a request first."
                )
                % {"n": requester.max_meetings}
            )
        table = None
        if slot is not None:
            if slot.starts_at <= timezone.now():
                raise ValidationError(_("That time has passed; please pick another."))
            _check_slot(meeting=None, slot=slot, a=requester, b=recipient)
            table = _table_for(meeting=None, slot=slot, table=None)
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
        return meeting


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
            target = _lock_slot(target)
        _lock_people(requester, recipient)
        _check_caps(meeting=meeting, requester=requester, recipient=recipient)
        if target is not None:
            if target.starts_at <= now:
                raise ValidationError(_("That time has passed; please pick another."))
            _check_slot(meeting=meeting, slot=target, a=requester, b=recipient)
            table = _table_for(meeting=meeting, slot=target, table=None)
            fields |= {"slot": target, "table": table, "published_at": now}
        else:
            fields |= {"slot": None, "table": None}
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
            MeetingSeat.objects.filter(meeting_id__in=ids).delete()
            Meeting.objects.filter(pk__in=ids).update(status=Status.EXPIRED, updated_at=now)
            for meeting in selectors.meetings_with_sides().filter(pk__in=ids).order_by("pk"):
                notify.meeting_expired(meeting=meeting)
            total += len(ids)


# --- organisers: placement and check-in ---------------------------------------------------


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
            slot = _lock_slot(slot)
            _lock_people(meeting.requester, meeting.recipient)
            _check_slot(meeting=meeting, slot=slot, a=meeting.requester, b=meeting.recipient)
            table = _table_for(meeting=meeting, slot=slot, table=table)
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
