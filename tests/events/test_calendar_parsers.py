"""Every calendar the site serves or mails, read by four independent parsers.

The files come from the real views (public event files, the cluster feed, a personal
feed, invitation downloads) and from the real mails of registering, an organiser moving
and cancelling an event, cancelling one's own place, a waitlist promotion, a session
seat, a mentoring circle and one of its meetings moved or cancelled. Each is read by:

- libical (Evolution, GNOME) through PyGObject, run by the system Python
  (`tests/calendar_parsers/libical_parse.py`; Debian's gir1.2-ical-3.0 + python3-gi),
- ical.js (Thunderbird and many web calendars), run by node
  (`tests/calendar_parsers/parse.mjs`; `npm ci --prefix tests/calendar_parsers`),
- python icalendar and vobject, in process.

Every parser converts times with the VTIMEZONE of the file itself, never with the
machine's zone database. For each file and parser: every VEVENT's UTC start and end equal
the database's, everything the file must show is there, no VEVENT spans a series of
meetings, the METHOD is what the state calls for and a UID carries one SEQUENCE across
everything the site put out at the same moment (a person's mail never goes backwards).
libical's RFC 5546 restriction check passes for every file.

.ci/run installs the two outside parsers; a missing parser fails the run there (CI is
set) and is skipped with its reason elsewhere.
"""

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from functools import cache
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
import vobject.icalendar
from dateutil.rrule import rruleset, rrulestr
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.test import Client, TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from events import authoring, calendar_services, services
from events.models import Event, Registration, Session
from matchmaking import services as matchmaking_services
from matchmaking.models import Application, Match, Programme
from members.models import User
from tests.events.factories import EventFactory
from tests.factories import (
    ClusterFactory,
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
)
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

PARSERS_DIR = Path(__file__).resolve().parents[1] / "calendar_parsers"
SYSTEM_PYTHON = "/usr/bin/python3"
PARSERS = ("libical", "ical.js", "icalendar", "vobject")
MAX_OCCURRENCES = 50
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Status = Registration.Status

# The data is built once per module (see `world`); the marker has the test database set up.
pytestmark = pytest.mark.django_db

# The files × parsers matrix: what the site serves and mails, as a member meets it.
PUBLIC_FILES = (
    "public-event-vienna-november",
    "public-event-vienna-summer",
    "public-event-repeated-hour",
    "public-conference-sessions",
    "public-circle-series",
    "public-event-cancelled-line-break",
)
FEEDS = ("cluster-feed", "personal-feed")
DOWNLOADS = ("invitation-download", "invitation-download-circle")
MAILS = (
    "mail-register",
    "mail-waitlisted",
    "mail-cancel",
    "mail-promotion",
    "mail-session-registration",
    "mail-update",
    "mail-event-cancelled",
    "mail-circle-registration",
    "mail-meeting-moved",
    "mail-meeting-cancelled",
)
FILES = PUBLIC_FILES + FEEDS + DOWNLOADS + MAILS


# --- what the database holds, and what the site put out --------------------------------


@dataclass(frozen=True)
class Truth:
    """A calendar object as the database holds it; an event's meetings make it a series."""

    label: str
    title: str
    start: datetime
    end: datetime
    meetings: tuple[str, ...] = ()  # uuids of the series' meetings (sessions)


@dataclass
class Output:
    """One calendar file the site put out, with the database's state at that moment."""

    name: str
    content: bytes
    method: str  # the METHOD the state calls for
    truth: dict[str, Truth]  # every event and session by uuid, at that moment
    required: tuple[Truth, ...]  # what a reader of this file must be shown
    moment: int  # outputs of one moment must agree on each UID's SEQUENCE
    fetch_error: str = ""
    mime_method: str | None = None  # the mail part's Content-Type method=
    recipient: str = ""
    order: int = 0  # position among all mails


@dataclass
class World:
    outputs: dict[str, Output] = field(default_factory=dict)
    mails_sent: int = 0
    moment: int = 0


def snapshot() -> dict[str, Truth]:
    """Every event and session by uuid, as stored now."""
    sessions = list(Session.objects.select_related("event").order_by("starts_at", "pk"))
    meetings = defaultdict(list)
    truth = {}
    for session in sessions:
        truth[str(session.uid)] = Truth(
            f"session “{one_line(session.title)}” of “{one_line(session.event.title)}”",
            session.title,
            session.starts_at,
            session.ends_at,
        )
        if session.kind == Session.Kind.MEETING and not session.is_cancelled:
            meetings[session.event_id].append(str(session.uid))
    for event in Event.objects.all():
        truth[str(event.uid)] = Truth(
            f"event “{one_line(event.title)}”",
            event.title,
            event.starts_at,
            event.ends_at,
            tuple(meetings[event.pk]),
        )
    return truth


