"""Brokerage meetings' calendar entries, read by independent parsers.

The files come from the real services and mails: a meeting placed, moved and cancelled
(one side's iTIP messages) and a participant's agenda download. Each is read by vobject
and python icalendar in process, and by libical and ical.js through the helpers of
`tests/events/test_calendar_parsers.py` (skipped with their reason where the parser is
not installed, failed in CI). Every parser converts times with the file's own VTIMEZONE.
"""

import os
from datetime import UTC, datetime, timedelta

import pytest

from matchmaking.brokerage import agenda_ical, services
from matchmaking.brokerage.models import BrokerageSettings
from notifications.models import OutboxMessage
from tests.events.test_calendar_parsers import (
    icalendar_calendar,
    missing,
    read_icaljs,
    read_libical,
    vobject_calendar,
)
from tests.factories import ClusterOrganiserFactory, OrganisationFactory, ProfileFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    ParticipantFactory,
    accepted,
    block_with_slots,
)

pytestmark = pytest.mark.django_db

PARSERS = ("vobject", "icalendar", "libical", "ical.js")


def read(parser: str, calendar: bytes) -> dict:
    """One calendar as `parser` reads it (skips, or fails in CI, when it is missing)."""
    text = calendar.decode("utf-8")
    if parser == "vobject":
        return vobject_calendar(text)
    if parser == "icalendar":
        return icalendar_calendar(text)
    reason = missing(parser)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} — .ci/run installs it")
        pytest.skip(reason)
    return (read_libical if parser == "libical" else read_icaljs)([text])[0]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def person(event, name: str, organisation: str):
    profile = ProfileFactory(display_name=name, organisation=OrganisationFactory(name=organisation))
    return ParticipantFactory(event=event, user=profile.user)


@pytest.fixture
def story():
    """A meeting placed, moved to another slot and table, then cancelled by an organiser;
    the iTIP messages of one side at each step, as mailed."""
    event = BrokerageEventFactory(timezone="Europe/Vienna")
    organiser = ClusterOrganiserFactory(cluster=event.clusters.first()).user
    ada = person(event, "Ada Lovelace", "Analytical Engines")
    bob = person(event, "Bob Jones", "Jones & Sons")
    meeting = accepted(ada, bob, message='Gears,\nlevers and "quotes"; commas, too')
    first, second = event.meeting_slots.order_by("starts_at")[:2]
    services.meeting_place(meeting=meeting, slot=first, table=None)
    services.meeting_place(meeting=meeting, slot=second, table=event.meeting_tables.last())
    services.meeting_cancel(meeting=meeting, by=organiser)

    def mailed(participant) -> list[bytes]:
        rows = OutboxMessage.objects.filter(recipient=participant.user.email).order_by("pk")
        found = []
        for row in rows:
            for attachment in row.attachments:
                if "meeting.ics" in str(attachment):
                    found.append(_content(attachment).encode("utf-8"))
        return found

    return {
        "event": event,
        "meeting": meeting,
        "ada": ada,
        "bob": bob,
        "slots": (first, second),
        "ada_files": mailed(ada),
        "bob_files": mailed(bob),
    }


def _content(attachment: list) -> str:
    """The text of an outbox attachment, stored as [name, content, mimetype]."""
    return attachment[1]


@pytest.mark.parametrize("parser", PARSERS)
def test_placed_moved_and_cancelled_read_right_in_every_parser(story, parser):
    first, second = story["slots"]
    uid = f"brokerage-meeting-{story['meeting'].pk}@"
    for files, partner in ((story["ada_files"], "Bob Jones"), (story["bob_files"], "Ada Lovelace")):
        assert len(files) == 3, "placed, moved, cancelled"
        readings = [read(parser, content) for content in files]
        expected = [
            ("REQUEST", 0, "CONFIRMED", first),
            ("REQUEST", 1, "CONFIRMED", second),
            ("CANCEL", 2, "CANCELLED", second),
        ]
        for reading, (method, sequence, status, slot) in zip(readings, expected, strict=True):
            assert not reading.get("errors")
            assert reading["method"] == method
            [vevent] = reading["vevents"]
            assert vevent["errors"] == []
            assert vevent["uid"].startswith(uid)
            assert vevent["sequence"] == sequence
            assert vevent["status"] == status
            assert vevent["dtstart"] == iso(slot.starts_at)
            assert vevent["dtend"] == iso(slot.ends_at)
            assert partner in vevent["summary"]


