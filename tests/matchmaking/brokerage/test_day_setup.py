from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from events.models import Event
from matchmaking.brokerage import day_setup
from matchmaking.brokerage.models import BrokerageSettings, Meeting, MeetingBlock, Slot, Table
from tests.events.factories import EventFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MeetingFactory,
    ParticipantFactory,
    accepted,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return BrokerageEventFactory(slots=0, tables=0)


def _block(event, *, start_minutes=0, minutes=90, slot=20, gap=5, name="Afternoon"):
    start = event.starts_at + timedelta(minutes=start_minutes)
    return day_setup.block_create(
        event=event, name=name, starts_at=start, ends_at=start + timedelta(minutes=minutes),
        slot_minutes=slot, gap_minutes=gap,
    )  # fmt: skip


def test_block_is_cut_into_slots_with_gaps_and_the_last_ends_by_the_block_end(event):
    block = _block(event, minutes=90, slot=20, gap=5)
    slots = list(block.slots.order_by("starts_at"))
    # 0–20, 25–45, 50–70; 75–95 would end after 90.
    assert [(s.starts_at - event.starts_at) for s in slots] == [
        timedelta(minutes=m) for m in (0, 25, 50)
    ]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=20) for s in slots)
    assert slots[-1].ends_at <= block.ends_at
    assert all(s.starts_at.utcoffset() == timedelta(0) for s in slots)


def test_overlapping_blocks_are_refused_and_nothing_is_written(event):
    _block(event, minutes=60)
    with pytest.raises(ValidationError, match="overlaps"):
        _block(event, start_minutes=30, minutes=60, name="Clash")
    assert MeetingBlock.objects.filter(event=event).count() == 1
    assert Slot.objects.filter(event=event).count() == 2  # 0–20 and 25–45
    _block(event, start_minutes=60, minutes=60, name="Right after")  # touching is fine


def test_a_block_where_no_slot_fits_or_outside_the_event_is_refused(event):
    with pytest.raises(ValidationError):
        _block(event, minutes=15, slot=20)
    with pytest.raises(ValidationError, match="within the event"):
        _block(event, start_minutes=-60, minutes=30)
    assert not MeetingBlock.objects.filter(event=event).exists()


def test_only_brokerage_events_get_blocks():
    webinar = EventFactory(kind=Event.Kind.WEBINAR)
    with pytest.raises(ValidationError):
        _block(webinar)


def test_reshaping_a_block_is_refused_while_a_meeting_sits_in_a_slot_that_would_go(event):
    block = _block(event, minutes=90, slot=20, gap=5)
    table = day_setup.table_create(event=event, name="Table A")
    first = block.slots.order_by("starts_at").first()
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    accepted(a, b, slot=first, table=table)
    with pytest.raises(ValidationError, match="1 meeting is placed"):
        day_setup.block_update(
            block=block, name="Afternoon", starts_at=block.starts_at,
            ends_at=block.ends_at, slot_minutes=30, gap_minutes=0,
        )  # fmt: skip
    assert list(block.slots.order_by("starts_at")) == list(
        Slot.objects.filter(block=block).order_by("starts_at")
    )
    assert Slot.objects.filter(block=block).count() == 3


def test_lengthening_a_block_keeps_its_slots_meetings_and_breaks(event):
    block = _block(event, minutes=70, slot=20, gap=5)  # 0, 25, 50
    table = day_setup.table_create(event=event, name="Table A")
    first, second, _third = block.slots.order_by("starts_at")
    day_setup.slot_set_break(slot=second, is_break=True)
    meeting = accepted(ParticipantFactory(event=event), ParticipantFactory(event=event),
                       slot=first, table=table)  # fmt: skip
    day_setup.block_update(
        block=block, name="Longer", starts_at=block.starts_at,
        ends_at=block.starts_at + timedelta(minutes=120), slot_minutes=20, gap_minutes=5,
    )  # fmt: skip
    slots = list(Slot.objects.filter(block=block).order_by("starts_at"))
    assert len(slots) == 5  # 0, 25, 50, 75, 100
    assert slots[0].pk == first.pk and slots[1].pk == second.pk and slots[1].is_break
    meeting.refresh_from_db()
    assert meeting.slot_id == first.pk
    block.refresh_from_db()
    assert block.name == "Longer"