def one_line(text: str) -> str:
    return " ".join(text.split())


def shown(truth: dict[str, Truth], event: Event, *, with_sessions: bool = False) -> list[Truth]:
    """What a file about `event` must show: its meetings if it is a series, else itself
    (and, for its public file, its sessions that take place)."""
    own = truth[str(event.uid)]
    if own.meetings:
        return [truth[uid] for uid in own.meetings]
    sessions = event.sessions.filter(is_cancelled=False) if with_sessions else []
    return [own, *(truth[str(session.uid)] for session in sessions)]


def feed_required(truth: dict[str, Truth], user) -> list[Truth]:
    required = []
    for registration in Registration.objects.filter(
        user=user, status__in=Registration.ACTIVE_STATUSES
    ).select_related("event", "session"):
        if registration.session_id:
            required.append(truth[str(registration.session.uid)])
        else:
            required += shown(truth, registration.event)
    return required


def invitation_method(registration: Registration) -> str:
    gone = registration.status in (Status.CANCELLED, Status.DECLINED)
    if gone or registration.event.status == Event.Status.CANCELLED:
        return "CANCEL"
    return "REQUEST"


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def local(zone: str, day: date, hour: int, minute: int = 0) -> datetime:
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


VIENNA, BRUSSELS = "Europe/Vienna", "Europe/Brussels"


class Site:
    """Fetches files from the real views and collects the real mails of each step."""

    def __init__(self, world: World):
        self.world = world
        self.clients: dict[int | None, Client] = {}

    def client(self, user=None) -> Client:
        key = user.pk if user else None
        if key not in self.clients:
            self.clients[key] = Client()
            if user is not None:
                self.clients[key].force_login(user)
        return self.clients[key]

    def fetch(self, name: str, url: str, *, user=None, method: str, required, truth) -> None:
        content, error = b"", ""
        try:
            response = self.client(user).get(url)
        except Exception as exc:  # a view that raises answers 500: record it for every parser
            error = f"GET {url} raised {type(exc).__name__}: {exc}"
        else:
            if response.status_code != 200:
                error = f"GET {url} answered {response.status_code}"
            else:
                content = response.content
        self.world.outputs[name] = Output(
            name=name,
            content=content,
            method=method,
            truth=truth,
            required=tuple(required),
            moment=self.world.moment,
            fetch_error=error,
        )

    def public_file(self, name: str, event: Event, *, user=None, truth) -> None:
        self.fetch(
            name,
            reverse("events:calendar", kwargs={"slug": event.slug}),
            user=user,
            method="PUBLISH",
            required=shown(truth, event, with_sessions=True),
            truth=truth,
        )

    def invitation(self, name: str, event: Event, *, user, truth) -> None:
        registration = Registration.objects.get(event=event, user=user, session__isnull=True)
        self.fetch(
            name,
            reverse("events:invitation", kwargs={"slug": event.slug}),
            user=user,
            method=invitation_method(registration),
            required=shown(truth, event),
            truth=truth,
        )

    def personal_feed(self, name: str, user, *, truth) -> None:
        token = calendar_services.calendar_feed_ensure(user=user).token
        self.fetch(
            name,
            reverse("events:feed_personal", kwargs={"token": token}),
            method="PUBLISH",
            required=feed_required(truth, user),
            truth=truth,
        )

    def step(self, action, *, mails: dict[str, tuple], event: Event | Callable) -> None:
        """Run `action`, send what it queued for after commit, and keep its calendar mails.

        `mails` names the mails the step must send: {name: (recipient, METHOD, required
        objects as a function of the database state)}. Every calendar mail of the step,
        named or not, is kept with what the recipient could fetch at the same moment (the
        event's public file, their invitation, their feed) to compare SEQUENCEs. `event`
        is the step's event, or a function that finds it once the step has made it.
        """
        self.world.moment += 1
        start = len(mail.outbox)
        with TestCase.captureOnCommitCallbacks(execute=True):
            action()
        truth = snapshot()
        event = event() if callable(event) else Event.objects.get(pk=event.pk)
        named = {
            recipient: (name, method, required)
            for name, (recipient, method, required) in mails.items()
        }
        recipients = set()
        for sent in mail.outbox[start:]:
            part = calendar_part(sent)
            if part is None:
                continue
            [recipient] = sent.to
            recipients.add(recipient)
            self.world.mails_sent += 1
            unnamed = f"step {self.world.moment}, mail {self.world.mails_sent} to {recipient}"
            name, method, required = named.pop(recipient, (unnamed, part[1].upper(), None))
            self.world.outputs[name] = Output(
                name=name,
                content=part[0],
                method=method,
                truth=truth,
                required=tuple(required(truth) if required else ()),
                moment=self.world.moment,
                mime_method=part[1],
                recipient=recipient,
                order=self.world.mails_sent,
            )
        for recipient, (name, method, _) in named.items():
            self.world.outputs[name] = Output(
                name=name,
                content=b"",
                method=method,
                truth=truth,
                required=(),
                moment=self.world.moment,
                fetch_error=f"no calendar mail reached {recipient}",
            )
        for recipient in sorted(recipients):
            user = User.objects.get(email=recipient)
            moment = f"step {self.world.moment}, {recipient}"
            self.public_file(f"{moment}: public file", event, user=user, truth=truth)
            if Registration.objects.filter(event=event, user=user, session__isnull=True).exists():
                self.invitation(f"{moment}: invitation", event, user=user, truth=truth)
            self.personal_feed(f"{moment}: feed", user, truth=truth)


