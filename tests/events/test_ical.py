"""Calendar files as a calendar app reads them: parsed by vobject, not by icalendar.

vobject is an independent parser; times are checked against the VTIMEZONE it reads from
the file itself (not against a zone database looked up by name).
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from django.db.models import F
from django.utils import timezone

from events import authoring, ical, services
from events.calendar_selectors import registrations_for_feed
from events.models import Event, Registration, Session
from members.selectors import organiser_emails
from tests.factories import ClusterOrganiserFactory

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


def test_a_persons_cancel_and_re_registration_keep_the_objects_sequence_and_say_partstat(
    cluster, member
):
    """SEQUENCE belongs to the event (the same in the public file, feeds and mail); one
    person's own changes are told by METHOD, PARTSTAT and a newer DTSTAMP."""
    event = make_event(cluster)
    registration = services.event_register(event=event, user=member.user)
    request = vevents(parse(ical.registration_invitation(registration)))[0]

    registration = services.registration_cancel(registration=registration, by=member.user)
    cancel_calendar = parse(ical.registration_invitation(registration))
    assert cancel_calendar.method.value == "CANCEL"
    cancel = vevents(cancel_calendar)[0]
    assert cancel.status.value == "CANCELLED"
    assert cancel.uid.value == request.uid.value
    assert cancel.attendee.params["PARTSTAT"] == ["DECLINED"]
    assert stamp(cancel.dtstamp) >= stamp(request.dtstamp)

    registration = services.event_register(event=event, user=member.user)
    again_calendar = parse(ical.registration_invitation(registration))
    again = vevents(again_calendar)[0]
    assert again_calendar.method.value == "REQUEST"
    assert again.attendee.params["PARTSTAT"] == ["ACCEPTED"]
    public = vevents(parse(ical.event_calendar(Event.objects.get(pk=event.pk))))[0]
    assert (
        request.sequence.value
        == cancel.sequence.value
        == again.sequence.value
        == public.sequence.value
    )
    assert request.contents["last-modified"][0].value == public.contents["last-modified"][0].value


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


# --- Time zones every parser reads ---------------------------------------------------------


def icalendar_instants(data: bytes) -> dict[str, datetime]:
    """{UID: DTSTART in UTC} as the icalendar package reads the file."""
    calendar = icalendar.Calendar.from_ical(data)
    return {str(v["UID"]): v.decoded("DTSTART").astimezone(UTC) for v in calendar.walk("VEVENT")}


def vobject_instants(data: bytes) -> dict[str, datetime]:
    """{UID: DTSTART in UTC} as vobject reads it, through the file's own VTIMEZONE."""
    calendar = parse(data)
    instants = {}
    for vevent in vevents(calendar):
        if vevent.dtstart.value.endswith("Z"):
            instants[vevent.uid.value] = stamp(vevent.dtstart)
        else:
            instants[vevent.uid.value] = utc_instant(calendar, vevent.dtstart)
    return instants


def test_vobject_reads_vienna_in_2027_and_2029_as_the_database_has_them(cluster):
    """The reported case: a VTIMEZONE with several transitions in one RDATE line made
    vobject read 3 November 2027, 10:00 Vienna as 08:00Z."""
    vienna = ZoneInfo("Europe/Vienna")
    november = make_event(
        cluster,
        starts_at=datetime(2027, 11, 3, 10, tzinfo=vienna),
        ends_at=datetime(2027, 11, 3, 12, tzinfo=vienna),
    )
    july = make_event(
        cluster,
        starts_at=datetime(2029, 7, 1, 10, tzinfo=vienna),
        ends_at=datetime(2029, 7, 1, 12, tzinfo=vienna),
    )
    data = ical.feed_calendar([november, july], name="Vienna")
    for read in (vobject_instants, icalendar_instants):
        instants = read(data)
        assert instants[ical.event_uid(november)] == datetime(2027, 11, 3, 9, tzinfo=UTC)
        assert instants[ical.event_uid(july)] == datetime(2029, 7, 1, 8, tzinfo=UTC)
    # vobject's own conversion (transform) agrees too.
    transformed = vobject.readOne(data.decode())
    starts = {v.uid.value: v.dtstart.value.astimezone(UTC) for v in transformed.vevent_list}
    assert starts[ical.event_uid(november)] == datetime(2027, 11, 3, 9, tzinfo=UTC)
    assert starts[ical.event_uid(july)] == datetime(2029, 7, 1, 8, tzinfo=UTC)


