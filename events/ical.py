"""iCalendar files of events: public downloads, personal invitations and subscription feeds.

Builders: they take model instances and return the bytes of a calendar. They read
nothing but an event's sessions (use the prefetched ones when given) and, once per file
for all its events, who organises them (`calendar_selectors.organisers_load`).

Series. An event is a *series* when its dated parts are the event: it has at least one
session that is not a break, and either every such session is a MEETING, or the event
is a mentoring circle or a training (`is_series`). A registration for a series holds a
seat in every meeting; so every calendar shows one VEVENT per meeting, with the
meeting's own UID (the session's), and never a VEVENT spanning the series: in the
invitation mail, in the personal feed, in the cluster feed and in the public file.
Moving one meeting mails a REQUEST for that meeting only; cancelling one, a CANCEL for
that meeting only; cancelling the series or the registration, a CANCEL of every
meeting. Any other event with sessions (a conference) keeps its own VEVENT, and each
session someone holds a seat in is a VEVENT of its own.

Identity. UIDs are stable per event and per session and carry no personal data, so a
client that imports the public file and later the invitation sees one entry, not two.
SEQUENCE and LAST-MODIFIED belong to the calendar object and are the same wherever its
UID appears (public file, cluster feed, personal feed, mail): an event's SEQUENCE is
`event.sequence`, which rises on every change of its time, place or status; a session's
is `event.sequence + session.sequence`, since a session changes with its event too.
A person's own changes (cancelling, registering again, a promotion) do not change the
object, so they do not raise SEQUENCE: they are told by METHOD (REQUEST or CANCEL),
ATTENDEE;PARTSTAT and a newer DTSTAMP, which RFC 5546 (2.1.5) makes the tie-breaker
between messages of the same SEQUENCE. Raising SEQUENCE per person instead would make
the mail newer than the feed and the public file, and clients holding the invitation
would treat those as stale. ORGANIZER names the organising cluster (CN) with the address
of its first organiser; in a person's invitation, with calendar replies on, their signed
reply address instead, with RSVP=TRUE (`_organizer`, the single place that decides it).

Time zones. Times are written in the event's own zone (TZID) with a VTIMEZONE built
from `zoneinfo`, one STANDARD or DAYLIGHT observance per transition (no RRULE, no
multi-valued RDATE, which ical.js and vobject read only in part), from a year before
the first time written to three years after the last. A time in a repeated (autumn)
local hour is written in UTC (`...Z`), since its wall-clock reading is ambiguous.

Text. Control characters never reach a file: one-line properties (SUMMARY, LOCATION,
calendar names, CN) get line breaks as spaces; DESCRIPTION keeps line breaks and tabs,
which icalendar escapes.

The online join link appears only in the invitation of a confirmed participant.
"""

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from events.calendar_selectors import event_organisers, organisers_load
from events.models import Event, Registration, Session
from events.reply_addresses import reply_address

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

SERIES_KINDS = (Event.Kind.MENTORING_CIRCLE, Event.Kind.TRAINING)

# VTIMEZONE blocks cover this many years before the first and after the last time.
ZONE_YEARS_BEFORE = 1
ZONE_YEARS_AFTER = 3
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"}


# --- text --------------------------------------------------------------------------------

