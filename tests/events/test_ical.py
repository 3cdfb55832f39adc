"""Calendar files as a calendar app reads them: parsed by vobject, not by icalendar.

vobject is an independent parser; times are checked against the VTIMEZONE it reads from
the file itself (not against a zone database looked up by name).
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject
from django.db.models import F
from django.utils import timezone

from events import ical, services
from events.models import Event, Registration, Session

Status = Registration.Status


def make_event(cluster, **fields) -> Event:
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=7)
    defaults = {
        "title": "Predictive maintenance webinar",
        "slug": f"event-{Event.objects.count() + 1}",
        "summary": "Sensors, models and the shop floor.",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "status": Event.Status.PUBLISHED,
        "audience": Event.Audience.PUBLIC,
        "timezone": "Europe/Vienna",
    }
    event = Event.objects.create(**{**defaults, **fields})
    event.clusters.add(cluster)
    return event


def parse(data: bytes):
    """The file as vobject reads it, values left as written (no zone lookup by name)."""
    assert isinstance(data, bytes)
    return vobject.readOne(data.decode("utf-8"), transform=False)


def vevents(calendar) -> list:
    return list(calendar.contents.get("vevent", []))


def text(prop) -> str:
    """An iCalendar TEXT value, unescaped."""
    value = prop.value
    for escaped, plain in (("\\n", "\n"), ("\\,", ","), ("\\;", ";"), ("\\\\", "\\")):
        value = value.replace(escaped, plain)
    return value


def utc_instant(calendar, prop) -> datetime:
    """The UTC instant of a DTSTART/DTEND: its wall-clock time read through the file's VTIMEZONE."""
    [tzid] = prop.params["TZID"]
    zones = {}
    for vtimezone in calendar.contents.get("vtimezone", []):
        vtimezone.transformToNative()
        zones[vtimezone.tzid.value] = vtimezone.gettzinfo()
    assert tzid in zones, f"no VTIMEZONE for {tzid}"
    wall_clock = datetime.strptime(prop.value, "%Y%m%dT%H%M%S")  # noqa: DTZ007
    return wall_clock.replace(tzinfo=zones[tzid]).astimezone(UTC)


