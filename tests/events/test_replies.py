"""Calendar replies: a Decline pressed in Outlook, Gmail or Apple Calendar frees the seat;
everything that is not exactly the registrant's reply to the current invitation changes
nothing and is logged.

The replies are written the way those clients write them (headers, MIME structure and
iCalendar lines), from the invitation the member received in their mail.
"""

import logging
import re
import smtplib
import socket
from datetime import UTC, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from zoneinfo import ZoneInfo

import icalendar
import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.utils import timezone

from events import authoring, ical, replies, reply_addresses, services
from events.models import Event, Registration, Session
from events.replies import ReplyAction
from tests.events.factories import EventFactory, SessionFactory
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

Status = Registration.Status
DOMAIN = "replies.clusterhub.example"
ORGANISER_NAME = "Mechatronics Cluster Upper Austria"


# --- what the member's calendar client does -----------------------------------------------


def invitations_in(sent) -> list[icalendar.Event]:
    """The VEVENTs of the METHOD:REQUEST calendar parts of a mail, as a client reads them."""
    if not isinstance(sent, EmailMessage):
        sent = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    found = []
    for part in sent.walk():
        if part.get_content_type() == "text/calendar" and not part.is_attachment():
            calendar = icalendar.Calendar.from_ical(part.get_content())
            if str(calendar["method"]) == "REQUEST":
                found.extend(calendar.walk("VEVENT"))
    return found


def the_invitation(mailoutbox, email: str, uid: str | None = None) -> icalendar.Event:
    """The latest invitation `email` got (for `uid`, if given)."""
    entries = [
        vevent
        for sent in mailoutbox
        if sent.to == [email]
        for vevent in invitations_in(sent)
        if uid is None or str(vevent["uid"]) == uid
    ]
    assert entries, f"no invitation to {email}"
    return entries[-1]


def on_the_wire(message: EmailMessage) -> bytes:
    """The message as a mail server hands it on: CRLF line ends."""
    return message.as_bytes(policy=policy.SMTP)


def fold(line: str) -> str:
    """RFC 5545 line folding at 75 octets, never inside a UTF-8 character."""
    data, chunks = line.encode(), []
    while len(data) > 75:
        cut = 75 if not chunks else 74
        while data[cut] & 0xC0 == 0x80:
            cut -= 1
        chunks.append(data[:cut])
        data = data[cut:]
    chunks.append(data)
    return "\r\n ".join(chunk.decode() for chunk in chunks)


def ics(lines: list[str]) -> str:
    return "".join(fold(line) + "\r\n" for line in lines)


def _fields(invitation: icalendar.Event, uid: str | None, sequence: int | None) -> dict:
    return {
        "uid": uid or str(invitation["uid"]),
        "sequence": int(invitation["sequence"]) if sequence is None else sequence,
        "start": invitation.decoded("dtstart").astimezone(UTC),
        "end": invitation.decoded("dtend").astimezone(UTC),
        "summary": str(invitation["summary"]),
        "location": str(invitation.get("location", "")),
    }


VERBS = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative"}
VIENNA = ZoneInfo("Europe/Vienna")
STAMP = "20261206T104500Z"