def test_each_vtimezone_has_one_observance_per_transition_from_a_year_before_to_three_after(
    cluster,
):
    vienna = ZoneInfo("Europe/Vienna")
    event = make_event(
        cluster,
        starts_at=datetime(2027, 11, 3, 10, tzinfo=vienna),
        ends_at=datetime(2027, 11, 3, 12, tzinfo=vienna),
    )
    data = ical.event_calendar(event)
    assert b"RRULE" not in data and b"RDATE" not in data
    [vtimezone] = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    onsets = []
    for observance in vtimezone.subcomponents:
        # DTSTART is the wall-clock time of the change, read in the offset before it.
        before = observance.decoded("TZOFFSETFROM")
        after = observance.decoded("TZOFFSETTO")
        onset = (observance.decoded("DTSTART") - before).replace(tzinfo=UTC)
        local_after = onset.astimezone(vienna)
        assert local_after.utcoffset() == after
        assert (observance.name == "DAYLIGHT") == bool(local_after.dst())
        onsets.append(onset)
    assert onsets == sorted(onsets)
    assert onsets[0] == datetime(2026, 1, 1, tzinfo=UTC)  # a year before the event
    changes = onsets[1:]
    # Two changes a year, 2026 to 2030 (three years after the event).
    assert [o.year for o in changes] == [y for y in range(2026, 2031) for _ in (1, 2)]
    assert changes[3] == datetime(2027, 10, 31, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "zone", ["Europe/Vienna", "Europe/Lisbon", "Europe/Helsinki", "America/New_York"]
)
def test_both_parsers_agree_with_the_database_on_every_month_for_four_years(cluster, zone):
    local = ZoneInfo(zone)
    events = []
    for month in range(48):
        year, month_of_year = 2027 + month // 12, month % 12 + 1
        for day in (1, 28):
            start = datetime(year, month_of_year, day, 10, 30, tzinfo=local)
            events.append(
                make_event(
                    cluster, timezone=zone, starts_at=start, ends_at=start + timedelta(hours=1)
                )
            )
    data = ical.feed_calendar(events, name="Four years")
    wanted = {ical.event_uid(e): e.starts_at.astimezone(UTC) for e in events}
    assert vobject_instants(data) == wanted
    assert icalendar_instants(data) == wanted


def test_a_time_in_the_repeated_autumn_hour_is_written_in_utc(cluster):
    """2027-10-31 01:30Z is 02:30 in Brussels, a wall-clock time that happens twice."""
    start = datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    event = make_event(
        cluster, timezone="Europe/Brussels", starts_at=start, ends_at=start + timedelta(hours=2)
    )
    data = ical.event_calendar(event)
    [vevent] = vevents(parse(data))
    assert vevent.dtstart.value == "20271031T013000Z"
    assert "TZID" not in vevent.dtstart.params
    assert vevent.dtend.params["TZID"] == ["Europe/Brussels"]  # 03:30 is unambiguous
    assert vobject_instants(data) == icalendar_instants(data) == {ical.event_uid(event): start}


# --- One identity per calendar object ------------------------------------------------------


def organizers(data: bytes) -> set[tuple[str, str]]:
    return {(v.organizer.value, v.organizer.params["CN"][0]) for v in vevents(parse(data))}


def test_every_vevent_of_every_file_names_the_cluster_and_its_first_organiser(
    cluster, other_cluster, member, organiser
):
    """Public file, cluster feed, personal feed and invitation: one ORGANIZER, who is the
    first of `organiser_emails` (the event's creator first if they organise it)."""
    creator = ClusterOrganiserFactory(cluster=other_cluster).user
    ClusterOrganiserFactory(cluster=other_cluster)
    conference = make_event(cluster, kind=Event.Kind.CONFERENCE, created_by=creator)
    conference.clusters.add(other_cluster)
    session = Session.objects.create(
        event=conference,
        title="Keynote",
        starts_at=conference.starts_at,
        ends_at=conference.starts_at + timedelta(hours=1),
    )
    plain = make_event(cluster)
    services.event_register(event=conference, user=member.user)
    in_session = services.event_register(event=conference, user=member.user, session=session)
    services.event_register(event=plain, user=member.user)

    first = organiser_emails(
        clusters=conference.clusters.all(), first_user_id=conference.created_by_id, limit=1
    )
    assert first == [creator.email]
    files = [
        ical.event_calendar(conference, [session]),
        ical.feed_calendar([conference, plain], name="Cluster"),
        ical.registrations_feed(
            Registration.objects.filter(user=member.user).select_related("event", "session"),
            name="Mine",
        ),
        ical.registration_invitation(in_session),
    ]
    wanted_conference = (f"mailto:{creator.email}", other_cluster.name)
    wanted_plain = (f"mailto:{organiser.email}", cluster.name)
    for data in files:
        found = organizers(data)
        assert found <= {wanted_conference, wanted_plain}, found
        assert wanted_conference in found
    assert organizers(files[1]) == {wanted_conference, wanted_plain}