def stamp(prop) -> datetime:
    return datetime.strptime(prop.value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# --- Public file -------------------------------------------------------------------------


def test_public_file_has_uid_sequence_stamp_zone_and_no_join_link(cluster):
    event = make_event(
        cluster, online_platform="Zoom", online_url="https://zoom.example/j/123?pwd=secret"
    )
    data = ical.event_calendar(event, [])
    calendar = parse(data)
    assert calendar.method.value == "PUBLISH"
    [vevent] = vevents(calendar)
    assert vevent.uid.value == f"event-{event.uid}@127.0.0.1"
    assert vevent.sequence.value == "0"
    assert abs(stamp(vevent.dtstamp) - timezone.now()) < timedelta(minutes=1)
    assert vevent.dtstart.params["TZID"] == ["Europe/Vienna"]
    assert [vtz.tzid.value for vtz in calendar.contents["vtimezone"]] == ["Europe/Vienna"]
    assert utc_instant(calendar, vevent.dtstart) == event.starts_at
    assert utc_instant(calendar, vevent.dtend) == event.ends_at
    assert vevent.status.value == "CONFIRMED"
    assert vevent.location.value == "Zoom"
    assert vevent.url.value == f"http://127.0.0.1:8000/events/{event.slug}/"
    assert "Sensors, models" in text(vevent.description)
    assert b"zoom.example" not in data


def test_a_conference_file_has_the_event_and_each_session_with_its_own_uid(cluster):
    event = make_event(
        cluster, kind=Event.Kind.CONFERENCE, venue_name="Design Center", venue_address="Linz"
    )
    talk = Session.objects.create(
        event=event,
        title="Keynote",
        room="Hall A",
        starts_at=event.starts_at,
        ends_at=event.starts_at + timedelta(minutes=45),
    )
    panel = Session.objects.create(
        event=event,
        title="Panel",
        starts_at=event.starts_at + timedelta(hours=1),
        ends_at=event.starts_at + timedelta(hours=2),
        is_cancelled=True,
    )
    calendar = parse(ical.event_calendar(event, [talk, panel]))
    by_uid = {v.uid.value: v for v in vevents(calendar)}
    assert set(by_uid) == {
        f"event-{event.uid}@127.0.0.1",
        f"session-{talk.uid}@127.0.0.1",
        f"session-{panel.uid}@127.0.0.1",
    }
    keynote = by_uid[f"session-{talk.uid}@127.0.0.1"]
    assert utc_instant(calendar, keynote.dtend) == talk.ends_at
    assert text(keynote.location) == "Hall A, Design Center, Linz"
    assert by_uid[f"session-{panel.uid}@127.0.0.1"].status.value == "CANCELLED"


def test_a_cancelled_event_is_cancelled_in_its_file(cluster):
    event = make_event(cluster, status=Event.Status.CANCELLED)
    [vevent] = vevents(parse(ical.event_calendar(event, [])))
    assert vevent.status.value == "CANCELLED"


@pytest.mark.parametrize(
    ("zone", "march_utc_hour", "october_utc_hour"),
    [("Europe/Lisbon", 9, 10), ("Europe/Vienna", 8, 9), ("Europe/Helsinki", 7, 8)],
)
def test_times_are_right_on_both_sides_of_the_clock_change(
    cluster, zone, march_utc_hour, october_utc_hour
):
    """2027-03-28 and 2027-10-31 are the days the clocks change in the EU."""
    local = ZoneInfo(zone)
    spring = make_event(
        cluster,
        timezone=zone,
        starts_at=datetime(2027, 3, 28, 10, tzinfo=local),
        ends_at=datetime(2027, 3, 28, 12, tzinfo=local),
    )
    autumn = make_event(
        cluster,
        timezone=zone,
        starts_at=datetime(2027, 10, 31, 10, tzinfo=local),
        ends_at=datetime(2027, 10, 31, 12, tzinfo=local),
    )
    # The night before each change too, on the other side of it.
    eve = make_event(
        cluster,
        timezone=zone,
        starts_at=datetime(2027, 10, 30, 10, tzinfo=local),
        ends_at=datetime(2027, 10, 30, 12, tzinfo=local),
    )
    calendar = parse(ical.feed_calendar([spring, autumn, eve], name="DST"))
    by_uid = {v.uid.value: v for v in vevents(calendar)}
    start = {
        key: utc_instant(calendar, by_uid[ical.event_uid(event)].dtstart)
        for key, event in (("spring", spring), ("autumn", autumn), ("eve", eve))
    }
    assert start["spring"] == datetime(2027, 3, 28, march_utc_hour, tzinfo=UTC)
    assert start["autumn"] == datetime(2027, 10, 31, october_utc_hour, tzinfo=UTC)
    assert start["eve"] == datetime(2027, 10, 30, march_utc_hour, tzinfo=UTC)
    for vevent in by_uid.values():
        assert vevent.dtstart.params["TZID"] == [zone]
        assert vevent.dtstart.value.endswith(
            "T100000"
        )  # written in the event's own wall-clock time


def test_a_feed_holds_one_vtimezone_per_zone_used(cluster):
    events = [
        make_event(cluster, timezone="Europe/Lisbon"),
        make_event(cluster, timezone="Europe/Helsinki"),
        make_event(cluster, timezone="Europe/Helsinki"),
    ]
    calendar = parse(ical.feed_calendar(events, name="Cluster events"))
    assert text(calendar.contents["x-wr-calname"][0]) == "Cluster events"
    assert sorted(v.tzid.value for v in calendar.contents["vtimezone"]) == [
        "Europe/Helsinki",
        "Europe/Lisbon",
    ]
    for vevent, event in zip(vevents(calendar), events, strict=True):
        assert utc_instant(calendar, vevent.dtstart) == event.starts_at


# --- Invitations ----------------------------------------------------------------------------


def test_invitation_of_a_confirmed_member_names_organiser_and_attendee(cluster, member, settings):
    settings.DEFAULT_FROM_EMAIL = "Clusterhub <events@hub.example>"
    event = make_event(cluster, online_platform="Teams", online_url="https://teams.example/j/9")
    registration = services.event_register(event=event, user=member.user)
    assert registration.status == Status.CONFIRMED

    data = ical.registration_invitation(registration)
    calendar = parse(data)
    assert calendar.method.value == "REQUEST"
    [vevent] = vevents(calendar)
    assert vevent.organizer.value == "mailto:events@hub.example"
    assert vevent.organizer.params["CN"] == [cluster.name]
    attendee = vevent.attendee
    assert attendee.value == f"mailto:{member.user.email}"
    assert attendee.params["CN"] == ["Anna Keller"]
    assert attendee.params["PARTSTAT"] == ["ACCEPTED"]
    assert attendee.params["ROLE"] == ["REQ-PARTICIPANT"]
    assert attendee.params["RSVP"] == ["FALSE"]
    assert vevent.status.value == "CONFIRMED"
    assert vevent.sequence.value == "0"
    assert "https://teams.example/j/9" in text(vevent.description)
    assert "vtimezone" in calendar.contents
    assert stamp(vevent.dtstamp) <= timezone.now()


def test_the_uid_is_stable_and_carries_no_personal_data_while_sequence_rises(cluster, member):
    event = make_event(cluster)
    registration = services.event_register(event=event, user=member.user)
    first = vevents(parse(ical.registration_invitation(registration)))[0]

    later = event.starts_at + timedelta(days=1)
    Event.objects.filter(pk=event.pk).update(
        sequence=F("sequence") + 1, starts_at=later, ends_at=later + timedelta(hours=2)
    )
    registration = Registration.objects.select_related("event", "user").get(pk=registration.pk)
    second_calendar = parse(ical.registration_invitation(registration))
    second = vevents(second_calendar)[0]

    public = vevents(parse(ical.event_calendar(event)))[0]
    assert second.uid.value == first.uid.value == public.uid.value
    assert int(second.sequence.value) > int(first.sequence.value)
    assert utc_instant(second_calendar, second.dtstart) == later
    uid = first.uid.value
    assert uid == f"event-{event.uid}@127.0.0.1"
    for personal in (member.user.email, member.user.email.split("@")[0], "Anna", "Keller"):
        assert personal.lower() not in uid.lower()


def test_cancelling_sends_cancel_with_a_higher_sequence_and_re_registering_a_request(
    cluster, member
):
    event = make_event(cluster)
    registration = services.event_register(event=event, user=member.user)
    request = vevents(parse(ical.registration_invitation(registration)))[0]

    registration = services.registration_cancel(registration=registration, by=member.user)
    cancel_calendar = parse(ical.registration_invitation(registration))
    assert cancel_calendar.method.value == "CANCEL"
    cancel = vevents(cancel_calendar)[0]
    assert cancel.status.value == "CANCELLED"
    assert cancel.uid.value == request.uid.value
    assert int(cancel.sequence.value) > int(request.sequence.value)

    registration = services.event_register(event=event, user=member.user)
    again_calendar = parse(ical.registration_invitation(registration))
    assert again_calendar.method.value == "REQUEST"
    assert int(vevents(again_calendar)[0].sequence.value) > int(cancel.sequence.value)


def test_a_cancelled_event_withdraws_the_invitation(cluster, member):
    event = make_event(cluster)
    registration = services.event_register(event=event, user=member.user)
    Event.objects.filter(pk=event.pk).update(
        status=Event.Status.CANCELLED, sequence=F("sequence") + 1
    )
    registration = Registration.objects.select_related("event", "user").get(pk=registration.pk)
    calendar = parse(ical.registration_invitation(registration))
    assert calendar.method.value == "CANCEL"
    [vevent] = vevents(calendar)
    assert vevent.status.value == "CANCELLED"
    assert vevent.sequence.value == "1"


def test_a_waitlisted_member_gets_a_tentative_invitation_without_the_join_link(
    cluster, member, colleague
):
    event = make_event(cluster, capacity=1, online_url="https://zoom.example/j/55")
    services.event_register(event=event, user=colleague.user)
    registration = services.event_register(event=event, user=member.user)
    assert registration.status == Status.WAITLISTED
    data = ical.registration_invitation(registration)
    [vevent] = vevents(parse(data))
    assert vevent.status.value == "TENTATIVE"
    assert vevent.attendee.params["PARTSTAT"] == ["TENTATIVE"]
    assert b"zoom.example" not in data


def test_the_personal_feed_lists_events_and_sessions_with_waitlisted_ones_tentative(
    cluster, member, colleague
):
    full = make_event(cluster, capacity=1, online_url="https://zoom.example/j/77")
    services.event_register(event=full, user=colleague.user)
    waiting = services.event_register(event=full, user=member.user)
    conference = make_event(cluster, kind=Event.Kind.CONFERENCE)
    session = Session.objects.create(
        event=conference,
        title="Workshop",
        starts_at=conference.starts_at,
        ends_at=conference.starts_at + timedelta(hours=1),
    )
    seat = services.event_register(event=conference, user=member.user)
    in_session = services.event_register(event=conference, user=member.user, session=session)

    data = ical.registrations_feed(
        Registration.objects.filter(pk__in=[waiting.pk, seat.pk, in_session.pk]).select_related(
            "event", "session"
        ),
        name="My events",
    )
    by_uid = {v.uid.value: v for v in vevents(parse(data))}
    assert by_uid[ical.event_uid(full)].status.value == "TENTATIVE"
    assert by_uid[ical.event_uid(conference)].status.value == "CONFIRMED"
    assert by_uid[ical.session_uid(session)].status.value == "CONFIRMED"
    assert b"zoom.example" not in data
