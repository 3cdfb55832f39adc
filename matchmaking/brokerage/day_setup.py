"""What an organiser sets up for a brokerage day: its settings, the meeting blocks (and
the slots they are cut into) and the tables or online rooms.

Every write here is a service: keyword-only, in one transaction, validated before
anything is written, so a refused change leaves nothing half-done. Times come in aware
(forms turn the event's wall-clock times into UTC) and are stored in UTC.

The rules that protect meetings already placed:
- a block's times, slot length or gap may change only when no live meeting (waiting for
  an answer or accepted) sits in a slot the change would remove or reshape; slots that
  stay exactly as they were keep their meetings and their break marks, so lengthening a
  block at its end is always possible;
- a block is deleted, a slot made a break, a table deleted or taken out of use only
  while no live meeting is placed there;
- meetings that ended without taking place (declined, expired, withdrawn, cancelled)
  never block a change: their old slot and table are cleared with it.
The slot rows of a change are locked first, so a meeting being placed at the same
moment either lands before the check (and is seen) or waits and fails cleanly.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from events.models import Event
from matchmaking.brokerage.models import (
    BrokerageSettings,
    Meeting,
    MeetingBlock,
    Slot,
    Table,
)

SETTINGS_FIELDS = ("scheduling", "request_expiry_hours", "default_max_meetings", "marketplace_open")
MAX_NUMBERED_TABLES = 500
MAX_SLOTS_PER_BLOCK = 200
LIVE = Q(status__in=Meeting.LIVE_STATUSES)


def _require_brokerage(event: Event) -> None:
    if event.kind != Event.Kind.BROKERAGE:
        raise ValidationError(_("Only a networking / brokerage event has meeting blocks."))


def _lock_event(event: Event) -> None:
    """Serialises the setup changes of one event (block overlap, table numbering)."""
    Event.objects.select_for_update().filter(pk=event.pk).first()


# --- settings --------------------------------------------------------------------------


def brokerage_settings_for(*, event: Event) -> BrokerageSettings:
    """The event's brokerage settings, created with the defaults on first use."""
    found = BrokerageSettings.objects.filter(event=event).first()
    if found is not None:
        return found
    settings, _created = BrokerageSettings.objects.get_or_create(event=event)
    return settings


@transaction.atomic
def brokerage_settings_update(*, event: Event, **fields) -> BrokerageSettings:
    """Change any of scheduling, request_expiry_hours, default_max_meetings and
    marketplace_open."""
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Not a brokerage setting: {', '.join(sorted(unknown))}")
    _require_brokerage(event)
    brokerage_settings_for(event=event)
    settings = BrokerageSettings.objects.select_for_update().get(event=event)
    changed = [name for name, value in fields.items() if getattr(settings, name) != value]
    for name in changed:
        setattr(settings, name, fields[name])
    if changed:
        settings.full_clean(exclude=["event", "schedule_published_at"])
        settings.save(update_fields=[*changed, "updated_at"])
    return settings


# --- blocks and slots ------------------------------------------------------------------


def slot_times(
    *, starts_at: datetime, ends_at: datetime, slot_minutes: int, gap_minutes: int
) -> list[tuple[datetime, datetime]]:
    """The slots of a block: `slot_minutes` long, `gap_minutes` apart, the last one ending
    by `ends_at`."""
    length, gap = timedelta(minutes=slot_minutes), timedelta(minutes=gap_minutes)
    out = []
    start = starts_at
    while start + length <= ends_at and len(out) <= MAX_SLOTS_PER_BLOCK:
        out.append((start, start + length))
        start += length + gap
    return out


def _validate_block(
    *,
    event: Event,
    block: MeetingBlock | None,
    starts_at: datetime,
    ends_at: datetime,
    slot_minutes: int,
    gap_minutes: int,
) -> list[tuple[datetime, datetime]]:
    for value in (starts_at, ends_at):
        if value is None or value.tzinfo is None:
            raise ValidationError(_("Enter the start and end of the block."))
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("The block must end after it starts.")})
    if not 5 <= slot_minutes <= 120:
        raise ValidationError({"slot_minutes": _("A slot lasts from 5 to 120 minutes.")})
    if not 0 <= gap_minutes <= 60:
        raise ValidationError({"gap_minutes": _("The break between slots is 0 to 60 minutes.")})
    if starts_at < event.starts_at or ends_at > event.ends_at:
        raise ValidationError(_("A meeting block must lie within the event's own start and end."))
    times = slot_times(
        starts_at=starts_at, ends_at=ends_at, slot_minutes=slot_minutes, gap_minutes=gap_minutes
    )
    if not times:
        raise ValidationError(
            {"slot_minutes": _("Not one slot of this length fits between the start and end.")}
        )
    if len(times) > MAX_SLOTS_PER_BLOCK:
        raise ValidationError(
            _("A block holds at most %(n)s slots; make the slots longer or the block shorter.")
            % {"n": MAX_SLOTS_PER_BLOCK}
        )
    others = MeetingBlock.objects.filter(
        event=event, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).exclude(pk=getattr(block, "pk", None))
    clash = others.order_by("starts_at").first()
    if clash is not None:
        raise ValidationError(
            _("This block overlaps the block “%(name)s”; blocks of one event must not overlap.")
            % {"name": clash}
        )
    return times