def calendar_part(sent) -> tuple[bytes, str] | None:
    """The text/calendar alternative Outlook and Gmail read, and its method= parameter."""
    parsed = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    for part in parsed.walk():
        if part.get_content_type() == "text/calendar" and not part.is_attachment():
            return part.get_payload(decode=True), part.get_param("method") or ""
    return None


def build(world: World) -> None:
    """Clusters, people, events, a conference, a circle; then what members do."""
    site = Site(world)
    # Fixed dates on both sides of the zone changes; moved on by whole years when the
    # first of them comes close, so the events always lie ahead.
    year = max(2027, timezone.now().year + 1)
    cluster = ClusterFactory(name="Mechatronics Cluster Upper Austria", slug="mechatronics-ical")
    organisation = OrganisationFactory(name="Keller Antriebstechnik", clusters=[cluster])
    member = ProfileFactory(display_name="Anna Keller", organisation=organisation).user
    colleague = ProfileFactory(display_name="Bruno Weiss", organisation=organisation).user
    organiser = ProfileFactory(display_name="Olga Organiser").user
    ClusterOrganiserFactory(cluster=cluster, user=organiser)

    def public_event(title: str, zone: str, start: datetime, end: datetime, **fields) -> Event:
        return EventFactory(
            clusters=[cluster],
            title=title,
            slug=f"ical-{Event.objects.count() + 1}",
            summary="Robots, cobots; and “AI”.\nBring your questions.",
            timezone=zone,
            starts_at=start,
            ends_at=end,
            audience=Event.Audience.PUBLIC,
            venue_name="Tabakfabrik Linz",
            venue_address="Peter-Behrens-Platz 1, 4020 Linz",
            **fields,
        )

    november = date(year, 11, 3)
    vienna_november = public_event(
        "Hydrogen valleys", VIENNA, local(VIENNA, november, 10), local(VIENNA, november, 12)
    )
    summer = date(year + 2, 7, 12)
    vienna_summer = public_event(
        "Summer school: cobots",
        VIENNA,
        local(VIENNA, summer, 10),
        local(VIENNA, summer, 16),
        capacity=1,
    )
    # 01:30Z on the day summer time ends: 02:30 local for the second time (CET).
    repeated = datetime.combine(last_sunday(year, 10), datetime.min.time(), UTC)
    repeated_hour = public_event(
        "Night shift robotics",
        BRUSSELS,
        repeated + timedelta(hours=1, minutes=30),
        repeated + timedelta(hours=3),
    )
    # A conference over the night summer time starts, with sessions on both days.
    sunday = last_sunday(year + 1, 3)
    saturday = sunday - timedelta(days=1)
    conference = public_event(
        "Smart Factory Days",
        VIENNA,
        local(VIENNA, saturday, 9),
        local(VIENNA, sunday, 17),
        kind=Event.Kind.CONFERENCE,
        online_platform="Zoom",
        online_url="https://zoom.example/j/42",
    )
    for kind, title, day, hour, minutes, cancelled in (
        (Session.Kind.KEYNOTE, "Opening keynote", saturday, 9, 45, False),
        (Session.Kind.TALK, "Cobots on the line, safely", saturday, 14, 45, False),
        (Session.Kind.PANEL, "Panel; postponed", saturday, 16, 60, True),
        (Session.Kind.WORKSHOP, "Digital twins workshop", sunday, 10, 120, False),
    ):
        start = local(VIENNA, day, hour)
        Session.objects.create(
            event=conference,
            kind=kind,
            title=title,
            track="Production",
            room="Hall 2",
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            is_cancelled=cancelled,
        )
    workshop = conference.sessions.get(kind=Session.Kind.WORKSHOP)
    june = date(year + 1, 6, 15)
    moved = public_event(
        "Welding robots open day", VIENNA, local(VIENNA, june, 10), local(VIENNA, june, 13)
    )
    october = last_sunday(year + 1, 10)
    cancelled = public_event(
        "Maritime drones\nand robotics",
        BRUSSELS,
        local(BRUSSELS, october, 9),
        local(BRUSSELS, october, 12),
    )

    def registered(event: Event, session: Session | None = None):
        return lambda truth: [truth[str(session.uid)]] if session else shown(truth, event)

    # Registering; the waitlist; cancelling one's place, which promotes the next in line.
    site.step(
        lambda: services.event_register(event=vienna_november, user=member),
        mails={"mail-register": (member.email, "REQUEST", registered(vienna_november))},
        event=vienna_november,
    )
    site.step(
        lambda: services.event_register(event=vienna_summer, user=colleague),
        mails={},
        event=vienna_summer,
    )
    site.step(
        lambda: services.event_register(event=vienna_summer, user=member),
        mails={"mail-waitlisted": (member.email, "REQUEST", registered(vienna_summer))},
        event=vienna_summer,
    )
    site.step(
        lambda: services.registration_cancel(
            registration=Registration.objects.get(event=vienna_summer, user=colleague),
            by=colleague,
        ),
        mails={
            "mail-cancel": (colleague.email, "CANCEL", registered(vienna_summer)),
            "mail-promotion": (member.email, "REQUEST", registered(vienna_summer)),
        },
        event=vienna_summer,
    )
    site.step(
        lambda: services.event_register(event=repeated_hour, user=member),
        mails={},
        event=repeated_hour,
    )
    # A seat in one session of a conference.
    site.step(
        lambda: services.event_register(event=conference, user=member),
        mails={},
        event=conference,
    )
    site.step(
        lambda: services.event_register(event=conference, user=member, session=workshop),
        mails={
            "mail-session-registration": (
                member.email,
                "REQUEST",
                registered(conference, session=workshop),
            )
        },
        event=conference,
    )
    # The organiser moves an event from summer into winter time, and cancels another.
    site.step(lambda: services.event_register(event=moved, user=member), mails={}, event=moved)
    november_later = date(year + 1, 11, 16)
    site.step(
        lambda: authoring.event_update(
            event=moved,
            by=organiser,
            changes={
                "starts_at": local(VIENNA, november_later, 14),
                "ends_at": local(VIENNA, november_later, 17),
            },
        ),
        mails={"mail-update": (member.email, "REQUEST", registered(moved))},
        event=moved,
    )
    site.step(
        lambda: services.event_register(event=cancelled, user=member),
        mails={},
        event=cancelled,
    )
    site.step(
        lambda: authoring.event_cancel(event=cancelled, by=organiser),
        mails={"mail-event-cancelled": (member.email, "CANCEL", registered(cancelled))},
        event=cancelled,
    )

    # A mentoring circle: six meetings four weeks apart, winter and summer time.
    programme = ProgrammeFactory(
        clusters=[cluster],
        format=Programme.Format.CIRCLES,
        circle_size=2,
        circle_meeting_weeks=4,
        starts_on=date(year + 1, 1, 13),
        ends_on=date(year + 1, 6, 2),
        timezone=VIENNA,
    )
    ApplicationFactory(
        programme=programme, role=Application.Role.MENTOR, topics=[topic("Robotics")]
    )
    ApplicationFactory(programme=programme, user=member, topics=[topic("Robotics")])
    matchmaking_services.programme_match_run(programme=programme, by=organiser)
    match = Match.objects.select_related("mentor__user").get(mentee__user=member)
    site.step(
        lambda: matchmaking_services.programme_publish(programme=programme, by=organiser),
        mails={},
        event=lambda: Event.objects.get(mentoring_circle__matches=match),
    )
    match.refresh_from_db()
    circle = match.circle.event
    assert len(snapshot()[str(circle.uid)].meetings) == 6

    def accept() -> None:
        matchmaking_services.match_respond(match=match, by=match.mentor.user, accept=True)
        matchmaking_services.match_respond(match=match, by=member, accept=True)

    site.step(
        accept,
        mails={"mail-circle-registration": (member.email, "REQUEST", registered(circle))},
        event=circle,
    )
    # One meeting moves (into summer time), another is cancelled: mail about that one only.
    meetings = list(circle.sessions.order_by("starts_at"))
    later = local(VIENNA, meetings[3].starts_at.date() + timedelta(days=1), 9)
    site.step(
        lambda: authoring.session_update(
            session=meetings[3],
            by=organiser,
            changes={"starts_at": later, "ends_at": later + timedelta(minutes=90)},
        ),
        mails={"mail-meeting-moved": (member.email, "REQUEST", registered(circle, meetings[3]))},
        event=circle,
    )
    site.step(
        lambda: authoring.session_cancel(session=meetings[4], by=organiser),
        mails={"mail-meeting-cancelled": (member.email, "CANCEL", registered(circle, meetings[4]))},
        event=circle,
    )

    # What anyone downloads or subscribes to now.
    world.moment += 1
    truth = snapshot()
    for name, event in zip(
        PUBLIC_FILES,
        (vienna_november, vienna_summer, repeated_hour, conference, circle, cancelled),
        strict=True,
    ):
        # The circle is invitation-only: its member fetches it.
        site.public_file(name, event, user=member if event == circle else None, truth=truth)
    public = Event.objects.filter(
        clusters=cluster,
        audience=Event.Audience.PUBLIC,
        status__in=[Event.Status.PUBLISHED, Event.Status.CANCELLED],
    )
    site.fetch(
        "cluster-feed",
        reverse("events:feed_cluster", kwargs={"cluster_slug": cluster.slug}),
        method="PUBLISH",
        required=[item for event in public for item in shown(truth, event)],
        truth=truth,
    )
    site.personal_feed("personal-feed", member, truth=truth)
    site.invitation("invitation-download", vienna_november, user=member, truth=truth)
    site.invitation("invitation-download-circle", circle, user=member, truth=truth)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> World:
    """Built once for the module in a transaction that is rolled back at its end."""
    world = World()
    hosts = [*settings.ALLOWED_HOSTS, "testserver"]
    with (
        django_db_blocker.unblock(),
        override_settings(ALLOWED_HOSTS=hosts),
        transaction.atomic(),
    ):
        outbox = list(mail.outbox)
        mail.outbox.clear()
        try:
            build(world)
        finally:
            mail.outbox[:] = outbox
            transaction.set_rollback(True)
    return world


