"""Reminders before an event and the follow-up after it, found by sweeping (celery beat).

Reminders: each event lists in `reminder_offsets` the minutes before its start at which
the confirmed participants are reminded. A series (`events.ical.is_series`: a circle's
meetings, a training's dates) is reminded before each of its meetings instead, with that
meeting's calendar entry; cancelled meetings are not. A sweep every few minutes queues
the reminders whose moment has come. The idempotency key names the registration, the
offset, the start time and, for a meeting, the meeting, so a reminder goes out once per
start of each meeting: when the event or a meeting moves, its reminders are due again
for the new time. A reminder whose moment passed more than two sweeps ago (published or
moved late) is skipped, except the nearest one, so people still get one.

Follow-up: once an event has ended and its attendance is recorded, the people who came
(not the no-shows) get the materials, the recording and a feedback link, once.

Both sweeps hand their messages to `notifications` in one transaction per event, so a
message is written together with what marks it done; `notifications` sends after commit.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events import ical
from events.models import Event, Registration, Session
from events.notify import event_batch, organiser_reply_to
from members.languages import in_recipients_language
from members.models import User
from members.preferences import REMINDERS, unsubscribe_url, users_wanting
from notifications.services import (
    email_enqueue,
    keys_already_queued,
    list_unsubscribe_headers,
    subject_line,
)

logger = logging.getLogger(__name__)
Status = Registration.Status

# The choices an organiser has (minutes before the start).
REMINDER_OFFSET_CHOICES = (
    (10080, _("One week before")),
    (2880, _("Two days before")),
    (1440, _("One day before")),
    (180, _("Three hours before")),
    (60, _("One hour before")),
    (15, _("Fifteen minutes before")),
)
# Offsets beyond this are ignored: it bounds the events each sweep looks at.
MAX_REMINDER_OFFSET = timedelta(minutes=max(minutes for minutes, _ in REMINDER_OFFSET_CHOICES))
# A follow-up is sent for events that ended within this period, not older ones.
FOLLOWUP_WITHIN = timedelta(days=7)
# Unmarked attendance holds the follow-up back this long (attendance_close runs hourly).
ATTENDANCE_GRACE = timedelta(hours=24)
# How many idempotency keys one "already queued?" query asks about.
_KEY_BATCH = 500


def sweep_interval() -> timedelta:
    """How often beat runs the reminder sweep (the "events-reminders" entry)."""
    entry = settings.CELERY_BEAT_SCHEDULE.get("events-reminders", {})
    schedule = entry.get("schedule", 5 * 60)
    if isinstance(schedule, int | float):
        return timedelta(seconds=schedule)
    return timedelta(minutes=5)


def _event_url(event: Event) -> str:
    return settings.SITE_URL + event.get_absolute_url()


def _offsets(event: Event) -> list[int]:
    """The event's valid offsets in minutes, largest first, without duplicates."""
    limit = MAX_REMINDER_OFFSET.total_seconds() // 60
    valid = {
        value
        for value in event.reminder_offsets or []
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit
    }
    return sorted(valid, reverse=True)


def due_offsets(*, event: Event, now: datetime, starts_at: datetime | None = None) -> list[int]:
    """The offsets whose reminder should go out at `now` for the start `starts_at`
    (the event's, or one of its meetings').

    Due: its moment (start - offset) has come and the start has not. Of the due ones,
    those late by more than two sweeps are dropped, except the nearest (smallest
    offset): after a late publish or a move, people get one reminder, not a burst.
    """
    starts_at = starts_at or event.starts_at
    if not now < starts_at:
        return []
    due = [m for m in _offsets(event) if starts_at - timedelta(minutes=m) <= now]
    if not due:
        return []
    late_limit = 2 * sweep_interval()
    nearest = min(due)
    return [
        m for m in due if m == nearest or now - (starts_at - timedelta(minutes=m)) <= late_limit
    ]