def outlook_reply(
    invitation, *, to, attendee, name, partstat="DECLINED", uid=None, sequence=None, method="REPLY"
) -> bytes:
    """Outlook / Exchange: multipart/alternative, the calendar base64 in an alternative part,
    a Windows zone name, X-MICROSOFT-CDO lines and the calendarmessage Content-Class."""
    f = _fields(invitation, uid, sequence)
    verb = VERBS.get(partstat, partstat.title())
    zone = "W. Europe Standard Time"
    calendar = ics(
        [
            "BEGIN:VCALENDAR",
            f"METHOD:{method}",
            "PRODID:Microsoft Exchange Server 2010",
            "VERSION:2.0",
            "BEGIN:VTIMEZONE",
            f"TZID:{zone}",
            "BEGIN:STANDARD",
            "DTSTART:16010101T030000",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:16010101T020000",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            f"ORGANIZER;CN={ORGANISER_NAME}:mailto:{to}",
            f"ATTENDEE;PARTSTAT={partstat};CN={name}:mailto:{attendee}",
            "COMMENT;LANGUAGE=en-US:\\n",
            f"SUMMARY;LANGUAGE=en-US:{verb}: {f['summary']}",
            f"DTSTART;TZID={zone}:{f['start'].astimezone(VIENNA):%Y%m%dT%H%M%S}",
            f"DTEND;TZID={zone}:{f['end'].astimezone(VIENNA):%Y%m%dT%H%M%S}",
            f"UID:{f['uid']}",
            "CLASS:PUBLIC",
            "PRIORITY:5",
            f"DTSTAMP:{STAMP}",
            "TRANSP:OPAQUE",
            "STATUS:CONFIRMED",
            f"SEQUENCE:{f['sequence']}",
            f"LOCATION;LANGUAGE=en-US:{f['location']}",
            f"X-MICROSOFT-CDO-APPT-SEQUENCE:{f['sequence']}",
            "X-MICROSOFT-CDO-OWNERAPPTID:-1",
            "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
            "X-MICROSOFT-CDO-INTENDEDSTATUS:FREE",
            "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE",
            "X-MICROSOFT-CDO-IMPORTANCE:1",
            "X-MICROSOFT-CDO-INSTTYPE:0",
            "X-MICROSOFT-DONOTFORWARDMEETING:FALSE",
            "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
            "X-MICROSOFT-REQUESTEDATTENDANCEMODE:DEFAULT",
            "X-MICROSOFT-ISRESPONSEREQUESTED:FALSE",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    message = EmailMessage()
    message["From"] = formataddr((name, attendee))
    message["To"] = formataddr((ORGANISER_NAME, to))
    message["Subject"] = f"{verb}: {f['summary']}"
    message["Thread-Topic"] = f["summary"]
    message["Thread-Index"] = "AQHbR2xkVnWq1c3X0kK2oV5o0m3xvQ=="
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="AM0PR07MB4132.eurprd07.prod.outlook.com")
    message["Accept-Language"] = "en-US"
    message["Content-Language"] = "en-US"
    message["X-MS-Has-Attach"] = ""
    message["X-MS-TNEF-Correlator"] = ""
    message["Content-Class"] = "urn:content-classes:calendarmessage"
    message.set_content("\n", charset="us-ascii")
    message.add_alternative(calendar, subtype="calendar", cte="base64", params={"method": method})
    return on_the_wire(message)


def gmail_reply(
    invitation, *, to, attendee, name, partstat="DECLINED", uid=None, sequence=None, method="REPLY"
) -> bytes:
    """Gmail: text, HTML and `text/calendar; method=REPLY` as alternatives, UTC times, and
    the same calendar again as an `invite.ics` attachment (application/ics)."""
    f = _fields(invitation, uid, sequence)
    verb = VERBS.get(partstat, partstat.title())
    calendar = ics(
        [
            "BEGIN:VCALENDAR",
            "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
            "VERSION:2.0",
            "CALSCALE:GREGORIAN",
            f"METHOD:{method}",
            "BEGIN:VEVENT",
            f"DTSTART:{f['start']:%Y%m%dT%H%M%SZ}",
            f"DTEND:{f['end']:%Y%m%dT%H%M%SZ}",
            f"DTSTAMP:{STAMP}",
            f"ORGANIZER;CN={ORGANISER_NAME}:mailto:{to}",
            f"UID:{f['uid']}",
            f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};CN={name};"
            f"X-NUM-GUESTS=0:mailto:{attendee}",
            "CREATED:20261201T090000Z",
            "DESCRIPTION:",
            f"LAST-MODIFIED:{STAMP}",
            f"LOCATION:{f['location']}",
            f"SEQUENCE:{f['sequence']}",
            "STATUS:CONFIRMED",
            f"SUMMARY:{f['summary']}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    when = f["start"].astimezone(VIENNA)
    message = EmailMessage()
    message["From"] = formataddr((name, attendee))
    message["To"] = to
    message["Subject"] = f"{verb}: {f['summary']} @ {when:%a %d %b %Y %H:%M} (CET) ({attendee})"
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="mail.gmail.com")
    message["Reply-To"] = attendee
    message.set_content(f"{name} has {verb.lower()} this invitation.\n")
    message.add_alternative(f"<p>{name} has {verb.lower()} this invitation.</p>", subtype="html")
    message.add_alternative(calendar, subtype="calendar", cte="7bit", params={"method": method})
    message.add_attachment(
        calendar.encode(), maintype="application", subtype="ics", filename="invite.ics"
    )
    return on_the_wire(message)


def apple_reply(
    invitation, *, to, attendee, name, partstat="DECLINED", uid=None, sequence=None, method="REPLY"
) -> bytes:
    """Apple Calendar (through Mail): the calendar as a quoted-printable attachment."""
    f = _fields(invitation, uid, sequence)
    calendar = ics(
        [
            "BEGIN:VCALENDAR",
            f"METHOD:{method}",
            "VERSION:2.0",
            "PRODID:-//Apple Inc.//macOS 14.5//EN",
            "BEGIN:VEVENT",
            f"UID:{f['uid']}",
            f"DTSTART;TZID=Europe/Vienna:{f['start'].astimezone(VIENNA):%Y%m%dT%H%M%S}",
            f"DTEND;TZID=Europe/Vienna:{f['end'].astimezone(VIENNA):%Y%m%dT%H%M%S}",
            f"DTSTAMP:{STAMP}",
            f"SEQUENCE:{f['sequence']}",
            f"SUMMARY:{f['summary']}",
            f'ATTENDEE;CN="{name}";CUTYPE=INDIVIDUAL;EMAIL="{attendee}";'
            f"PARTSTAT={partstat};ROLE=REQ-PARTICIPANT:mailto:{attendee}",
            f'ORGANIZER;CN="{ORGANISER_NAME}":mailto:{to}',
            "REQUEST-STATUS:2.0;Success",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    message = EmailMessage()
    message["From"] = formataddr((name, attendee))
    message["To"] = formataddr((ORGANISER_NAME, to))
    message["Subject"] = f"Invitation: {f['summary']} ({partstat.lower()})"
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="icloud.com")
    message["X-Mailer"] = "Apple Mail (2.3774.600.62)"
    message.set_content("\n", charset="us-ascii")
    message.add_attachment(
        calendar,
        subtype="calendar",
        cte="quoted-printable",
        filename="iCal-20261206-104500.ics",
        params={"method": method},
    )
    return on_the_wire(message)


CLIENTS = {"outlook": outlook_reply, "gmail": gmail_reply, "apple": apple_reply}


# --- a full event with a waitlist ---------------------------------------------------------


@pytest.fixture(autouse=True)
def replies_on(settings):
    settings.CALENDAR_REPLY_DOMAIN = DOMAIN


@pytest.fixture
def hydrogen_day(cluster):
    return EventFactory(
        clusters=[cluster], title="Hydrogen Day", capacity=1, venue_name="Tabakfabrik Linz"
    )


@pytest.fixture
def next_in_line(organisation):
    return ProfileFactory(organisation=organisation, display_name="Chiara Rossi").user


@pytest.fixture
def full_event(
    hydrogen_day, member, colleague, next_in_line, mailoutbox, django_capture_on_commit_callbacks
):
    """Anna holds the one seat; Bruno and Chiara wait, in that order. Anna's invitation
    is in her mail; the outbox is empty again."""
    with django_capture_on_commit_callbacks(execute=True):
        holder = services.event_register(event=hydrogen_day, user=member.user)
        services.event_register(event=hydrogen_day, user=colleague.user)
        services.event_register(event=hydrogen_day, user=next_in_line)
    assert holder.status == Status.CONFIRMED
    invitation = the_invitation(mailoutbox, member.user.email)
    mailoutbox.clear()
    return holder, invitation


def state(event) -> list[tuple]:
    return list(
        Registration.objects.filter(event=event)
        .order_by("pk")
        .values_list("user__email", "status", "waitlist_position", "sequence")
    )


def statuses(event) -> dict[str, str]:
    return dict(Registration.objects.filter(event=event).values_list("user__email", "status"))


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Hand a message to the receiver's logic as the mail server would, mail sent on commit."""

    def run(raw: bytes, to: str) -> replies.ReplyOutcome:
        with django_capture_on_commit_callbacks(execute=True):
            return replies.reply_handle(raw=raw, recipients=[to])

    return run


def warnings_of(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "events.replies" and record.levelno == logging.WARNING
    ]


# --- the reply address --------------------------------------------------------------------


def test_there_is_no_reply_address_while_replies_are_off(settings, hydrogen_day, member):
    settings.CALENDAR_REPLY_DOMAIN = ""
    registration = services.event_register(event=hydrogen_day, user=member.user)
    assert reply_addresses.reply_address(registration=registration) is None


def test_each_registration_has_its_own_short_lower_case_reply_address(full_event, colleague):
    holder, _ = full_event
    waiting = Registration.objects.get(user=colleague.user)
    mine = reply_addresses.reply_address(registration=holder)
    theirs = reply_addresses.reply_address(registration=waiting)
    assert mine != theirs
    for address in (mine, theirs):
        local, domain = address.split("@")
        assert domain == DOMAIN
        assert re.fullmatch(r"rsvp\+[0-9]+-[a-z2-7]{26}", local)
        assert len(local) <= 64
    assert reply_addresses.reply_address(registration=holder) == mine  # stable across mails


def test_the_invitation_asks_for_a_reply_at_the_address_that_acts_on_it(
    full_event, member, colleague, deliver
):
    """The client answers ORGANIZER: with replies on, that is the person's signed address,
    RSVP=TRUE; a Decline sent exactly there frees the seat."""
    holder, invitation = full_event
    organizer = str(invitation["ORGANIZER"]).removeprefix("mailto:")
    assert organizer == reply_addresses.reply_address(registration=holder)
    assert invitation["ATTENDEE"].params["RSVP"] == "TRUE"
    raw = gmail_reply(invitation, to=organizer, attendee=member.user.email, name="Anna Keller")

    assert deliver(raw, organizer).action == ReplyAction.DECLINED
    assert statuses(holder.event)[colleague.user.email] == Status.CONFIRMED


def test_with_replies_off_the_invitation_names_the_organiser_and_asks_for_no_reply(
    settings, hydrogen_day, member, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    settings.CALENDAR_REPLY_DOMAIN = ""
    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=hydrogen_day, user=member.user)
    invitation = the_invitation(mailoutbox, member.user.email)
    assert str(invitation["ORGANIZER"]) == f"mailto:{organiser.email}"
    assert invitation["ATTENDEE"].params["RSVP"] == "FALSE"


# --- replies that act ---------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_decline_frees_the_seat_for_the_first_in_line_and_both_are_told(
    client, full_event, member, colleague, next_in_line, mailoutbox, deliver
):
    holder, invitation = full_event
    to = reply_addresses.reply_address(registration=holder)
    raw = CLIENTS[client](invitation, to=to, attendee=member.user.email, name="Anna Keller")

    outcome = deliver(raw, to)

    assert outcome.action == ReplyAction.DECLINED
    assert outcome.registration_id == holder.pk
    assert statuses(holder.event) == {
        member.user.email: Status.CANCELLED,
        colleague.user.email: Status.CONFIRMED,
        next_in_line.email: Status.WAITLISTED,
    }
    subjects = {sent.to[0]: sent.subject for sent in mailoutbox}
    assert "Registration cancelled" in subjects[member.user.email]
    assert "A seat is yours" in subjects[colleague.user.email]
    assert next_in_line.email not in subjects
    # The usual confirmation withdraws the entry from Anna's calendar.
    [cancellation] = [sent for sent in mailoutbox if sent.to == [member.user.email]]
    assert any(
        mimetype.startswith("text/calendar; method=CANCEL")
        for _, mimetype in cancellation.alternatives
    )


def test_a_decline_delivered_twice_frees_one_seat_and_tells_once(
    full_event, member, colleague, next_in_line, mailoutbox, deliver, caplog
):
    holder, invitation = full_event
    to = reply_addresses.reply_address(registration=holder)
    raw = outlook_reply(invitation, to=to, attendee=member.user.email, name="Anna Keller")
    assert deliver(raw, to).action == ReplyAction.DECLINED
    after_first = state(holder.event)
    told = len(mailoutbox)

    again = deliver(raw, to)

    assert again.action == ReplyAction.IGNORED
    assert state(holder.event) == after_first
    assert statuses(holder.event)[next_in_line.email] == Status.WAITLISTED
    assert len(mailoutbox) == told
    assert any("already cancelled" in message for message in warnings_of(caplog))


def test_an_accept_after_the_organiser_moved_the_event_is_kept_and_changes_nothing_else(
    full_event, organiser, member, mailoutbox, deliver, caplog, django_capture_on_commit_callbacks
):
    holder, _ = full_event
    event = holder.event
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(
            event=event,
            by=organiser,
            changes={
                "starts_at": event.starts_at + timedelta(days=1),
                "ends_at": event.ends_at + timedelta(days=1),
            },
        )
    moved = the_invitation(mailoutbox, member.user.email)
    before, told = state(event), len(mailoutbox)
    to = reply_addresses.reply_address(registration=holder)
    caplog.set_level(logging.INFO, logger="events.replies")

    outcome = deliver(
        gmail_reply(
            moved, to=to, attendee=member.user.email, name="Anna Keller", partstat="ACCEPTED"
        ),
        to,
    )

    assert outcome.action == ReplyAction.ACCEPTED
    assert state(event) == before
    assert len(mailoutbox) == told
    holder.refresh_from_db()
    assert holder.calendar_answer == "accepted"
    assert holder.calendar_answer_sequence == int(moved["sequence"])
    assert holder.calendar_answered_at is not None
    assert any(
        record.levelno == logging.INFO and "ACCEPTED" in record.getMessage()
        for record in caplog.records
        if record.name == "events.replies"
    )
    assert not warnings_of(caplog)


def test_a_decline_of_the_entry_from_before_the_move_cancels_nothing(
    full_event, organiser, member, mailoutbox, deliver, caplog, django_capture_on_commit_callbacks
):
    holder, before_the_move = full_event
    event = holder.event
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(
            event=event,
            by=organiser,
            changes={
                "starts_at": event.starts_at + timedelta(days=1),
                "ends_at": event.ends_at + timedelta(days=1),
            },
        )
    assert int(the_invitation(mailoutbox, member.user.email)["sequence"]) > int(
        before_the_move["sequence"]
    )
    before, told = state(event), len(mailoutbox)
    to = reply_addresses.reply_address(registration=holder)
    raw = outlook_reply(before_the_move, to=to, attendee=member.user.email, name="Anna Keller")

    assert deliver(raw, to).action == ReplyAction.IGNORED
    assert state(event) == before
    assert len(mailoutbox) == told
    assert "stale SEQUENCE" in warnings_of(caplog)[-1]


def test_a_maybe_is_kept_and_changes_nothing_else(full_event, member, mailoutbox, deliver):
    holder, invitation = full_event
    before = state(holder.event)
    to = reply_addresses.reply_address(registration=holder)
    raw = apple_reply(
        invitation, to=to, attendee=member.user.email, name="Anna Keller", partstat="TENTATIVE"
    )
    assert deliver(raw, to).action == ReplyAction.TENTATIVE
    assert state(holder.event) == before
    assert not mailoutbox
    holder.refresh_from_db()
    assert (holder.status, holder.calendar_answer) == (Status.CONFIRMED, "tentative")


def test_a_decline_from_another_verified_address_of_the_registrant_counts(
    full_event, member, deliver
):
    holder, invitation = full_event
    EmailAddress.objects.create(
        user=member.user, email="Anna.Keller@Keller-Antriebe.at", verified=True, primary=False
    )
    to = reply_addresses.reply_address(registration=holder)
    raw = outlook_reply(
        invitation, to=to, attendee="anna.keller@keller-antriebe.at", name="Anna Keller"
    )
    assert deliver(raw, to).action == ReplyAction.DECLINED
    assert statuses(holder.event)[member.user.email] == Status.CANCELLED


def test_a_reply_signed_with_a_rotated_key_still_counts(settings, full_event, member, deliver):
    holder, invitation = full_event
    to = reply_addresses.reply_address(registration=holder)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-after-rotation-" + "x" * 40
    assert reply_addresses.reply_address(registration=holder) != to
    raw = gmail_reply(invitation, to=to, attendee=member.user.email, name="Anna Keller")
    assert deliver(raw, to).action == ReplyAction.DECLINED


def test_a_decline_of_a_session_leaves_the_session_and_keeps_the_event(
    cluster, member, colleague, mailoutbox, deliver, django_capture_on_commit_callbacks, caplog
):
    event = EventFactory(clusters=[cluster], kind="conference", title="Robotics Summit")
    workshop = SessionFactory(event=event, title="Cobot safety workshop", capacity=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=event, user=member.user)
        services.event_register(event=event, user=colleague.user)
        seat = services.event_register(event=event, user=member.user, session=workshop)
        waiting = services.event_register(event=event, user=colleague.user, session=workshop)
    assert (seat.status, waiting.status) == (Status.CONFIRMED, Status.WAITLISTED)
    invitation = the_invitation(mailoutbox, member.user.email, uid=ical.session_uid(workshop))
    event_registration = Registration.objects.get(user=member.user, session=None)

    # The session's entry answered to the event registration's address does nothing.
    to_event = reply_addresses.reply_address(registration=event_registration)
    raw = outlook_reply(invitation, to=to_event, attendee=member.user.email, name="Anna Keller")
    assert deliver(raw, to_event).action == ReplyAction.IGNORED
    assert "the UID is not this registration's" in warnings_of(caplog)[-1]

    to = reply_addresses.reply_address(registration=seat)
    raw = outlook_reply(invitation, to=to, attendee=member.user.email, name="Anna Keller")
    assert deliver(raw, to).action == ReplyAction.DECLINED
    seat.refresh_from_db()
    waiting.refresh_from_db()
    event_registration.refresh_from_db()
    assert seat.status == Status.CANCELLED
    assert waiting.status == Status.CONFIRMED
    assert event_registration.status == Status.CONFIRMED


def test_a_decline_of_one_circle_meeting_keeps_the_place_in_the_circle(
    cluster, member, mailoutbox, deliver, django_capture_on_commit_callbacks, caplog
):
    circle = EventFactory(
        clusters=[cluster],
        kind=Event.Kind.MENTORING_CIRCLE,
        title="Women in Leadership circle",
        ends_at=timezone.now() + timedelta(days=40),
    )
    for week in range(3):
        SessionFactory(
            event=circle,
            kind=Session.Kind.MEETING,
            title=f"Meeting {week + 1}",
            starts_at=circle.starts_at + timedelta(weeks=week),
        )
    with django_capture_on_commit_callbacks(execute=True):
        place = services.event_register(event=circle, user=member.user)
    meeting = the_invitation(mailoutbox, member.user.email)  # each meeting is an entry
    to = reply_addresses.reply_address(registration=place)
    raw = outlook_reply(meeting, to=to, attendee=member.user.email, name="Anna Keller")

    assert deliver(raw, to).action == ReplyAction.IGNORED
    place.refresh_from_db()
    assert place.status == Status.CONFIRMED
    assert "one meeting of a series" in warnings_of(caplog)[-1]


# --- everything else changes nothing -------------------------------------------------------


def _swap_mac(address: str) -> str:
    local, domain = address.split("@")
    registration_id, mac = local.removeprefix("rsvp+").split("-")
    forged = "".join("a" if c != "a" else "b" for c in mac)
    return f"rsvp+{registration_id}-{forged}@{domain}"


def _other_id(address: str, other: Registration) -> str:
    """Another registration's id under this address's signature."""
    local, domain = address.split("@")
    _, mac = local.split("-")
    return f"rsvp+{other.pk}-{mac}@{domain}"


def _plain_mail(**_) -> bytes:
    message = EmailMessage()
    message["From"] = "Anna Keller <anna@example.org>"
    message["To"] = "rsvp@example.org"
    message["Subject"] = "Re: You are registered: Hydrogen Day"
    message.set_content("Sorry, I cannot come after all.\n")
    return on_the_wire(message)


def _broken_calendar(*, to, **_) -> bytes:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "Declined: Hydrogen Day"
    message.set_content("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID\r\n<html>")
    message.add_alternative(
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nthis is not iCalendar\r\n",
        subtype="calendar",
        params={"method": "REPLY"},
    )
    return on_the_wire(message)


def _two_vevents(invitation, *, to, attendee, name, **_) -> bytes:
    raw = gmail_reply(invitation, to=to, attendee=attendee, name=name)
    message = message_from_bytes(raw, policy=policy.default)
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    text = calendar.get_content()
    vevent = text[text.index("BEGIN:VEVENT") : text.index("END:VCALENDAR")]
    doubled = text.replace("END:VCALENDAR", vevent.replace("UID:", "UID:x") + "END:VCALENDAR")
    other = EmailMessage()
    other["To"] = to
    other.set_content(doubled, subtype="calendar", params={"method": "REPLY"})
    return on_the_wire(other)


FORGERIES = {
    # name: (how the message is made, where it is sent, the reason logged)
    "forged signature": (
        lambda inv, to, member, **_: outlook_reply(
            inv, to=_swap_mac(to), attendee=member, name="Anna Keller"
        ),
        _swap_mac,
        "not signed by this site",
    ),
    "someone else's registration under this signature": (
        lambda inv, to, member, other, **_: gmail_reply(
            inv, to=_other_id(to, other), attendee=member, name="Anna Keller"
        ),
        "other-id",
        "not signed by this site",
    ),
    "another person as ATTENDEE": (
        lambda inv, to, colleague, **_: outlook_reply(
            inv, to=to, attendee=colleague, name="Bruno Weiss"
        ),
        None,
        "the ATTENDEE is not the registrant",
    ),
    "an unverified address of the registrant": (
        lambda inv, to, **_: gmail_reply(
            inv, to=to, attendee="anna.private@example.net", name="Anna Keller"
        ),
        None,
        "the ATTENDEE is not the registrant",
    ),
    "another event's UID": (
        lambda inv, to, member, other_uid, **_: apple_reply(
            inv, to=to, attendee=member, name="Anna Keller", uid=other_uid
        ),
        None,
        "the UID is not this registration's",
    ),
    "a forwarded invitation, not a REPLY": (
        lambda inv, to, member, **_: gmail_reply(
            inv, to=to, attendee=member, name="Anna Keller", method="REQUEST"
        ),
        None,
        "no readable calendar part with METHOD:REPLY",
    ),
    "an answer that is none": (
        lambda inv, to, member, **_: outlook_reply(
            inv, to=to, attendee=member, name="Anna Keller", partstat="NEEDS-ACTION"
        ),
        None,
        "PARTSTAT NEEDS-ACTION is not an answer",
    ),
    "a mail without calendar": (lambda inv, to, **_: _plain_mail(), None, "no calendar part"),
    "a broken calendar": (
        lambda inv, to, **_: _broken_calendar(to=to),
        None,
        "no readable calendar part",
    ),
    "two VEVENTs": (
        lambda inv, to, member, **_: _two_vevents(inv, to=to, attendee=member, name="Anna Keller"),
        None,
        "holds 2 VEVENTs",
    ),
    "garbage": (lambda inv, to, **_: b"\x00\xff\xfe garbage\r\n\r\n\x80", None, "calendar"),
}


@pytest.mark.parametrize("case", FORGERIES)
def test_anything_but_the_registrants_reply_to_the_current_invitation_changes_nothing(
    case, cluster, full_event, member, colleague, mailoutbox, deliver, caplog
):
    holder, invitation = full_event
    make, send_to, reason = FORGERIES[case]
    to = reply_addresses.reply_address(registration=holder)
    other = Registration.objects.get(user=colleague.user)
    if send_to == "other-id":
        to_used = _other_id(to, other)
    elif send_to is not None:
        to_used = send_to(to)
    else:
        to_used = to
    raw = make(
        invitation,
        to=to,
        member=member.user.email,
        colleague=colleague.user.email,
        other=other,
        other_uid=ical.event_uid(EventFactory(clusters=[cluster])),
    )
    before = state(holder.event)

    outcome = deliver(raw, to_used)

    assert outcome.action == ReplyAction.IGNORED
    assert state(holder.event) == before
    assert not mailoutbox
    logged = warnings_of(caplog)
    assert len(logged) == 1 and reason in logged[0], logged
    assert member.user.email not in logged[0]  # the log names registrations, not people


def test_a_decline_after_the_event_is_over_changes_nothing(
    full_event, organiser, member, deliver, caplog
):
    holder, invitation = full_event
    services.attendance_mark(registration=holder, by=organiser)
    before = state(holder.event)
    to = reply_addresses.reply_address(registration=holder)
    raw = outlook_reply(invitation, to=to, attendee=member.user.email, name="Anna Keller")
    assert deliver(raw, to).action == ReplyAction.IGNORED
    assert state(holder.event) == before
    assert "cannot cancel" in warnings_of(caplog)[-1]


def test_replies_are_not_taken_while_replies_are_off(settings, full_event, member, deliver):
    holder, invitation = full_event
    to = reply_addresses.reply_address(registration=holder)
    settings.CALENDAR_REPLY_DOMAIN = ""
    raw = outlook_reply(invitation, to=to, attendee=member.user.email, name="Anna Keller")
    assert deliver(raw, to).action == ReplyAction.IGNORED
    assert statuses(holder.event)[member.user.email] == Status.CONFIRMED


# --- the receiver ---------------------------------------------------------------------------


@pytest.fixture
def listening():
    """Start the receiver (LMTP, or SMTP) on a free port; stopped at the end."""
    started = []

    def start(*, smtp: bool = False) -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        controller = replies.receiver(host="127.0.0.1", port=port, smtp=smtp)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


FORGED = f"rsvp+1-{'a' * 26}@{DOMAIN}"


def test_the_lmtp_receiver_takes_only_reply_addresses_and_answers_each_recipient(listening, caplog):
    with smtplib.LMTP("127.0.0.1", listening()) as lmtp:
        assert lmtp.ehlo_or_helo_if_needed() is None and lmtp.does_esmtp
        lmtp.mail("someone@example.org")
        assert lmtp.rcpt("organiser@mechatronics.example")[0] == 550
        assert lmtp.rcpt(f"rsvp+1-{'a' * 26}@other.example")[0] == 550
        assert lmtp.rcpt(FORGED)[0] == 250
        assert lmtp.rcpt(f"RSVP+2-{'B' * 26}@{DOMAIN.upper()}")[0] == 250
        # RFC 2033: after DATA, one answer per accepted recipient, and the
        # conversation stays in step.
        assert lmtp.data(b"Subject: hello\r\n\r\nnot a calendar reply\r\n")[0] == 250
        assert lmtp.getreply()[0] == 250
        assert lmtp.noop()[0] == 250
    assert warnings_of(caplog) == [
        "Calendar reply ignored (registration #?): the reply address is not signed by this site"
    ]


def test_the_receiver_speaks_smtp_for_trying_by_hand(listening):
    with smtplib.SMTP("127.0.0.1", listening(smtp=True)) as smtp:
        assert smtp.ehlo()[0] == 250
        refused = smtp.sendmail("someone@example.org", [FORGED, "x@example.org"], b"Hi\r\n")
        assert list(refused) == ["x@example.org"]


def test_the_receiver_does_not_start_without_a_reply_domain(settings):
    settings.CALENDAR_REPLY_DOMAIN = ""
    with pytest.raises(CommandError, match="CALENDAR_REPLY_DOMAIN"):
        call_command("receive_calendar_replies")