# --- the parsers ------------------------------------------------------------------------


@cache
def missing(parser: str) -> str:
    """Why `parser` cannot run here ("" when it can)."""
    if parser == "libical":
        check = 'import gi; gi.require_version("ICalGLib", "3.0")'
        if not Path(SYSTEM_PYTHON).exists():
            return f"libical: {SYSTEM_PYTHON} is missing"
        result = subprocess.run(  # noqa: S603 - a fixed command
            [SYSTEM_PYTHON, "-c", check], capture_output=True, text=True, check=False
        )
        if result.returncode:
            return (
                "libical: the system Python has no ICalGLib 3.0 "
                "(apt-get install gir1.2-ical-3.0 python3-gi)"
            )
    if parser == "ical.js":
        if shutil.which("node") is None:
            return "ical.js: node is not installed"
        if not (PARSERS_DIR / "node_modules" / "ical.js" / "package.json").exists():
            return "ical.js: not installed (npm ci --prefix tests/calendar_parsers)"
    return ""


def run_batch(command: list[str], calendars: list[str]) -> list[dict]:
    result = subprocess.run(  # noqa: S603 - fixed commands
        command,
        input=json.dumps(calendars),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "TZ": "UTC"},  # a file's floating time must not pass as right
    )
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def read_libical(calendars: list[str]) -> list[dict]:
    return run_batch([SYSTEM_PYTHON, str(PARSERS_DIR / "libical_parse.py"), "--batch"], calendars)