def test_without_organisers_the_site_sender_speaks_for_the_cluster(cluster, settings):
    settings.DEFAULT_FROM_EMAIL = "Clusterhub <events@hub.example>"
    event = make_event(cluster)
    assert organizers(ical.event_calendar(event)) == {("mailto:events@hub.example", cluster.name)}


def test_a_uid_has_the_same_sequence_and_last_modified_in_file_feeds_and_mail(
    cluster, member, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    """Issue: the mail carried SEQUENCE 2 while the feed and the public file said 1."""
    conference = make_event(cluster, kind=Event.Kind.CONFERENCE)
    session = Session.objects.create(
        event=conference,
        title="Workshop",
        starts_at=conference.starts_at,
        ends_at=conference.starts_at + timedelta(hours=1),
    )
    registration = services.event_register(event=conference, user=member.user)
    services.registration_cancel(registration=registration, by=member.user)
    services.event_register(event=conference, user=member.user)  # the person's own sequence: 1
    services.event_register(event=conference, user=member.user, session=session)
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(event=conference, by=organiser, changes={"venue_name": "Hall 2"})
        authoring.session_update(session=session, by=organiser, changes={"room": "Room 4"})
    conference = Event.objects.get(pk=conference.pk)

    def identities(data) -> dict[str, tuple[str, str]]:
        return {
            v.uid.value: (v.sequence.value, v.contents["last-modified"][0].value)
            for v in vevents(parse(data))
        }

    public = identities(ical.event_calendar(conference, conference.sessions.all()))
    cluster_feed = identities(ical.feed_calendar([conference], name="Cluster"))
    personal = identities(
        ical.registrations_feed(registrations_for_feed(user=member.user), name="Mine")
    )
    mailed = {}
    for message in mailoutbox:
        mailed.update(identities(message.attachments[0][1].encode()))
    event_id, session_id = ical.event_uid(conference), ical.session_uid(session)
    assert set(public) == set(personal) == set(mailed) == {event_id, session_id}
    assert cluster_feed[event_id] == public[event_id] == personal[event_id] == mailed[event_id]
    assert public[session_id] == personal[session_id] == mailed[session_id]
    # The venue moved the event (1) and its session; the room moved the session (1 + 1).
    assert public[event_id][0] == "1" and public[session_id][0] == "2"


# --- Robust text ---------------------------------------------------------------------------


def test_line_breaks_and_control_characters_never_reach_a_property(cluster, member):
    member.display_name = 'Anna\n"Keller"\x07'
    member.save(update_fields=["display_name"])
    cluster.name = "Mechatronics\r\nCluster\x1b"
    cluster.save(update_fields=["name"])
    event = make_event(
        cluster,
        title="Robots\nand\tcobots\x01\u2028today",
        summary="First line\nsecond line\tindented\x0b\x7f",
        venue_name="Tabakfabrik\nLinz",
        venue_address="Peter-Behrens-Platz 1\r\n4020 Linz\x1f",
        online_platform="Zoom\n",
    )
    session = Session.objects.create(
        event=event,
        kind=Session.Kind.TALK,
        title="Keynote\n",
        room="Hall\tA",
        track="Robotics\x0c",
        starts_at=event.starts_at,
        ends_at=event.starts_at + timedelta(hours=1),
    )
    registration = services.event_register(event=event, user=member.user)
    files = [
        ical.event_calendar(event, [session]),
        ical.feed_calendar([event], name="Feed\nname"),
        ical.registration_invitation(registration),
    ]
    for data in files:
        control = [chr(c) for c in [*range(0, 9), *range(11, 13), *range(14, 32), 127]]
        assert not any(c.encode() in data for c in control if c not in "\r\n")
        content = data.decode()
        assert "\u2028" not in content
        assert all(line.endswith("\r") for line in content.split("\n")[:-1])  # CRLF only
        calendar = parse(data)
        for vevent in vevents(calendar):
            for name in ("summary", "location"):
                assert "\\n" not in vevent.contents[name][0].value
            assert "\n" not in vevent.organizer.params["CN"][0]
        by_icalendar = icalendar.Calendar.from_ical(data)
        assert by_icalendar.walk("VEVENT")
    [vevent, talk] = vevents(parse(files[0]))
    assert text(vevent.summary) == "Robots and cobots today"
    assert text(vevent.location) == "Tabakfabrik Linz, Peter-Behrens-Platz 1, 4020 Linz · Zoom"
    assert text(vevent.description).startswith("First line\nsecond line\tindented\n\n")
    assert text(talk.summary) == "Keynote (Robots and cobots today)"
    assert text(talk.location).startswith("Hall A, Tabakfabrik Linz")
    assert parse(files[1]).contents["x-wr-calname"][0].value == "Feed name"
    invited = vevents(parse(files[2]))[0]
    assert invited.attendee.params["CN"] == ["Anna 'Keller'"]
    assert invited.organizer.params["CN"] == ["Mechatronics Cluster"]