def test_deleting_a_block_with_a_live_meeting_is_refused_but_ended_ones_do_not_block(event):
    block = _block(event)
    slot = block.slots.first()
    table = day_setup.table_create(event=event, name="T")
    a, b, c = (ParticipantFactory(event=event) for _ in range(3))
    live = accepted(a, b, slot=slot, table=table)
    MeetingFactory(requester=a, recipient=c, status=Meeting.Status.CANCELLED, slot=slot,
                   seats=False)  # fmt: skip
    with pytest.raises(ValidationError, match="placed in this block"):
        day_setup.block_delete(block=block)
    live.status = Meeting.Status.CANCELLED
    live.save(update_fields=["status"])
    day_setup.block_delete(block=block)
    assert not MeetingBlock.objects.filter(pk=block.pk).exists()
    assert Meeting.objects.filter(event=event, slot__isnull=True).count() == 2


def test_a_slot_with_a_meeting_cannot_become_a_break(event):
    block = _block(event)
    slot = block.slots.first()
    accepted(ParticipantFactory(event=event), ParticipantFactory(event=event), slot=slot)
    with pytest.raises(ValidationError, match="before making the slot a break"):
        day_setup.slot_set_break(slot=slot, is_break=True)
    slot.refresh_from_db()
    assert not slot.is_break
    other = block.slots.exclude(pk=slot.pk).first()
    assert day_setup.slot_set_break(slot=other, is_break=True).is_break


def test_numbered_tables_skip_names_taken(event):
    day_setup.table_create(event=event, name="Table 2")
    made = day_setup.tables_create_numbered(event=event, count=3)
    assert [t.name for t in made] == ["Table 1", "Table 3", "Table 4"]
    names = list(Table.objects.filter(event=event).values_list("name", flat=True))
    assert names == ["Table 2", "Table 1", "Table 3", "Table 4"]  # by position
    with pytest.raises(ValidationError):
        day_setup.tables_create_numbered(event=event, count=0)


def test_table_names_are_unique_per_event_in_words(event):
    day_setup.table_create(
        event=event, name="Harbour room", online_url="https://meet.example.org/x"
    )
    with pytest.raises(ValidationError, match="already has a table"):
        day_setup.table_create(event=event, name="harbour ROOM")


def test_a_table_in_use_cannot_be_deleted_or_taken_out_of_use(event):
    block = _block(event)
    table = day_setup.table_create(event=event, name="T1")
    meeting = accepted(ParticipantFactory(event=event), ParticipantFactory(event=event),
                       slot=block.slots.first(), table=table)  # fmt: skip
    with pytest.raises(ValidationError, match="placed at this table"):
        day_setup.table_delete(table=table)
    with pytest.raises(ValidationError, match="out of use"):
        day_setup.table_update(table=table, name="T1", is_active=False)
    renamed = day_setup.table_update(table=table, name="Window table", is_active=True)
    assert renamed.name == "Window table"
    meeting.status = Meeting.Status.CANCELLED
    meeting.save(update_fields=["status"])
    day_setup.table_delete(table=table)
    meeting.refresh_from_db()
    assert meeting.table_id is None


def test_settings_are_created_once_and_validated():
    event = BrokerageEventFactory()
    settings = day_setup.brokerage_settings_for(event=event)
    assert day_setup.brokerage_settings_for(event=event).pk == settings.pk
    updated = day_setup.brokerage_settings_update(
        event=event, scheduling=BrokerageSettings.Scheduling.SCHEDULER, request_expiry_hours=24
    )
    assert updated.scheduling == "scheduler" and updated.request_expiry_hours == 24
    with pytest.raises(ValidationError):
        day_setup.brokerage_settings_update(event=event, request_expiry_hours=0)
    settings.refresh_from_db()
    assert settings.request_expiry_hours == 24
    with pytest.raises(TypeError):
        day_setup.brokerage_settings_update(event=event, schedule_published_at=None)