def read_icaljs(calendars: list[str]) -> list[dict]:
    node = shutil.which("node") or "node"
    return run_batch([node, str(PARSERS_DIR / "parse.mjs"), "--batch"], calendars)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def occurrence_list(starts, duration: timedelta | None) -> list[dict]:
    return [
        {"start": iso(start), "end": iso(start + duration) if duration is not None else None}
        for start in islice(starts, MAX_OCCURRENCES)
    ]


def read_icalendar(calendars: list[str]) -> list[dict]:
    return [icalendar_calendar(calendar) for calendar in calendars]


def icalendar_calendar(source: str) -> dict:
    """python icalendar, zones from the file's VTIMEZONEs (`Timezone.to_tz`), not by name."""
    try:
        calendar = icalendar.Calendar.from_ical(source)
    except Exception as exc:
        return {"method": None, "vevents": [], "errors": [f"icalendar: {exc}"]}
    zones = {
        str(vtimezone["TZID"]): vtimezone.to_tz(lookup_tzid=False)
        for vtimezone in calendar.timezones
    }
    method = str(calendar["METHOD"]) if "METHOD" in calendar else None
    errors = [f"icalendar: {error}" for error in calendar.errors]
    vevents = []
    for vevent in calendar.walk("VEVENT"):
        problems = [f"icalendar: {error}" for error in vevent.errors]

        def instant(prop, what, problems=problems):
            if prop is None:
                return None
            value = prop.dt
            if not isinstance(value, datetime):
                problems.append(f"{what} is a date, not a time: {value}")
                return datetime.combine(value, datetime.min.time(), UTC)
            tzid = prop.params.get("TZID")
            if tzid:
                if tzid not in zones:
                    problems.append(f"{what} names TZID {tzid!r}, which the file does not define")
                    return value.astimezone(UTC)
                # The wall-clock time as written, read through the file's VTIMEZONE.
                return value.replace(tzinfo=zones[tzid]).astimezone(UTC)
            if value.tzinfo is None:
                problems.append(f"{what} is floating (no TZID, not UTC)")
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)

        def local_value(prop):
            value = prop.dt
            tzid = prop.params.get("TZID")
            return value.replace(tzinfo=zones[tzid]) if tzid in zones else value

        start = instant(vevent.get("DTSTART"), "DTSTART")
        end = instant(vevent.get("DTEND"), "DTEND")
        if end is None and start is not None and "DURATION" in vevent:
            end = start + vevent["DURATION"].dt
        recurrence_id = instant(vevent.get("RECURRENCE-ID"), "RECURRENCE-ID")
        if ("RRULE" in vevent or "RDATE" in vevent) and start is not None:
            first = local_value(vevent["DTSTART"])
            series = rruleset()
            series.rdate(first)
            for rule in as_list(vevent.get("RRULE")):
                series.rrule(rrulestr(rule.to_ical().decode(), dtstart=first))
            for name, add in (("RDATE", series.rdate), ("EXDATE", series.exdate)):
                for prop in as_list(vevent.get(name)):
                    tzid = prop.params.get("TZID")
                    for item in prop.dts:
                        value = item.dt[0] if isinstance(item.dt, tuple) else item.dt
                        add(value.replace(tzinfo=zones[tzid]) if tzid in zones else value)
            occurrences = occurrence_list(series, end - start if end else None)
        else:
            occurrences = [{"start": iso(start), "end": iso(end)}]
        organizer = vevent.get("ORGANIZER")
        vevents.append(
            {
                "uid": str(vevent["UID"]) if "UID" in vevent else None,
                "sequence": int(vevent["SEQUENCE"]) if "SEQUENCE" in vevent else None,
                "status": str(vevent["STATUS"]) if "STATUS" in vevent else None,
                "method": method,
                "summary": str(vevent["SUMMARY"]) if "SUMMARY" in vevent else None,
                "organizer": str(organizer) if organizer is not None else None,
                "recurrence_id": iso(recurrence_id),
                "dtstart": iso(start),
                "dtend": iso(end),
                "occurrences": occurrences,
                "errors": problems,
            }
        )
    return {"method": method, "vevents": vevents, "errors": errors}


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def read_vobject(calendars: list[str]) -> list[dict]:
    return [vobject_calendar(calendar) for calendar in calendars]


