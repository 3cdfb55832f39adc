"""iCalendar files of events: public downloads, personal invitations and subscription feeds.

Pure builders: they take model instances (with their clusters and sessions already loaded)
and return the bytes of a calendar. Nothing here queries for more than it is given.

- UIDs are stable per event and per session and carry no personal data, so a client that
  imports the public file and later the invitation sees one event, not two.
- SEQUENCE is the event's (and the session's) counter, which rises on every change of time,
  place or status; an invitation adds the registration's counter, which rises when that
  person cancels or registers again.
- Times are written in the event's own zone (TZID) with a VTIMEZONE for it.
- The online join link appears only in the invitation of a confirmed participant.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
from django.conf import settings
from django.utils import timezone

from events.models import Event, Registration, Session

CONTENT_TYPE = "text/calendar; charset=utf-8"

METHOD_PUBLISH = "PUBLISH"
METHOD_REQUEST = "REQUEST"
METHOD_CANCEL = "CANCEL"

_ATTENDING = (
    Registration.Status.CONFIRMED,
    Registration.Status.ATTENDED,
    Registration.Status.NO_SHOW,
)
_TENTATIVE = (Registration.Status.PENDING, Registration.Status.WAITLISTED)
_GONE = (Registration.Status.CANCELLED, Registration.Status.DECLINED)


def _host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def event_uid(event: Event) -> str:
    return f"event-{event.uid}@{_host()}"


def session_uid(session: Session) -> str:
    return f"session-{session.uid}@{_host()}"


def _calendar(*, method: str | None, name: str | None = None) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{settings.SITE_NAME}//Events//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("x-wr-calname", name)
        calendar.add("name", name)
    return calendar


def _finish(calendar: icalendar.Calendar, starts: Iterable[datetime]) -> bytes:
    """Add a VTIMEZONE for every zone used, covering the years of the events only."""
    starts = list(starts)
    if starts:
        first = min(starts).date() - timedelta(days=366)
        last = max(starts).date() + timedelta(days=2 * 366)
    else:
        first = last = date.today()  # noqa: DTZ011 - no events, no zones: unused
    calendar.add_missing_timezones(first_date=first, last_date=last)
    return calendar.to_ical()


def _local(moment: datetime, event: Event) -> datetime:
    return moment.astimezone(ZoneInfo(event.timezone))


def _event_url(event: Event) -> str:
    return settings.SITE_URL + event.get_absolute_url()


def _location(event: Event, *, room: str = "", join_link: bool = False) -> str:
    place = ", ".join(part for part in (room, event.venue_name, event.venue_address) if part)
    online = ""
    if event.is_online:
        online = event.online_platform or "Online"
        if join_link and event.online_url:
            online = f"{online}: {event.online_url}"
    return " · ".join(part for part in (place, online) if part)


def _description(summary: str, event: Event, *, join_link: bool = False) -> str:
    parts = [summary] if summary else []
    if join_link and event.online_url:
        parts.append(f"Join: {event.online_url}")
    parts.append(_event_url(event))
    return "\n\n".join(parts)


def _event_status(event: Event) -> str:
    return "CANCELLED" if event.status == Event.Status.CANCELLED else "CONFIRMED"


def _vevent(
    *,
    event: Event,
    session: Session | None = None,
    sequence_extra: int = 0,
    status: str | None = None,
    join_link: bool = False,
    stamp: datetime,
) -> icalendar.Event:
    vevent = icalendar.Event()
    if session is None:
        vevent.add("uid", event_uid(event))
        vevent.add("summary", event.title)
        vevent.add("dtstart", _local(event.starts_at, event))
        vevent.add("dtend", _local(event.ends_at, event))
        vevent.add("sequence", event.sequence + sequence_extra)
        location = _location(event, join_link=join_link)
        description = _description(event.summary, event, join_link=join_link)
        default_status = _event_status(event)
    else:
        vevent.add("uid", session_uid(session))
        vevent.add("summary", f"{session.title} ({event.title})")
        vevent.add("dtstart", _local(session.starts_at, event))
        vevent.add("dtend", _local(session.ends_at, event))
        # A session changes when it changes itself or when its event does (cancellation).
        vevent.add("sequence", event.sequence + session.sequence + sequence_extra)
        location = _location(event, room=session.room, join_link=join_link)
        track = f"{session.get_kind_display()}" + (f" · {session.track}" if session.track else "")
        description = _description(track, event, join_link=join_link)
        default_status = "CANCELLED" if session.is_cancelled else _event_status(event)
    vevent.add("dtstamp", stamp)
    vevent.add("last-modified", (session or event).updated_at)
    vevent.add("status", status or default_status)
    vevent.add("url", _event_url(event))
    vevent.add("description", description)
    if location:
        vevent.add("location", location)
    return vevent


def event_calendar(event: Event, sessions: Iterable[Session] = ()) -> bytes:
    """The public file of an event, or of a conference with its sessions. No join link."""
    stamp = timezone.now()
    sessions = list(sessions)
    calendar = _calendar(method=METHOD_PUBLISH, name=event.title)
    calendar.add_component(_vevent(event=event, stamp=stamp))
    for session in sessions:
        calendar.add_component(_vevent(event=event, session=session, stamp=stamp))
    return _finish(calendar, [event.starts_at, *(s.starts_at for s in sessions)])


def _organizer(event: Event) -> icalendar.vCalAddress:
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    organizer = icalendar.vCalAddress(f"mailto:{address}")
    clusters = list(event.clusters.all())
    organizer.params["CN"] = clusters[0].name if clusters else settings.SITE_NAME
    return organizer


def _attendee(registration: Registration) -> icalendar.vCalAddress:
    user = registration.user
    attendee = icalendar.vCalAddress(f"mailto:{user.email}")
    profile = getattr(user, "profile", None)
    if profile is not None and profile.display_name:
        attendee.params["CN"] = profile.display_name
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    if registration.status in _ATTENDING:
        attendee.params["PARTSTAT"] = "ACCEPTED"
    elif registration.status in _TENTATIVE:
        attendee.params["PARTSTAT"] = "TENTATIVE"
    else:
        attendee.params["PARTSTAT"] = "DECLINED"
    attendee.params["RSVP"] = "FALSE"
    return attendee


def invitation_method(registration: Registration) -> str:
    """CANCEL when the registration, its session or its event is cancelled; REQUEST otherwise."""
    if registration.status in _GONE or registration.event.status == Event.Status.CANCELLED:
        return METHOD_CANCEL
    if registration.session_id and registration.session.is_cancelled:
        return METHOD_CANCEL
    return METHOD_REQUEST


def registration_invitation(registration: Registration, method: str | None = None) -> bytes:
    """One person's iTIP invitation (REQUEST) or its withdrawal (CANCEL).

    `method` defaults to what the registration's state calls for.
    """
    method = method or invitation_method(registration)
    event = registration.event
    session = registration.session if registration.session_id else None
    cancelled = method == METHOD_CANCEL
    if cancelled:
        status = "CANCELLED"
    elif registration.status in _TENTATIVE:
        status = "TENTATIVE"
    else:
        status = "CONFIRMED"
    join_link = not cancelled and registration.status == Registration.Status.CONFIRMED
    vevent = _vevent(
        event=event,
        session=session,
        sequence_extra=registration.sequence,
        status=status,
        join_link=join_link,
        stamp=timezone.now(),
    )
    vevent.add("organizer", _organizer(event))
    vevent.add("attendee", _attendee(registration))
    calendar = _calendar(method=method)
    calendar.add_component(vevent)
    return _finish(calendar, [(session or event).starts_at])


def feed_calendar(events: Iterable[Event], *, name: str) -> bytes:
    """A subscription feed of events (a cluster's public events). No join links."""
    stamp = timezone.now()
    events = list(events)
    calendar = _calendar(method=METHOD_PUBLISH, name=name)
    for event in events:
        calendar.add_component(_vevent(event=event, stamp=stamp))
    return _finish(calendar, [event.starts_at for event in events])


def registrations_feed(registrations: Iterable[Registration], *, name: str) -> bytes:
    """A person's subscription feed: the events and sessions they are registered for.

    Waitlisted and pending places are TENTATIVE. No join links: a feed URL travels
    through calendar services; the event page shows the link to the signed-in participant.
    """
    stamp = timezone.now()
    registrations = list(registrations)
    calendar = _calendar(method=METHOD_PUBLISH, name=name)
    starts = []
    for registration in registrations:
        event = registration.event
        session = registration.session if registration.session_id else None
        status = "TENTATIVE" if registration.status in _TENTATIVE else None
        if event.status == Event.Status.CANCELLED or (session and session.is_cancelled):
            status = "CANCELLED"
        calendar.add_component(_vevent(event=event, session=session, status=status, stamp=stamp))
        starts.append((session or event).starts_at)
    return _finish(calendar, starts)