def _live_meetings_in(slots: QuerySet[Slot]) -> int:
    return Meeting.objects.filter(LIVE, slot__in=slots.values("pk")).count()


def _release_ended_meetings(*, slots: QuerySet[Slot] | None = None, table: Table | None = None):
    """Meetings that ended without taking place keep no slot or table that is going away
    (their rows stay for the funnel)."""
    rows = Meeting.objects.exclude(LIVE)
    if slots is not None:
        rows.filter(slot__in=slots.values("pk")).update(slot=None, table=None)
    if table is not None:
        rows.filter(table=table).update(table=None)


def _refuse_live(count: int, message: str) -> None:
    if count:
        raise ValidationError(message % {"n": count})


@transaction.atomic
def block_create(
    *,
    event: Event,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    slot_minutes: int,
    gap_minutes: int = 0,
) -> MeetingBlock:
    """A meeting block and its slots."""
    _require_brokerage(event)
    _lock_event(event)
    times = _validate_block(
        event=event, block=None, starts_at=starts_at, ends_at=ends_at,
        slot_minutes=slot_minutes, gap_minutes=gap_minutes,
    )  # fmt: skip
    block = MeetingBlock(
        event=event, name=name.strip(), starts_at=starts_at, ends_at=ends_at,
        slot_minutes=slot_minutes, gap_minutes=gap_minutes,
    )  # fmt: skip
    block.full_clean(exclude=["event"])
    block.save()
    Slot.objects.bulk_create(
        [Slot(event=event, block=block, starts_at=s, ends_at=e) for s, e in times]
    )
    return block


@transaction.atomic
def block_update(
    *,
    block: MeetingBlock,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    slot_minutes: int,
    gap_minutes: int = 0,
) -> MeetingBlock:
    """Rename or reshape a block. Slots that stay exactly as they were keep their
    meetings and break marks; the others are removed and new ones written — refused
    while a live meeting sits in a slot that would go."""
    event = block.event
    _lock_event(event)
    block = MeetingBlock.objects.select_for_update().get(pk=block.pk)
    times = _validate_block(
        event=event, block=block, starts_at=starts_at, ends_at=ends_at,
        slot_minutes=slot_minutes, gap_minutes=gap_minutes,
    )  # fmt: skip
    wanted = set(times)
    # Slots locked in primary key order, as the scheduler's publish locks them.
    current = list(Slot.objects.select_for_update().filter(block=block).order_by("pk"))
    going = [s.pk for s in current if (s.starts_at, s.ends_at) not in wanted]
    kept = {(s.starts_at, s.ends_at) for s in current if s.pk not in going}
    going_slots = Slot.objects.filter(pk__in=going)
    count = _live_meetings_in(going_slots)
    _refuse_live(
        count,
        ngettext(
            "%(n)s meeting is placed in a slot this change would remove. Cancel or move it "
            "first, or change the block so that its slot stays.",
            "%(n)s meetings are placed in slots this change would remove. Cancel or move "
            "them first, or change the block so that their slots stay.",
            count,
        ),
    )
    _release_ended_meetings(slots=going_slots)
    going_slots.delete()
    block.name = name.strip()
    block.starts_at, block.ends_at = starts_at, ends_at
    block.slot_minutes, block.gap_minutes = slot_minutes, gap_minutes
    block.full_clean(exclude=["event"])
    block.save(update_fields=["name", "starts_at", "ends_at", "slot_minutes", "gap_minutes"])
    Slot.objects.bulk_create(
        [
            Slot(event=event, block=block, starts_at=s, ends_at=e)
            for s, e in times
            if (s, e) not in kept
        ]
    )
    return block