def vobject_calendar(source: str) -> dict:
    """vobject as an application uses it: `readOne`, then `.dtstart.value.astimezone(UTC)`.

    vobject keeps the zones it has seen in a process-wide registry and lets the first
    file's VTIMEZONE win; each file is read with the registry emptied (then restored),
    and a time whose zone is not the file's own VTIMEZONE is reported.
    """
    registry = vars(vobject.icalendar)["__tzidMap"]
    saved = dict(registry)
    registry.clear()
    registry["UTC"] = vobject.icalendar.utc
    try:
        return _vobject_calendar(source, registry)
    except Exception as exc:
        return {"method": None, "vevents": [], "errors": [f"vobject: {exc}"]}
    finally:
        registry.clear()
        registry.update(saved)


def _vobject_calendar(source: str, registry: dict) -> dict:
    calendar = vobject.readOne(source)
    method = calendar.method.value if hasattr(calendar, "method") else None
    vevents = []
    for vevent in calendar.contents.get("vevent", []):
        problems = []

        def instant(name, what, vevent=vevent, problems=problems):
            if name not in vevent.contents:
                return None
            prop = vevent.contents[name][0]
            value = prop.value
            if not isinstance(value, datetime):
                problems.append(f"{what} is a date, not a time: {value}")
                return datetime.combine(value, datetime.min.time(), UTC)
            if value.tzinfo is None:
                problems.append(f"{what} is floating (no TZID, not UTC)")
                return value.replace(tzinfo=UTC)
            tzid = prop.params.get("TZID", [None])[0]
            if tzid is not None and value.tzinfo is not registry.get(tzid):
                problems.append(f"{what}: TZID {tzid!r} was not read from the file's VTIMEZONE")
            return value.astimezone(UTC)

        start = instant("dtstart", "DTSTART")
        end = instant("dtend", "DTEND")
        if end is None and start is not None and "duration" in vevent.contents:
            end = start + vevent.duration.value
        if start is not None and ("rrule" in vevent.contents or "rdate" in vevent.contents):
            occurrences = occurrence_list(
                vevent.getrruleset(addRDate=True), end - start if end else None
            )
        else:
            occurrences = [{"start": iso(start), "end": iso(end)}]

        def value(name, vevent=vevent):
            return vevent.contents[name][0].value if name in vevent.contents else None

        sequence = value("sequence")
        vevents.append(
            {
                "uid": value("uid"),
                "sequence": int(sequence) if sequence is not None else None,
                "status": value("status"),
                "method": method,
                "summary": value("summary"),
                "organizer": value("organizer"),
                "recurrence_id": iso(instant("recurrence-id", "RECURRENCE-ID")),
                "dtstart": iso(start),
                "dtend": iso(end),
                "occurrences": occurrences,
                "errors": problems,
            }
        )
    return {"method": method, "vevents": vevents, "errors": []}