# C0 controls but tab and line feed, DEL and C1 controls; line separators too.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def one_line(value: str) -> str:
    """`value` as one line: line breaks, tabs and other whitespace runs become one space,
    control characters go."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", value or "")).strip()


def multi_line(value: str) -> str:
    """`value` with its line breaks (as LF) and tabs, without other control characters."""
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value).strip()


def _param(value: str) -> str:
    """A parameter value (CN): one line, without the double quote that would end it."""
    return one_line(value).replace('"', "'")


# --- identity ----------------------------------------------------------------------------


def _host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def event_uid(event: Event) -> str:
    return f"event-{event.uid}@{_host()}"


def session_uid(session: Session) -> str:
    return f"session-{session.uid}@{_host()}"


def _sequence(event: Event, session: Session | None = None) -> int:
    return event.sequence + (session.sequence if session is not None else 0)


def _last_modified(event: Event, session: Session | None = None) -> datetime:
    if session is None:
        return event.updated_at
    return max(event.updated_at, session.updated_at)


def _organizer(event: Event, registration: Registration | None = None) -> icalendar.vCalAddress:
    """ORGANIZER of every VEVENT of `event`: the organising cluster, reached at the
    address of its first organiser (the site's sender when the clusters have none).

    `registration` is the person a message goes to (None in files and feeds): with
    calendar replies on, their invitation names their signed reply address instead, so
    that Accept/Decline reaches `events.replies`.
    """
    organiser = event_organisers(event=event)[0]
    reply_to = reply_address(registration=registration) if registration is not None else None
    address = icalendar.vCalAddress(f"mailto:{reply_to or organiser.email}")
    address.params["CN"] = _param(organiser.cluster_name)
    return address


def _attendee(registration: Registration) -> icalendar.vCalAddress:
    user = registration.user
    attendee = icalendar.vCalAddress(f"mailto:{user.email}")
    profile = getattr(user, "profile", None)
    if profile is not None and _param(profile.display_name):
        attendee.params["CN"] = _param(profile.display_name)
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    if registration.status in _ATTENDING:
        attendee.params["PARTSTAT"] = "ACCEPTED"
    elif registration.status in _TENTATIVE:
        attendee.params["PARTSTAT"] = "TENTATIVE"
    else:
        attendee.params["PARTSTAT"] = "DECLINED"
    # A reply is asked for only where one can arrive (`events.replies`).
    attendee.params["RSVP"] = "TRUE" if reply_address(registration=registration) else "FALSE"
    return attendee


# --- series ------------------------------------------------------------------------------


def _parts(sessions: Iterable[Session]) -> list[Session]:
    return [s for s in sessions if s.kind != Session.Kind.BREAK]


def is_series(event: Event, sessions: Iterable[Session]) -> bool:
    """Whether `event` is its dated parts (a circle's meetings, a training's dates)."""
    parts = _parts(sessions)
    if not parts:
        return False
    return event.kind in SERIES_KINDS or all(s.kind == Session.Kind.MEETING for s in parts)


def meetings(event: Event, sessions: Iterable[Session]) -> list[Session]:
    """The meetings of a series (cancelled ones included), in order; [] for other events."""
    sessions = list(sessions)
    if not is_series(event, sessions):
        return []
    return sorted(_parts(sessions), key=lambda s: (s.starts_at, s.track, s.pk))


def event_meetings(event: Event) -> list[Session]:
    """The meetings of `event` if it is a series (from its prefetched sessions if any)."""
    return meetings(event, event.sessions.all())


# --- time zones --------------------------------------------------------------------------


def _zone_state(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, str, bool]:
    local = moment.astimezone(zone)
    return local.utcoffset(), local.tzname() or "", bool(local.dst())


@functools.lru_cache(maxsize=128)
def _observances(key: str, first_year: int, last_year: int) -> tuple:
    """(onset UTC, offset before, offset after, name, is DST) of the zone from 1 January
    of `first_year` to the end of `last_year`: the state at the start, then each change."""
    zone = ZoneInfo(key)
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    offset, name, dst = _zone_state(zone, moment)
    found = [(moment, offset, offset, name, dst)]
    step = timedelta(hours=6)
    while moment < end:
        following = moment + step
        state = _zone_state(zone, following)
        if state != (offset, name, dst):
            low, high = moment, following  # the change is in (low, high]
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _zone_state(zone, middle) == (offset, name, dst):
                    low = middle
                else:
                    high = middle
            onset = high.replace(microsecond=0)
            found.append((onset, offset, state[0], state[1], state[2]))
            offset, name, dst = state
        moment = following
    return tuple(found)


@functools.lru_cache(maxsize=128)
def _vtimezone_ical(key: str, first_year: int, last_year: int) -> bytes:
    """The VTIMEZONE block, serialised once per zone and years: building and writing it
    is most of the cost of a one-event calendar, and every calendar repeats it."""
    return _vtimezone(key, first_year, last_year).to_ical()


def _vtimezone(key: str, first_year: int, last_year: int) -> icalendar.Timezone:
    vtimezone = icalendar.Timezone()
    vtimezone.add("tzid", key)
    for onset, before, after, name, dst in _observances(key, first_year, last_year):
        observance = icalendar.TimezoneDaylight() if dst else icalendar.TimezoneStandard()
        # DTSTART is the local time of the onset as read before it (RFC 5545 3.8.2.4).
        observance.add("dtstart", (onset + before).replace(tzinfo=None))
        observance.add("tzoffsetfrom", before)
        observance.add("tzoffsetto", after)
        if name:
            observance.add("tzname", name)
        vtimezone.add_component(observance)
    return vtimezone


def _zone(name: str) -> ZoneInfo | None:
    """The event's zone; None for UTC and unknown names (written in UTC then)."""
    if name in _UTC_NAMES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _ambiguous(local: datetime) -> bool:
    """Whether the wall-clock reading of `local` happens twice (or never) in its zone."""
    wall = local.replace(tzinfo=None)
    zone = local.tzinfo
    return (
        wall.replace(tzinfo=zone, fold=0).utcoffset()
        != wall.replace(tzinfo=zone, fold=1).utcoffset()
    )


# --- files -------------------------------------------------------------------------------


class _File:
    """One calendar being written: its VEVENTs (one per UID) and the zones they use."""

    def __init__(self, *, method: str, name: str | None = None):
        self.method = method
        self.name = one_line(name or "")
        self.vevents: list[icalendar.Event] = []
        self.uids: set[str] = set()
        self.zone_years: dict[str, list[int]] = {}
        self.stamp = timezone.now()

    def time(self, moment: datetime, zone_name: str) -> datetime:
        """How `moment` is written: in the event's zone, or in UTC when that reading
        would be ambiguous (or the zone is UTC)."""
        zone = _zone(zone_name)
        if zone is None:
            return moment.astimezone(UTC)
        local = moment.astimezone(zone)
        if _ambiguous(local):
            return moment.astimezone(UTC)
        self.zone_years.setdefault(zone.key, []).append(local.year)
        return local

    def add(self, vevent: icalendar.Event) -> None:
        uid = str(vevent["UID"])
        if uid not in self.uids:
            self.uids.add(uid)
            self.vevents.append(vevent)

    def to_ical(self) -> bytes:
        calendar = icalendar.Calendar()
        calendar.add("prodid", f"-//{one_line(settings.SITE_NAME)}//Events//EN")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", self.method)
        if self.name:
            calendar.add("x-wr-calname", self.name)
            calendar.add("name", self.name)
        for vevent in self.vevents:
            calendar.add_component(vevent)
        text = calendar.to_ical()
        zones = b"".join(
            _vtimezone_ical(key, min(years) - ZONE_YEARS_BEFORE, max(years) + ZONE_YEARS_AFTER)
            for key, years in sorted(self.zone_years.items())
        )
        # The zones go where icalendar would put them, before the first VEVENT: after the
        # calendar's own properties (a line that is exactly BEGIN:VEVENT starts a component).
        first = text.find(b"\r\nBEGIN:VEVENT\r\n") + 2
        at = first if first > 1 else text.rindex(b"END:VCALENDAR")
        return text[:at] + zones + text[at:]


# --- for other apps' entries (brokerage meetings) ----------------------------------------


def calendar_file(*, method: str, name: str | None = None) -> _File:
    """A calendar being written, for entries built elsewhere (`matchmaking.brokerage`):
    `time()` writes a moment in its event's zone (with the VTIMEZONE), `add()` a VEVENT,
    `to_ical()` gives the bytes. Text goes through `one_line` / `multi_line`."""
    return _File(method=method, name=name)


def uid_host() -> str:
    """The host part of every UID the site writes."""
    return _host()


def event_organizer(event: Event) -> icalendar.vCalAddress:
    """ORGANIZER as every calendar of `event` names it (no personal reply address)."""
    return _organizer(event)


def cn_param(value: str) -> str:
    """A CN parameter value: one line, without double quotes."""
    return _param(value)


def _event_url(event: Event) -> str:
    return settings.SITE_URL + event.get_absolute_url()


def _location(event: Event, *, room: str = "", join_link: bool = False) -> str:
    address = ", ".join(one_line(line) for line in multi_line(event.venue_address).split("\n"))
    parts = (one_line(room), one_line(event.venue_name), address)
    place = ", ".join(part for part in parts if part)
    online = ""
    if event.is_online:
        online = one_line(event.online_platform) or _("Online")
        if join_link and event.online_url:
            online = f"{online}: {one_line(event.online_url)}"
    return " · ".join(part for part in (place, online) if part)


def _description(summary: str, event: Event, *, join_link: bool = False) -> str:
    parts = [multi_line(summary)] if multi_line(summary) else []
    if join_link and event.online_url:
        parts.append(_("Join: %(url)s") % {"url": one_line(event.online_url)})
    parts.append(_event_url(event))
    return "\n\n".join(parts)


def _event_status(event: Event) -> str:
    return "CANCELLED" if event.status == Event.Status.CANCELLED else "CONFIRMED"


def _vevent(
    file: _File,
    *,
    event: Event,
    session: Session | None = None,
    status: str | None = None,
    join_link: bool = False,
    registration: Registration | None = None,
) -> icalendar.Event:
    """The VEVENT of `event`, or of one of its sessions; with `registration`, the
    person's own copy (ATTENDEE), for a message."""
    vevent = icalendar.Event()
    if session is None:
        vevent.add("uid", event_uid(event))
        vevent.add("summary", one_line(event.title))
        starts_at, ends_at = event.starts_at, event.ends_at
        location = _location(event, join_link=join_link)
        description = _description(event.summary, event, join_link=join_link)
        default_status = _event_status(event)
    else:
        vevent.add("uid", session_uid(session))
        vevent.add("summary", f"{one_line(session.title)} ({one_line(event.title)})")
        starts_at, ends_at = session.starts_at, session.ends_at
        location = _location(event, room=session.room, join_link=join_link)
        track = session.get_kind_display() + (
            f" · {one_line(session.track)}" if one_line(session.track) else ""
        )
        description = _description(track, event, join_link=join_link)
        default_status = "CANCELLED" if session.is_cancelled else _event_status(event)
    vevent.add("dtstart", file.time(starts_at, event.timezone))
    vevent.add("dtend", file.time(ends_at, event.timezone))
    vevent.add("sequence", _sequence(event, session))
    vevent.add("dtstamp", file.stamp)
    vevent.add("last-modified", _last_modified(event, session))
    vevent.add("status", status or default_status)
    vevent.add("organizer", _organizer(event, registration))
    if registration is not None:
        vevent.add("attendee", _attendee(registration))
    vevent.add("url", _event_url(event))
    vevent.add("description", description)
    if location:
        vevent.add("location", location)
    return vevent


def _events_of(registrations: Iterable[Registration]) -> list[Event]:
    return [registration.event for registration in registrations]


# --- public files and feeds --------------------------------------------------------------


def _published(file: _File, event: Event, sessions: Sequence[Session]) -> None:
    """An event as anyone may see it: its meetings if a series, else the event itself."""
    series = meetings(event, sessions)
    if series:
        for meeting in series:
            file.add(_vevent(file, event=event, session=meeting))
    else:
        file.add(_vevent(file, event=event))


def event_calendar(event: Event, sessions: Iterable[Session] = ()) -> bytes:
    """The public file of an event (a series: its meetings; a conference: the event and
    its sessions). No join link."""
    sessions = list(sessions)
    organisers_load(events=[event])
    file = _File(method=METHOD_PUBLISH, name=event.title)
    _published(file, event, sessions)
    if not is_series(event, sessions):
        for session in sessions:
            file.add(_vevent(file, event=event, session=session))
    return file.to_ical()


def feed_calendar(events: Iterable[Event], *, name: str) -> bytes:
    """A subscription feed of events (a cluster's public events; series as their
    meetings). No join links. Prefetch the events' sessions."""
    events = list(events)
    organisers_load(events=events)
    file = _File(method=METHOD_PUBLISH, name=name)
    for event in events:
        _published(file, event, list(event.sessions.all()))
    return file.to_ical()


def _registration_parts(
    registration: Registration, *, session: Session | None = None
) -> list[Session | None]:
    """What a registration puts in calendars: its session; or the one meeting `session`;
    or every meeting of a series; or (None) the event itself."""
    if registration.session_id:
        return [registration.session]
    if session is not None:
        return [session]
    return event_meetings(registration.event) or [None]


def registrations_feed(registrations: Iterable[Registration], *, name: str) -> bytes:
    """A person's subscription feed: the events, sessions and meetings they hold a place in.

    Waitlisted and pending places are TENTATIVE. No join links: a feed URL travels
    through calendar services; the event page shows the link to the signed-in participant.
    An event registration comes before a session one for the same meeting.
    """
    registrations = sorted(registrations, key=lambda r: r.session_id is not None)
    organisers_load(events=_events_of(registrations))
    file = _File(method=METHOD_PUBLISH, name=name)
    for registration in registrations:
        event = registration.event
        for part in _registration_parts(registration):
            status = "TENTATIVE" if registration.status in _TENTATIVE else None
            if event.status == Event.Status.CANCELLED or (part and part.is_cancelled):
                status = "CANCELLED"
            file.add(_vevent(file, event=event, session=part, status=status))
    return file.to_ical()


# --- invitations -------------------------------------------------------------------------


def invitation_method(registration: Registration, *, session: Session | None = None) -> str:
    """CANCEL when the registration, its session, the meeting `session`, its event or
    every meeting of its series is cancelled; REQUEST otherwise."""
    if registration.status in _GONE or registration.event.status == Event.Status.CANCELLED:
        return METHOD_CANCEL
    if registration.session_id and registration.session.is_cancelled:
        return METHOD_CANCEL
    if session is not None:
        return METHOD_CANCEL if session.is_cancelled else METHOD_REQUEST
    if not registration.session_id:
        series = event_meetings(registration.event)
        if series and all(meeting.is_cancelled for meeting in series):
            return METHOD_CANCEL
    return METHOD_REQUEST


def registration_invitation(
    registration: Registration,
    method: str | None = None,
    *,
    session: Session | None = None,
    seats: Iterable[Registration] = (),
) -> bytes:
    """One person's iTIP invitation (REQUEST) or its withdrawal (CANCEL).

    `method` defaults to what the registration's state calls for. A series gives one
    VEVENT per meeting (a REQUEST leaves out cancelled meetings); `session` narrows it to
    that one meeting (a meeting moved, added or cancelled). `seats` are the same person's
    session registrations that travel in the same message: their conference sessions,
    withdrawn or updated with the event.
    """
    method = method or invitation_method(registration, session=session)
    cancelled = method == METHOD_CANCEL
    seats = [seat for seat in seats if seat.pk != registration.pk]
    organisers_load(events=_events_of([registration, *seats]))
    file = _File(method=method)
    for holder, only in ((registration, session), *((seat, None) for seat in seats)):
        event = holder.event
        if cancelled:
            status = "CANCELLED"
        elif holder.status in _TENTATIVE:
            status = "TENTATIVE"
        else:
            status = "CONFIRMED"
        join_link = not cancelled and holder.status == Registration.Status.CONFIRMED
        for part in _registration_parts(holder, session=only):
            if not cancelled and part is not None and part.is_cancelled:
                continue  # a REQUEST lists what takes place; the CANCEL went earlier
            file.add(
                _vevent(
                    file,
                    event=event,
                    session=part,
                    status=status,
                    join_link=join_link,
                    registration=holder,
                )
            )
    return file.to_ical()