@transaction.atomic
def block_delete(*, block: MeetingBlock) -> None:
    """Delete a block and its slots; refused while a live meeting is placed in it."""
    _lock_event(block.event)
    slots = Slot.objects.filter(block=block)
    list(slots.select_for_update().order_by("pk"))  # in the order publish locks them
    count = _live_meetings_in(slots)
    _refuse_live(
        count,
        ngettext(
            "%(n)s meeting is placed in this block. Cancel or move it first.",
            "%(n)s meetings are placed in this block. Cancel or move them first.",
            count,
        ),
    )
    _release_ended_meetings(slots=slots)
    block.delete()


@transaction.atomic
def slot_set_break(*, slot: Slot, is_break: bool) -> Slot:
    """Keep a slot free (a coffee break inside a block), or give it back to meetings."""
    slot = Slot.objects.select_for_update().get(pk=slot.pk)
    if is_break:
        count = Meeting.objects.filter(LIVE, slot=slot).count()
        _refuse_live(
            count,
            ngettext(
                "%(n)s meeting is placed in this slot. Cancel or move it before making the "
                "slot a break.",
                "%(n)s meetings are placed in this slot. Cancel or move them before making "
                "the slot a break.",
                count,
            ),
        )
    if slot.is_break != is_break:
        slot.is_break = is_break
        slot.save(update_fields=["is_break"])
    return slot


# --- tables ----------------------------------------------------------------------------


def _next_position(event: Event) -> int:
    return (Table.objects.filter(event=event).aggregate(m=Max("position"))["m"] or 0) + 1


def _validate_table(table: Table) -> None:
    table.name = table.name.strip()
    if not table.name:
        raise ValidationError({"name": _("Give the table a name.")})
    taken = Table.objects.filter(event_id=table.event_id, name__iexact=table.name)
    if taken.exclude(pk=table.pk).exists():
        raise ValidationError({"name": _("This event already has a table of this name.")})
    table.full_clean(exclude=["event"], validate_constraints=False)


@transaction.atomic
def table_create(*, event: Event, name: str, online_url: str = "") -> Table:
    """A table in the hall, or an online room (with its link)."""
    _require_brokerage(event)
    _lock_event(event)
    table = Table(event=event, name=name, online_url=online_url.strip(),
                  position=_next_position(event))  # fmt: skip
    _validate_table(table)
    table.save()
    return table


@transaction.atomic
def tables_create_numbered(*, event: Event, count: int) -> list[Table]:
    """`count` tables named "Table 1", "Table 2", …, skipping numbers already taken."""
    _require_brokerage(event)
    if not 1 <= count <= MAX_NUMBERED_TABLES:
        raise ValidationError(
            {"count": _("Add 1 to %(n)s tables at a time.") % {"n": MAX_NUMBERED_TABLES}}
        )
    _lock_event(event)
    taken = {
        name.casefold() for name in Table.objects.filter(event=event).values_list("name", flat=True)
    }
    position = _next_position(event)
    tables: list[Table] = []
    number = 0
    while len(tables) < count:
        number += 1
        # Translators: the name of a numbered meeting table, e.g. "Table 12".
        name = _("Table %(number)s") % {"number": number}
        if name.casefold() in taken:
            continue
        tables.append(Table(event=event, name=name, position=position + len(tables)))
    return Table.objects.bulk_create(tables)


@transaction.atomic
def table_update(*, table: Table, name: str, online_url: str = "", is_active: bool = True) -> Table:
    """Rename a table, set its online link, or take it out of use (refused while a live
    meeting is placed there: cancel or move the meeting first)."""
    _lock_event(table.event)
    table = Table.objects.select_for_update().get(pk=table.pk)
    if table.is_active and not is_active:
        count = Meeting.objects.filter(LIVE, table=table).count()
        _refuse_live(
            count,
            ngettext(
                "%(n)s meeting is placed at this table. Cancel or move it before taking "
                "the table out of use.",
                "%(n)s meetings are placed at this table. Cancel or move them before "
                "taking the table out of use.",
                count,
            ),
        )
    table.name, table.online_url, table.is_active = name, online_url.strip(), is_active
    _validate_table(table)
    table.save(update_fields=["name", "online_url", "is_active"])
    return table


@transaction.atomic
def table_delete(*, table: Table) -> None:
    """Delete a table; refused while a live meeting is placed there."""
    _lock_event(table.event)
    table = Table.objects.select_for_update().get(pk=table.pk)
    count = Meeting.objects.filter(LIVE, table=table).count()
    _refuse_live(
        count,
        ngettext(
            "%(n)s meeting is placed at this table. Cancel or move it first, or take the "
            "table out of use once it is free.",
            "%(n)s meetings are placed at this table. Cancel or move them first, or take "
            "the table out of use once it is free.",
            count,
        ),
    )
    _release_ended_meetings(table=table)
    table.delete()