READERS = {
    "libical": read_libical,
    "ical.js": read_icaljs,
    "icalendar": read_icalendar,
    "vobject": read_vobject,
}


@pytest.fixture(scope="module")
def readings(world) -> dict[str, dict[str, dict] | str]:
    """Each parser's reading of every output, by output name (or why it could not run).

    The outside parsers read all files in one process each, alongside the in-process ones.
    """
    names = [name for name, output in world.outputs.items() if not output.fetch_error]
    calendars = [world.outputs[name].content.decode("utf-8") for name in names]

    def read(parser: str) -> dict[str, dict] | str:
        reason = missing(parser)
        if reason:
            return reason
        try:
            return dict(zip(names, READERS[parser](calendars), strict=True))
        except Exception as exc:
            return f"{parser} crashed: {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outside = {parser: pool.submit(read, parser) for parser in ("libical", "ical.js")}
        found = {parser: read(parser) for parser in ("icalendar", "vobject")}
        found |= {parser: future.result() for parser, future in outside.items()}
    return {parser: found[parser] for parser in PARSERS}


def parser_reading(readings, parser: str) -> dict[str, dict]:
    reading = readings[parser]
    if isinstance(reading, str):
        if reading.startswith(f"{parser} crashed"):
            pytest.fail(reading)
        if os.environ.get("CI"):
            pytest.fail(f"{reading} — .ci/run installs it")
        pytest.skip(reading)
    return reading


# --- the checks -------------------------------------------------------------------------


def when(moment: str | datetime | None) -> str:
    if moment is None:
        return "nothing"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def span(pair) -> str:
    return f"{when(pair[0])}–{when(pair[1])}"


def instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def truth_of(uid: str | None, truth: dict[str, Truth]) -> tuple[str, Truth] | None:
    for found in UUID.findall((uid or "").lower()):
        if found in truth:
            return found, truth[found]
    return None


def vevent_count(content: bytes) -> int:
    return sum(1 for line in content.decode("utf-8").splitlines() if line.strip() == "BEGIN:VEVENT")


def sequences(reading: dict) -> dict[str, set[int]]:
    found = defaultdict(set)
    for vevent in reading["vevents"]:
        found[vevent["uid"]].add(vevent["sequence"] or 0)
    return found


