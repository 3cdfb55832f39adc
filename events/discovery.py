"""Reads for the member-facing event pages: the list, the detail, my events, the timetable.

Every selector here is already scoped to what the viewer may see (through
`selectors.events_visible_to`) and already fetches its related rows, so a page issues the
same number of queries whatever the number of events, sessions or speakers it shows.
The pure helpers at the end (calendar links, timetable grid) touch no database.
"""

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import (
    CharField,
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import formats, timezone
from django.utils.translation import gettext

from events.models import Event, Registration, Session, StageRole
from events.selectors import events_visible_to
from members.models import User

Status = Registration.Status


# --- building blocks ---------------------------------------------------------------------


def _seats_taken_subquery(*, session_level: bool) -> Coalesce:
    """Seats held against the capacity of the outer event (or session), as a subquery."""
    if session_level:
        rows = Registration.objects.filter(session_id=OuterRef("pk"))
    else:
        rows = Registration.objects.filter(event_id=OuterRef("pk"), session__isnull=True)
    grouped = (
        rows.filter(status__in=Registration.SEAT_STATUSES)
        .order_by()
        .values("session_id" if session_level else "event_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(grouped, output_field=IntegerField()), 0)


def _stage_roles() -> Prefetch:
    return Prefetch(
        "stage_roles",
        # Never load a gender field into a page's context.
        queryset=StageRole.objects.select_related("profile__organisation").defer(
            "guest_gender", "guest_gender_consent"
        ),
    )


def _annotate_viewer(qs: QuerySet[Event], *, user: User) -> QuerySet[Event]:
    """The viewer's own event-level registration status, or None."""
    if not user.is_authenticated:
        return qs.annotate(my_status=Value(None, output_field=CharField()))
    mine = Registration.objects.filter(
        event_id=OuterRef("pk"), session__isnull=True, user_id=user.pk
    ).values("status")[:1]
    return qs.annotate(my_status=Subquery(mine))


# --- the event list ----------------------------------------------------------------------


def event_list(
    *,
    user: User,
    past: bool = False,
    now: dt.datetime | None = None,
    scope: tuple[list[int], list[int]] | None = None,
):
    """Events the viewer may see, upcoming (soonest first) or past (latest first): the rows
    to filter, count and page. `event_cards` loads what a page shows of them, so a page
    served from the cache builds none of that."""
    now = now or timezone.now()
    qs = events_visible_to(user=user, scope=scope)
    if past:
        return qs.filter(ends_at__lt=now).order_by("-starts_at", "-pk")
    return qs.filter(ends_at__gte=now).order_by("starts_at", "pk")


def event_cards(*, user: User, ids: list[int]) -> list[Event]:
    """These events in this order, with what a card shows: language, clusters, topics, seats
    taken and the viewer's own status (`my_status`). Visibility was decided by `event_list`."""
    qs = (
        Event.objects.filter(pk__in=ids)
        .select_related("language")
        .prefetch_related("clusters", "topics")
        .annotate(seats_taken=_seats_taken_subquery(session_level=False))
    )
    found = {event.pk: event for event in _annotate_viewer(qs, user=user)}
    return [found[pk] for pk in ids if pk in found]


# --- the event page ----------------------------------------------------------------------


def event_detail(*, user: User, slug: str) -> Event:
    """One event the viewer may see, with clusters, topics, speakers and sessions loaded.

    Sessions carry `seats_taken` and `speakers` (their stage roles); the event carries
    `seats_taken`, `my_status` and `event_speakers` (stage roles not tied to a session).
    """
    sessions = (
        Session.objects.filter(is_cancelled=False)
        .annotate(seats_taken=_seats_taken_subquery(session_level=True))
        .prefetch_related(_stage_roles())
        .order_by("starts_at", "track", "pk")
    )
    qs = (
        events_visible_to(user=user)
        .select_related("language")
        .prefetch_related(
            "clusters",
            "topics",
            Prefetch("sessions", queryset=sessions, to_attr="active_sessions"),
            _stage_roles(),
        )
        .annotate(seats_taken=_seats_taken_subquery(session_level=False))
    )
    event = _annotate_viewer(qs, user=user).filter(slug=slug).first()
    if event is None:
        raise Http404(gettext("No such event."))
    event.event_speakers = [role for role in event.stage_roles.all() if role.session_id is None]
    for session in event.active_sessions:
        session.speakers = list(session.stage_roles.all())
    return event


def event_get_visible_light(*, user: User, slug: str) -> Event:
    """The event alone (no related rows), for the register/cancel actions; 404 if unseen."""
    event = events_visible_to(user=user).filter(slug=slug).first()
    if event is None:
        raise Http404(gettext("No such event."))
    return event


def viewer_registrations(*, user: User, event: Event) -> dict[int | None, Registration]:
    """The viewer's registrations for the event (key None) and its sessions (session id)."""
    if not user.is_authenticated:
        return {}
    rows = Registration.objects.filter(event=event, user=user).exclude(
        status__in=[Status.CANCELLED]
    )
    return {r.session_id: r for r in rows}


def waitlist_number(*, registration: Registration) -> int | None:
    """1 for the next person in line; None when not on the waitlist.

    Positions are not renumbered when someone leaves the queue, so the number is the
    person's rank among those still waiting.
    """
    if registration.status != Status.WAITLISTED or registration.waitlist_position is None:
        return None
    queue = Registration.objects.filter(status=Status.WAITLISTED)
    if registration.session_id:
        queue = queue.filter(session_id=registration.session_id)
    else:
        queue = queue.filter(event_id=registration.event_id, session__isnull=True)
    return queue.filter(
        Q(waitlist_position__lt=registration.waitlist_position)
        | Q(waitlist_position=registration.waitlist_position, pk__lte=registration.pk)
    ).count()


def seats_left(*, capacity: int | None, taken: int) -> int | None:
    return None if capacity is None else max(capacity - taken, 0)


# --- my events ---------------------------------------------------------------------------


@dataclass
class MyEvents:
    registered: list[Registration]
    waiting: list[Registration]
    attended: list[Registration]


def my_events(*, user: User, now: dt.datetime | None = None) -> MyEvents:
    """The viewer's upcoming seats, their waitlist and pending places, and past attendance.

    Each registration carries `event` (with language and clusters) and `my_sessions`,
    the viewer's active registrations for that event's sessions.
    """
    now = now or timezone.now()
    my_session_rows = Prefetch(
        "event__registrations",
        queryset=Registration.objects.filter(
            user=user, session__isnull=False, status__in=Registration.ACTIVE_STATUSES
        )
        .select_related("session")
        .order_by("session__starts_at", "pk"),
        to_attr="my_sessions",
    )
    base = (
        Registration.objects.filter(user=user, session__isnull=True)
        .select_related("event__language")
        .prefetch_related("event__clusters", my_session_rows)
    )
    upcoming = Q(event__ends_at__gte=now)
    registered = base.filter(upcoming, status=Status.CONFIRMED).order_by("event__starts_at", "pk")
    waiting = base.filter(upcoming, status__in=[Status.WAITLISTED, Status.PENDING]).order_by(
        "event__starts_at", "pk"
    )
    attended = base.filter(event__ends_at__lt=now, status=Status.ATTENDED).order_by(
        "-event__starts_at", "-pk"
    )
    waiting = list(waiting.annotate(queue_number=_queue_number()))
    return MyEvents(registered=list(registered), waiting=waiting, attended=list(attended))


def _queue_number():
    """For a waitlisted event registration: its rank among those still waiting."""
    ahead = (
        Registration.objects.filter(
            event_id=OuterRef("event_id"),
            session__isnull=True,
            status=Status.WAITLISTED,
            waitlist_position__lte=OuterRef("waitlist_position"),
        )
        .order_by()
        .values("event_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Subquery(ahead, output_field=IntegerField())


# --- the timetable -----------------------------------------------------------------------


def timetable_sessions(*, event: Event) -> list[Session]:
    """The event's sessions with their speakers and seats, in time order."""
    sessions = (
        event.sessions.filter(is_cancelled=False)
        .annotate(seats_taken=_seats_taken_subquery(session_level=True))
        .prefetch_related(_stage_roles())
        .order_by("starts_at", "track", "pk")
    )
    result = list(sessions)
    for session in result:
        session.speakers = list(session.stage_roles.all())
    return result


@dataclass
class TimetableRow:
    starts_at: dt.datetime
    # Sessions without a track span every column (keynotes, breaks).
    plenary: list[Session] = field(default_factory=list)
    cells: list[list[Session]] = field(default_factory=list)

    @property
    def has_tracked(self) -> bool:
        return any(self.cells)


@dataclass
class TimetableDay:
    date: dt.date
    tracks: list[str]
    rows: list[TimetableRow]


def timetable_grid(*, sessions: list[Session], zone_name: str) -> list[TimetableDay]:
    """Sessions grouped by day (in the event's zone), one row per start time, tracks as columns.

    A pure function of its arguments.
    """
    zone = zoneinfo.ZoneInfo(zone_name)
    by_day: dict[dt.date, list[Session]] = defaultdict(list)
    for session in sorted(sessions, key=lambda s: (s.starts_at, s.track, s.pk or 0)):
        by_day[session.starts_at.astimezone(zone).date()].append(session)
    days = []
    for day, day_sessions in sorted(by_day.items()):
        tracks = sorted({s.track for s in day_sessions if s.track})
        rows: dict[dt.datetime, TimetableRow] = {}
        for session in day_sessions:
            row = rows.get(session.starts_at)
            if row is None:
                row = rows[session.starts_at] = TimetableRow(
                    starts_at=session.starts_at, cells=[[] for _ in tracks]
                )
            if session.track:
                row.cells[tracks.index(session.track)].append(session)
            else:
                row.plenary.append(session)
        days.append(TimetableDay(date=day, tracks=tracks, rows=list(rows.values())))
    return days


# --- add to calendar ---------------------------------------------------------------------


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def google_calendar_url(
    *,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    details: str = "",
    location: str = "",
) -> str:
    """A Google Calendar "add event" link; times in UTC so every viewer gets them right."""
    stamp = "%Y%m%dT%H%M%SZ"
    query = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{_utc(starts_at).strftime(stamp)}/{_utc(ends_at).strftime(stamp)}",
        "details": details,
        "location": location,
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_calendar_url(
    *,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    details: str = "",
    location: str = "",
) -> str:
    """An Outlook on the web "add event" link, with UTC times in ISO 8601."""
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": _utc(starts_at).strftime(stamp),
        "enddt": _utc(ends_at).strftime(stamp),
        "body": details,
        "location": location,
    }
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(query)


def calendar_links(*, event: Event, event_url: str) -> dict[str, str]:
    """Google and Outlook links for an event; the join link is never put in them."""
    location = ", ".join(part for part in [event.venue_name, event.venue_address] if part)
    if not location and event.is_online:
        location = event.online_platform or gettext("Online")
    details = "\n\n".join(part for part in [event.summary, event_url] if part)
    arguments = {
        "title": event.title,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "details": details,
        "location": location.replace("\n", ", "),
    }
    return {
        "google": google_calendar_url(**arguments),
        "outlook": outlook_calendar_url(**arguments),
    }


# --- times in two zones ------------------------------------------------------------------


@dataclass
class When:
    """An event's times as the viewer reads them, and as they are where it happens."""

    viewer_text: str
    viewer_zone: str
    event_text: str
    event_zone: str
    # The event's times with their date, for viewers who have no zone of their own.
    event_dated_text: str

    @property
    def same_zone(self) -> bool:
        return self.viewer_zone == self.event_zone


def _span(starts_at: dt.datetime, ends_at: dt.datetime, *, dated: bool = True) -> str:
    """'Sunday 28 March 2027, 14:00–16:00', or both ends in full across days."""
    # DATETIME_FORMAT of the active language (config/formats): the weekday, the date and
    # then the time, e.g. "Sunday 28 March 2027, 14:00" or "Sonntag, 28. März 2027, 14:00".
    if starts_at.date() == ends_at.date():
        if not dated:
            return f"{starts_at:%H:%M}–{ends_at:%H:%M}"
        return f"{formats.date_format(starts_at, 'DATETIME_FORMAT')}–{ends_at:%H:%M}"
    start = formats.date_format(starts_at, "DATETIME_FORMAT")
    return f"{start} – {formats.date_format(ends_at, 'DATETIME_FORMAT')}"


def event_when(
    *, starts_at: dt.datetime, ends_at: dt.datetime, event_zone: str, viewer_zone: str
) -> When:
    """The times in the viewer's zone, and in the event's zone (dated only if the day differs).

    A pure function: `When(viewer_text="Sunday 28 March 2027, 14:00–16:00",
    viewer_zone="Europe/Lisbon", event_text="15:00–17:00", event_zone="Europe/Vienna")`.
    """
    viewer = zoneinfo.ZoneInfo(viewer_zone)
    there = zoneinfo.ZoneInfo(event_zone)
    v_start, v_end = starts_at.astimezone(viewer), ends_at.astimezone(viewer)
    e_start, e_end = starts_at.astimezone(there), ends_at.astimezone(there)
    same_days = (v_start.date(), v_end.date()) == (e_start.date(), e_end.date())
    return When(
        viewer_text=_span(v_start, v_end),
        viewer_zone=viewer_zone,
        event_text=_span(e_start, e_end, dated=not same_days),
        event_zone=event_zone,
        event_dated_text=_span(e_start, e_end),
    )
