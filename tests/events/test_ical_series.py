"""Series as meetings: a mentoring circle's meetings and a training's dates arrive in
calendars one meeting at a time, never as one block spanning months.

Every file is read by two independent parsers, icalendar and vobject; times are checked
against the VTIMEZONE each file carries (vobject) and against the database.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from django.urls import reverse
from django.utils import timezone

from events import authoring, ical, reminders, services
from events.models import CalendarFeed, Event, Registration, Session
from matchmaking import services as matchmaking_services
from matchmaking.models import Application, Match, Programme
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory, RegistrationFactory, SessionFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

pytestmark = pytest.mark.django_db
Status = Registration.Status
DAY = timedelta(days=1)


# --- reading files as two clients do -----------------------------------------------------


def vobject_instant(calendar, prop) -> datetime:
    """A DTSTART/DTEND as vobject reads it: UTC as written, or the wall-clock time read
    through the file's own VTIMEZONE (never a zone database looked up by name)."""
    if prop.value.endswith("Z"):
        return datetime.strptime(prop.value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    [tzid] = prop.params["TZID"]
    zones = {}
    for vtimezone in calendar.contents.get("vtimezone", []):
        vtimezone.transformToNative()
        zones[vtimezone.tzid.value] = vtimezone.gettzinfo()
    wall_clock = datetime.strptime(prop.value, "%Y%m%dT%H%M%S")  # noqa: DTZ007
    return wall_clock.replace(tzinfo=zones[tzid]).astimezone(UTC)


def read(data: bytes | str) -> dict:
    """{UID: (SEQUENCE, STATUS, start, end)} as both parsers read the file, which agree."""
    text = data.decode() if isinstance(data, bytes) else data
    by_icalendar = {}
    for vevent in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        by_icalendar[str(vevent["UID"])] = (
            int(vevent["SEQUENCE"]),
            str(vevent["STATUS"]),
            vevent.decoded("DTSTART").astimezone(UTC),
            vevent.decoded("DTEND").astimezone(UTC),
        )
    calendar = vobject.readOne(text, transform=False)
    by_vobject = {}
    for vevent in calendar.contents.get("vevent", []):
        by_vobject[vevent.uid.value] = (
            int(vevent.sequence.value),
            vevent.status.value,
            vobject_instant(calendar, vevent.dtstart),
            vobject_instant(calendar, vevent.dtend),
        )
    assert by_icalendar == by_vobject
    assert len(calendar.contents.get("vevent", [])) == len(by_vobject), "a UID appears twice"
    return by_vobject


def method_of(data: bytes | str) -> str:
    text = data.decode() if isinstance(data, bytes) else data
    return str(icalendar.Calendar.from_ical(text)["METHOD"])


def invitation_of(message) -> str:
    """The calendar a message carries: the RSVP part, identical to the attachment."""
    [inline] = [c for c, mimetype in message.alternatives if mimetype.startswith("text/calendar")]
    [attached] = [c for name, c, _ in message.attachments if name == "invitation.ics"]
    assert inline == attached
    return attached


def expected(meeting: Session, *, status: str = "CONFIRMED") -> tuple:
    meeting.refresh_from_db()
    event = Event.objects.get(pk=meeting.event_id)
    return (
        event.sequence + meeting.sequence,
        status,
        meeting.starts_at.replace(microsecond=0),
        meeting.ends_at.replace(microsecond=0),
    )


def uids(*meetings: Session) -> set[str]:
    return {ical.session_uid(meeting) for meeting in meetings}


# --- a circle, as the mentoring programme makes it ---------------------------------------


@pytest.fixture
def circle(cluster, organiser, mailoutbox, django_capture_on_commit_callbacks):
    """A published circle of six meetings over 140 days (every four weeks, 17:00 Vienna),
    its mentor and mentee registered through the programme, their mail cleared.

    The mentor's name holds a line break, which the circle's title must not keep. The
    registration mail is kept in `registration_mail`; the outbox is empty."""
    programme = ProgrammeFactory(
        clusters=[cluster],
        format=Programme.Format.CIRCLES,
        circle_size=2,
        timezone="Europe/Vienna",
        starts_on=(timezone.now() + 14 * DAY).date(),
        ends_on=(timezone.now() + 154 * DAY).date(),
    )
    mentor = ApplicationFactory(
        programme=programme, role=Application.Role.MENTOR, topics=[topic("Robotics")]
    )
    mentor.user.profile.display_name = "Eva\nHuber"
    mentor.user.profile.save(update_fields=["display_name"])
    ApplicationFactory(programme=programme, topics=[topic("Robotics")])
    matchmaking_services.programme_match_run(programme=programme, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        matchmaking_services.programme_publish(programme=programme, by=organiser)
    match = Match.objects.select_related("circle__event").get(programme=programme)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        matchmaking_services.match_respond(match=match, by=match.mentor.user, accept=True)
        matchmaking_services.match_respond(match=match, by=match.mentee.user, accept=True)
    event = match.circle.event
    event.registration_mail = [m for m in mailoutbox if m.subject.startswith("[Clusterhub] You")]
    mailoutbox.clear()
    return event


def meetings_of(event: Event) -> list[Session]:
    return list(event.sessions.order_by("starts_at"))


def test_a_circle_registration_mails_one_request_per_meeting_and_no_140_day_block(circle):
    meetings = meetings_of(circle)
    assert len(meetings) == 6
    vienna = ZoneInfo("Europe/Vienna")
    first, last = (m.starts_at.astimezone(vienna) for m in (meetings[0], meetings[-1]))
    assert (last.date() - first.date()).days == 140 and first.hour == last.hour == 17
    assert "\n" not in circle.title and circle.title.startswith("Circle of Eva Huber")
    registered = Registration.objects.filter(event=circle, status=Status.CONFIRMED)
    mailed = circle.registration_mail
    assert sorted(m.to[0] for m in mailed) == sorted(r.user.email for r in registered)

    for message in mailed:
        invitation = invitation_of(message)
        assert method_of(invitation) == "REQUEST"
        entries = read(invitation)
        assert entries == {ical.session_uid(m): expected(m) for m in meetings}
        assert ical.event_uid(circle) not in entries
        assert all(end - start <= timedelta(hours=2) for _, _, start, end in entries.values())
        for meeting in meetings:
            assert meeting.title in message.body  # the mail lists the meetings too


def test_the_personal_feed_lists_each_meeting_and_the_public_file_too(circle, client_for):
    meetings = meetings_of(circle)
    registration = Registration.objects.filter(event=circle).first()
    feed = CalendarFeed.objects.create(user=registration.user)
    client = client_for(registration.user)

    response = client_for(None).get(reverse("events:feed_personal", kwargs={"token": feed.token}))
    assert response.status_code == 200
    in_feed = read(response.content)
    public = read(client.get(reverse("events:calendar", kwargs={"slug": circle.slug})).content)
    mailed = read(client.get(reverse("events:invitation", kwargs={"slug": circle.slug})).content)

    wanted = {ical.session_uid(m): expected(m) for m in meetings}
    assert in_feed == public == mailed == wanted


def test_moving_one_meeting_mails_that_meeting_only_with_a_higher_sequence(
    circle, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    meetings = meetings_of(circle)
    third = meetings[2]
    before = expected(third)
    with django_capture_on_commit_callbacks(execute=True):
        authoring.session_update(
            session=third,
            by=organiser,
            changes={"starts_at": third.starts_at + DAY, "ends_at": third.ends_at + DAY},
        )

    assert len(mailoutbox) == 2  # mentor and mentee, once each
    for message in mailoutbox:
        invitation = invitation_of(message)
        assert method_of(invitation) == "REQUEST"
        entries = read(invitation)
        assert set(entries) == uids(third)
        sequence, status, start, _ = entries[ical.session_uid(third)]
        assert sequence > before[0]
        assert start == before[2] + DAY
        assert "Meeting 3" in message.subject
    # The other meetings did not change: the public file still has their SEQUENCE.
    public = read(ical.event_calendar(circle, circle.sessions.all()))
    assert public[ical.session_uid(third)] == expected(third)
    for meeting in meetings[:2] + meetings[3:]:
        assert public[ical.session_uid(meeting)][0] == expected(meeting)[0] == before[0]


def test_cancelling_one_meeting_mails_a_cancel_for_that_meeting_only(
    circle, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    meetings = meetings_of(circle)
    fourth = meetings[3]
    with django_capture_on_commit_callbacks(execute=True):
        assert authoring.session_cancel(session=fourth, by=organiser) == 2

    assert len(mailoutbox) == 2
    for message in mailoutbox:
        invitation = invitation_of(message)
        assert method_of(invitation) == "CANCEL"
        assert read(invitation) == {ical.session_uid(fourth): expected(fourth, status="CANCELLED")}
        assert "cancelled one meeting" in message.body
    # Everyone stays registered for the other meetings; a fresh invitation leaves it out
    # and the public file marks it cancelled.
    assert Registration.objects.filter(event=circle, status=Status.CONFIRMED).count() == 2
    registration = Registration.objects.filter(event=circle).first()
    again = read(ical.registration_invitation(registration))
    assert set(again) == uids(*meetings) - uids(fourth)
    public = read(ical.event_calendar(circle, circle.sessions.all()))
    assert public[ical.session_uid(fourth)][1] == "CANCELLED"


def test_cancelling_the_series_mails_a_cancel_of_every_meeting(
    circle, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    meetings = meetings_of(circle)
    with django_capture_on_commit_callbacks(execute=True):
        assert authoring.event_cancel(event=circle, by=organiser) == 2

    assert len(mailoutbox) == 2
    for message in mailoutbox:
        invitation = invitation_of(message)
        assert method_of(invitation) == "CANCEL"
        assert read(invitation) == {
            ical.session_uid(m): expected(m, status="CANCELLED") for m in meetings
        }


def test_leaving_the_circle_withdraws_every_meeting(
    circle, mailoutbox, django_capture_on_commit_callbacks
):
    meetings = meetings_of(circle)
    registration = Registration.objects.filter(event=circle).first()
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, by=registration.user)

    [message] = mailoutbox
    invitation = invitation_of(message)
    assert method_of(invitation) == "CANCEL"
    assert set(read(invitation)) == uids(*meetings)


def test_a_meeting_added_to_a_published_series_is_mailed_to_everyone_registered(
    circle, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    last = meetings_of(circle)[-1]
    authoring.event_update(event=circle, by=organiser, changes={"ends_at": last.ends_at + 30 * DAY})
    assert mailoutbox == []  # the span of a series is no calendar entry: nothing to tell
    with django_capture_on_commit_callbacks(execute=True):
        extra = authoring.session_create(
            event=circle,
            by=organiser,
            fields={
                "kind": Session.Kind.MEETING,
                "title": "Closing meeting",
                "starts_at": last.starts_at + 28 * DAY,
                "ends_at": last.ends_at + 28 * DAY,
            },
        )

    assert len(mailoutbox) == 2
    for message in mailoutbox:
        invitation = invitation_of(message)
        assert method_of(invitation) == "REQUEST"
        assert read(invitation) == {ical.session_uid(extra): expected(extra)}


def test_a_new_place_for_the_whole_series_updates_every_meeting(
    circle, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    meetings = meetings_of(circle)
    before = {ical.session_uid(m): expected(m) for m in meetings}
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(event=circle, by=organiser, changes={"online_platform": "Teams"})

    assert len(mailoutbox) == 2
    for message in mailoutbox:
        invitation = invitation_of(message)
        assert method_of(invitation) == "REQUEST"
        entries = read(invitation)
        assert entries == {ical.session_uid(m): expected(m) for m in meetings}
        assert all(entries[uid][0] == before[uid][0] + 1 for uid in entries)
        locations = {
            str(v["LOCATION"]) for v in icalendar.Calendar.from_ical(invitation).walk("VEVENT")
        }
        assert locations == {"Teams"}


def test_reminders_fire_before_each_meeting_once_each(
    circle, mailoutbox, django_capture_on_commit_callbacks
):
    first, second = meetings_of(circle)[:2]

    def sweep(now):
        with django_capture_on_commit_callbacks(execute=True):
            return reminders.reminders_send_due(now=now)

    assert sweep(first.starts_at - DAY + timedelta(minutes=1)) == 2
    assert sweep(first.starts_at - DAY + timedelta(minutes=3)) == 0
    assert sweep(second.starts_at - DAY + timedelta(minutes=1)) == 2
    assert sweep(second.starts_at - DAY + timedelta(minutes=2)) == 0

    keys = list(
        OutboxMessage.objects.filter(kind="events.reminder").values_list(
            "idempotency_key", flat=True
        )
    )
    assert len(keys) == len(set(keys)) == 4
    first_mail, _, second_mail, _ = mailoutbox
    assert set(read(first_mail.attachments[0][1])) == uids(first)
    assert set(read(second_mail.attachments[0][1])) == uids(second)
    assert "Meeting 1" in first_mail.subject and "Meeting 2" in second_mail.subject


def test_a_cancelled_meeting_sends_no_reminder(
    circle, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    first = meetings_of(circle)[0]
    authoring.session_cancel(session=first, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.reminders_send_due(now=first.starts_at - DAY) == 0


# --- which events are series -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "session_kinds", "series"),
    [
        (Event.Kind.MENTORING_CIRCLE, ["meeting", "meeting"], True),
        (Event.Kind.TRAINING, ["workshop", "workshop", "break"], True),
        (Event.Kind.BROKERAGE, ["meeting", "break"], True),
        (Event.Kind.CONFERENCE, ["talk", "panel", "meeting"], False),
        (Event.Kind.CONFERENCE, ["break"], False),
        (Event.Kind.TRAINING, [], False),
        (Event.Kind.WEBINAR, [], False),
    ],
)
def test_which_events_are_series(cluster, kind, session_kinds, series):
    event = EventFactory(clusters=[cluster], kind=kind)
    for number, session_kind in enumerate(session_kinds):
        SessionFactory(event=event, kind=session_kind, starts_at=event.starts_at + number * DAY)
    sessions = list(event.sessions.all())
    assert ical.is_series(event, sessions) is series
    entries = read(ical.event_calendar(event, sessions))
    if series:
        assert ical.event_uid(event) not in entries
        parts = [s for s in sessions if s.kind != Session.Kind.BREAK]
        assert set(entries) == uids(*parts)
    else:
        assert ical.event_uid(event) in entries


def test_a_training_over_three_dates_is_three_entries_in_the_cluster_feed(cluster, client_for):
    training = EventFactory(
        clusters=[cluster],
        kind=Event.Kind.TRAINING,
        audience=Event.Audience.PUBLIC,
        ends_at=timezone.now() + 30 * DAY,
    )
    days = [
        SessionFactory(
            event=training,
            kind=Session.Kind.WORKSHOP,
            title=f"Day {n + 1}",
            starts_at=training.starts_at + n * 7 * DAY,
        )
        for n in range(3)
    ]
    webinar = EventFactory(clusters=[cluster], audience=Event.Audience.PUBLIC)
    url = reverse("events:feed_cluster", kwargs={"cluster_slug": cluster.slug})
    entries = read(client_for(None).get(url).content)
    assert set(entries) == uids(*days) | {ical.event_uid(webinar)}


def test_a_session_seat_in_a_series_is_no_second_entry_in_the_feed(cluster, member):
    training = EventFactory(
        clusters=[cluster], kind=Event.Kind.TRAINING, ends_at=timezone.now() + 30 * DAY
    )
    first = SessionFactory(event=training, kind=Session.Kind.WORKSHOP)
    second = SessionFactory(
        event=training, kind=Session.Kind.WORKSHOP, starts_at=first.starts_at + 7 * DAY
    )
    RegistrationFactory(event=training, user=member.user)
    RegistrationFactory(event=training, session=first, user=member.user)
    registrations = Registration.objects.filter(user=member.user).select_related("event", "session")
    entries = read(ical.registrations_feed(registrations, name="Mine"))
    assert set(entries) == uids(first, second)


def test_a_meeting_of_a_series_has_no_seat_of_its_own(client_for, cluster, member):
    """The series' registration holds a seat in every meeting: the page offers no session
    button and the service refuses a meeting on its own (it would add a second entry)."""
    start = timezone.now() + timedelta(days=20)
    training = EventFactory(
        clusters=[cluster], kind=Event.Kind.TRAINING, starts_at=start,
        ends_at=start + timedelta(days=14),
    )  # fmt: skip
    first = SessionFactory(
        event=training, kind=Session.Kind.MEETING, starts_at=start,
        ends_at=start + timedelta(hours=2),
    )  # fmt: skip
    services.event_register(event=training, user=member.user)

    page = client_for(member.user).get(training.get_absolute_url()).content.decode()

    assert "Register for this session" not in page
    with pytest.raises(services.RegistrationError):
        services.event_register(event=training, user=member.user, session=first)
    assert not Registration.objects.filter(session=first).exists()