def problems_of(output: Output, reading: dict, others: dict[str, dict], world: World) -> list:
    """Everything one parser reads differently from the database in one file."""
    problems = [*reading["errors"]]
    if reading["method"] != output.method:
        problems.append(f"METHOD read {reading['method']}, the state calls for {output.method}")
    if output.mime_method is not None and output.mime_method.upper() != output.method:
        problems.append(f"the mail part says method={output.mime_method}, not {output.method}")
    written = vevent_count(output.content)
    if len(reading["vevents"]) != written:
        problems.append(f"read {len(reading['vevents'])} of the {written} VEVENTs in the file")
    meetings = [output.truth[uid] for truth in output.truth.values() for uid in truth.meetings]
    read, matched = set(), set()
    for vevent in reading["vevents"]:
        found = truth_of(vevent["uid"], output.truth)
        if found is None:
            problems.append(f"VEVENT {vevent['uid']} names nothing in the database")
            continue
        _, truth = found
        matched.add(truth)
        problems += [f"{truth.label}: {error}" for error in vevent["errors"]]
        # Commas, semicolons and line breaks of a title survive the escaping.
        if one_line(truth.title) not in one_line(vevent["summary"] or ""):
            problems.append(f"{truth.label}: SUMMARY read as {vevent['summary']!r}")
        occurrences = [(instant(o["start"]), instant(o["end"])) for o in vevent["occurrences"]]
        read.update(occurrences)
        if len(occurrences) > 1 and truth.meetings:
            expected = [(output.truth[m].start, output.truth[m].end) for m in truth.meetings]
        else:
            expected = [(truth.start, truth.end)]
        if occurrences != expected:
            problems.append(
                f"{truth.label}: read {', '.join(map(span, occurrences))}; "
                f"the database holds {', '.join(map(span, expected))}"
            )
        for start, end in occurrences:
            if start is None or end is None:
                continue
            inside = [m for m in meetings if start <= m.start and m.end <= end]
            if len(inside) > 1:
                problems.append(
                    f"{truth.label}: one VEVENT {span((start, end))} spans "
                    f"{len(inside)} meetings of a series"
                )
    for truth in output.required:
        # A VEVENT of this object read at the wrong time is reported above already.
        if truth not in matched and (truth.start, truth.end) not in read:
            problems.append(f"{truth.label} ({span((truth.start, truth.end))}) is missing")
    problems += sequence_problems(output, reading, others, world)
    return problems


def sequence_problems(output: Output, reading: dict, others: dict[str, dict], world) -> list:
    """One SEQUENCE per UID at one moment; a person's mails never go backwards."""
    problems = []
    mine = sequences(reading)
    for uid, values in mine.items():
        found = truth_of(uid, output.truth)
        label = found[1].label if found else uid
        if len(values) > 1:
            problems.append(f"{label}: SEQUENCEs {sorted(values)} in one file")
        for name, other in others.items():
            companion = world.outputs[name]
            if name == output.name:
                continue
            theirs = sequences(other).get(uid)
            if companion.moment == output.moment and theirs and theirs != values:
                problems.append(
                    f"{label}: SEQUENCE {sorted(values)} here, {sorted(theirs)} in “{name}” "
                    "put out at the same moment"
                )
            earlier = output.recipient and companion.recipient == output.recipient
            if earlier and companion.order < output.order and theirs:
                before = companion.truth.get(found[0]) if found else None
                now = found[1] if found else None
                moved = before and now and (before.start, before.end) != (now.start, now.end)
                if max(values) < max(theirs) or (moved and max(values) <= max(theirs)):
                    problems.append(
                        f"{label}: SEQUENCE {max(values)} after {max(theirs)} in the earlier "
                        f"“{name}”" + (" although the time changed" if moved else "")
                    )
    return problems


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("name", FILES)
def test_each_parser_reads_what_the_database_holds(world, readings, name, parser):
    reading = parser_reading(readings, parser)
    output = world.outputs.get(name)
    assert output is not None, f"the scenario put out no “{name}”"
    assert not output.fetch_error, output.fetch_error
    problems = problems_of(output, reading[name], reading, world)
    assert not problems, f"{parser} reading “{name}”:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("name", FILES)
def test_libical_rfc5546_restriction_check_passes(world, readings, name):
    reading = parser_reading(readings, "libical")
    output = world.outputs.get(name)
    assert output is not None, f"the scenario put out no “{name}”"
    assert not output.fetch_error, output.fetch_error
    restrictions = reading[name]["restrictions"]
    assert restrictions["ok"], f"METHOD:{output.method} “{name}”:\n  " + "\n  ".join(
        restrictions["errors"]
    )


def test_the_companion_files_of_every_mail_read_right_too(world, readings):
    """What a recipient could fetch when each mail went out (the event's file, their
    invitation, their feed) and the mails outside the matrix, for every parser, with
    libical's restriction check."""
    failures = []
    ran = 0
    for parser in PARSERS:
        reading = readings[parser]
        if isinstance(reading, str):
            continue
        ran += 1
        for name, output in world.outputs.items():
            if name in FILES:
                continue
            if output.fetch_error:
                failures.append(f"{name}: {output.fetch_error}")
                continue
            problems = problems_of(output, reading[name], reading, world)
            if parser == "libical" and not reading[name]["restrictions"]["ok"]:
                problems += reading[name]["restrictions"]["errors"]
            failures += [f"{parser} reading “{name}”: {problem}" for problem in problems]
    if not ran:
        pytest.skip("no parser could run")
    assert not failures, "\n".join(sorted(set(failures)))