def test_libical_rfc5546_restriction_check_passes_for_request_and_cancel(story):
    for content in [*story["ada_files"], *story["bob_files"]]:
        reading = read("libical", content)
        assert reading["restrictions"]["ok"], reading["restrictions"]["errors"]


def test_the_entry_names_partner_table_and_message_but_no_address_or_personal_uid(story):
    text = story["ada_files"][0].decode()
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:Meeting with Bob Jones (Jones & Sons)" in unfolded
    assert "LOCATION:Table 1\\, Tech Park Hall\\, Science Street 1\\, 4020 Linz" in unfolded
    assert "Organisation: Jones & Sons" in unfolded
    assert 'Gears\\,\\nlevers and "quotes"\\; commas\\, too' in unfolded
    assert story["bob"].user.email not in unfolded
    assert 'CN="Ada Lovelace"' in unfolded or "CN=Ada Lovelace" in unfolded
    assert f"UID:brokerage-meeting-{story['meeting'].pk}@" in unfolded
    assert "TZID=Europe/Vienna" in unfolded and "BEGIN:VTIMEZONE" in unfolded


@pytest.mark.parametrize("parser", PARSERS)
def test_the_agenda_download_lists_the_published_meetings_only(parser):
    event = BrokerageEventFactory(timezone="America/New_York")
    ada = person(event, "Ada Lovelace", "Analytical Engines")
    others = [person(event, f"Partner {n}", f"Org {n}") for n in range(4)]
    slots = list(event.meeting_slots.order_by("starts_at"))
    placed = []
    for n, other in enumerate(others[:2]):
        meeting = accepted(ada, other)
        services.meeting_place(meeting=meeting, slot=slots[3 - n], table=None)
        placed.append((meeting, slots[3 - n]))
    accepted(ada, others[2])  # accepted, not placed
    services.meeting_request(event=event, requester=others[3], recipient=ada, message="")
    gone = accepted(ada, ParticipantFactory(event=event))
    services.meeting_place(meeting=gone, slot=slots[5], table=None)
    services.meeting_cancel(meeting=gone, by=ada.user)

    reading = read(parser, agenda_ical.agenda_calendar(participant=ada))
    assert reading["method"] == "PUBLISH"
    found = {v["uid"].split("@")[0]: v for v in reading["vevents"]}
    assert set(found) == {f"brokerage-meeting-{m.pk}" for m, _slot in placed}
    for meeting, slot in placed:
        vevent = found[f"brokerage-meeting-{meeting.pk}"]
        assert vevent["dtstart"] == iso(slot.starts_at)
        assert vevent["dtend"] == iso(slot.ends_at)
        assert vevent["status"] == "CONFIRMED"
    assert [v["dtstart"] for v in reading["vevents"]] == sorted(
        v["dtstart"] for v in reading["vevents"]
    )


@pytest.mark.parametrize("parser", PARSERS)
def test_a_slot_in_the_repeated_autumn_hour_keeps_its_utc_time(parser):
    """25 October 2026, 02:00–03:00 happens twice in Vienna: the entry is written in UTC."""
    event = BrokerageEventFactory(
        timezone="Europe/Vienna",
        starts_at=datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
        ends_at=datetime(2026, 10, 25, 3, 0, tzinfo=UTC),
        slots=0,
    )
    # 00:20 UTC = 02:20 CEST, the first 02:20 of the night.
    block_with_slots(event, starts_at=datetime(2026, 10, 25, 0, 20, tzinfo=UTC), slots=2)
    BrokerageSettings.objects.filter(event=event).update(scheduling="scheduler")
    a, b = person(event, "Ada", "A"), person(event, "Bob", "B")
    meeting = accepted(a, b)
    slot = event.meeting_slots.order_by("starts_at").first()
    services.meeting_place(meeting=meeting, slot=slot, table=None)
    meeting.refresh_from_db()
    reading = read(parser, agenda_ical.meeting_invitation(meeting, a))
    [vevent] = reading["vevents"]
    assert vevent["dtstart"] == iso(slot.starts_at)
    assert vevent["dtend"] == iso(slot.starts_at + timedelta(minutes=20))