def reminder_key(
    *,
    registration: Registration,
    offset: int,
    starts_at: datetime,
    session: Session | None = None,
) -> str:
    key = f"events.reminder:{registration.pk}:{offset}:{starts_at.isoformat()}"
    return key if session is None else f"{key}:session-{session.pk}"


def followup_key(*, registration: Registration) -> str:
    return f"events.followup:{registration.pk}"


def _already_queued(keys: list[str]) -> set[str]:
    return keys_already_queued(keys=keys, batch=_KEY_BATCH)


def _message(
    *,
    template: str,
    context: dict,
    to: str,
    reply_to: list[str],
    attach_invitation: Registration | None = None,
    session: Session | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMultiAlternatives:
    subject = render_to_string(f"events/email/{template}_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=subject_line(subject),
        body=render_to_string(f"events/email/{template}_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=reply_to,
        headers=headers,
    )
    message.attach_alternative(
        render_to_string(f"events/email/{template}_body.html", context), "text/html"
    )
    if attach_invitation is not None:
        method = ical.invitation_method(attach_invitation, session=session)
        message.attach(
            "invitation.ics",
            ical.registration_invitation(attach_invitation, method, session=session).decode(),
            f"text/calendar; method={method}; charset=utf-8",
        )
    return message


# --- reminders -------------------------------------------------------------------------


@in_recipients_language(lambda **kwargs: kwargs["registration"].user)
def reminder_enqueue(
    *,
    registration: Registration,
    offset: int,
    reply_to: list[str] | None = None,
    session: Session | None = None,
) -> None:
    """Queue one reminder; the caller's transaction writes it, `notifications` sends it.

    `session`: the meeting of a series the reminder is for (its entry is attached).
    Reminders are optional mail: they carry a one-click unsubscribe link. Callers that
    remind many people of one event pass `reply_to` (see `organiser_reply_to`).
    """
    event = registration.event
    unsubscribe = unsubscribe_url(user=registration.user, kind=REMINDERS)
    when = session or event
    context = {
        "registration": registration,
        "event": event,
        "session": session,
        "when": when,
        "offset": offset,
        "join_url": event.online_url if registration.status == Status.CONFIRMED else "",
        "site_name": settings.SITE_NAME,
        "event_url": _event_url(event),
        "unsubscribe_url": unsubscribe,
    }
    email_enqueue(
        message=_message(
            template="reminder",
            context=context,
            to=registration.user.email,
            reply_to=reply_to if reply_to is not None else organiser_reply_to(event=event),
            attach_invitation=registration,
            session=session,
            headers=list_unsubscribe_headers(url=unsubscribe),
        ),
        kind="events.reminder",
        idempotency_key=reminder_key(
            registration=registration, offset=offset, starts_at=when.starts_at, session=session
        ),
        batch=event_batch(event),
    )


def _due_starts(*, now: datetime) -> dict[int, tuple[Event, list[tuple[Session | None, int]]]]:
    """{event id: (event, [(meeting or None for the event itself, offset)])} due at `now`.

    Published events starting within the largest offset, and series with a meeting
    starting within it; a series is reminded of its meetings only.
    """
    horizon = now + MAX_REMINDER_OFFSET
    soon = Q(starts_at__gt=now, starts_at__lte=horizon)
    meetings_soon = Session.objects.filter(
        soon, event__status=Event.Status.PUBLISHED, is_cancelled=False
    ).values("event_id")
    events = Event.objects.filter(status=Event.Status.PUBLISHED).filter(
        soon | Q(pk__in=meetings_soon)
    )
    due = {}
    for event in events.prefetch_related("sessions"):
        series = ical.event_meetings(event)
        if series:
            starts = [(m, m.starts_at) for m in series if not m.is_cancelled]
        else:
            starts = [(None, event.starts_at)]
        pairs = [
            (meeting, offset)
            for meeting, starts_at in starts
            for offset in due_offsets(event=event, now=now, starts_at=starts_at)
        ]
        if pairs:
            due[event.pk] = (event, pairs)
    return due


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Queue every reminder due at `now`; returns how many were queued.

    Looks only at published events (and meetings of series) starting within the largest
    offset; running it again queues nothing new. People who turned reminders off get none.
    """
    now = now or timezone.now()
    due = _due_starts(now=now)
    if not due:
        return 0
    registrations = (
        Registration.objects.filter(
            event_id__in=due,
            session__isnull=True,
            status=Status.CONFIRMED,
            user__in=users_wanting(users=User.objects.all(), kind=REMINDERS),
        )
        .select_related("user__profile")
        .order_by("event_id", "pk")
    )
    by_event: dict[int, list[tuple[Registration, Session | None, int]]] = defaultdict(list)
    keys = {}
    for registration in registrations:
        event, pairs = due[registration.event_id]
        registration.event = event  # one instance per event: its organisers looked up once
        for meeting, offset in pairs:
            by_event[event.pk].append((registration, meeting, offset))
            keys[(registration.pk, meeting.pk if meeting else None, offset)] = reminder_key(
                registration=registration,
                offset=offset,
                starts_at=(meeting or event).starts_at,
                session=meeting,
            )
    queued_before = _already_queued(list(keys.values()))
    count = 0
    for triples in by_event.values():
        reply_to: list[str] | None = None
        with transaction.atomic():
            for registration, meeting, offset in triples:
                key = keys[(registration.pk, meeting.pk if meeting else None, offset)]
                if key in queued_before:
                    continue
                if reply_to is None:
                    reply_to = organiser_reply_to(event=registration.event)
                reminder_enqueue(
                    registration=registration, offset=offset, reply_to=reply_to, session=meeting
                )
                count += 1
    return count


# --- follow-up -------------------------------------------------------------------------


@in_recipients_language(lambda **kwargs: kwargs["registration"].user)
def followup_enqueue(*, registration: Registration, reply_to: list[str] | None = None) -> None:
    event = registration.event
    event_url = _event_url(event)
    context = {
        "registration": registration,
        "event": event,
        "site_name": settings.SITE_NAME,
        "event_url": event_url,
        "feedback_url": f"{event_url}#feedback",
    }
    email_enqueue(
        message=_message(
            template="followup",
            context=context,
            to=registration.user.email,
            reply_to=reply_to if reply_to is not None else organiser_reply_to(event=event),
        ),
        kind="events.followup",
        idempotency_key=followup_key(registration=registration),
        batch=event_batch(event),
    )


def followups_send_due(*, now: datetime | None = None) -> int:
    """Send the follow-up of every event that ended in the last week; returns messages queued.

    An event waits while confirmed participants are still unmarked (attendance not yet
    recorded), for at most a day after its end. Each event is followed up once:
    `followup_sent_at` is set in the same transaction as its messages.
    """
    now = now or timezone.now()
    unmarked = Registration.objects.filter(
        event=OuterRef("pk"), session__isnull=True, status=Status.CONFIRMED
    )
    candidates = (
        Event.objects.filter(
            status__in=(Event.Status.PUBLISHED, Event.Status.COMPLETED),
            followup_sent_at__isnull=True,
            ends_at__lte=now,
            ends_at__gt=now - FOLLOWUP_WITHIN,
        )
        .annotate(attendance_open=Exists(unmarked))
        .exclude(attendance_open=True, ends_at__gt=now - ATTENDANCE_GRACE)
        .values_list("pk", flat=True)
    )
    count = 0
    for pk in list(candidates):
        with transaction.atomic():
            event = (
                Event.objects.select_for_update(of=("self",))
                .filter(pk=pk, followup_sent_at__isnull=True)
                .first()
            )
            if event is None:
                continue  # another sweep did it meanwhile
            attendees = Registration.objects.filter(
                event=event, session__isnull=True, status=Status.ATTENDED
            ).select_related("user__profile")
            reply_to = organiser_reply_to(event=event)
            for registration in attendees:
                registration.event = event
                followup_enqueue(registration=registration, reply_to=reply_to)
                count += 1
            event.followup_sent_at = now
            event.save(update_fields=["followup_sent_at"])
    return count
