"""Messages about registrations, handed to `notifications` (which knows nothing of events).

Called inside the registration transaction; `notifications` sends after commit.

Every message about an event goes to the outbox in the batch `event_batch(event)`, which
the organiser's dashboard counts and retries, and answers go to the event's organisers
(`organiser_reply_to`), the first of whom the calendar entry names as ORGANIZER.

Each message carries the person's calendar entries (`attach_invitation`): for a series
(a circle's meetings, a training's dates) one entry per meeting, or only the meeting a
message is about; with `seats`, the person's conference sessions go in the same message.
"""

from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from events import ical
from events.calendar_selectors import event_organisers
from events.discovery import waitlist_number
from events.models import Event, Registration, Session
from members.languages import in_recipients_language
from notifications.services import email_enqueue, subject_line

# Reply-To names at most this many organisers: enough to reach someone, not a mailing list.
REPLY_TO_LIMIT = 3

# What happened to a session (or the event) in an `event_changed` message.
CHANGE_MOVED = "moved"
CHANGE_ADDED = "added"
CHANGE_CANCELLED = "cancelled"


def event_batch(event: Event) -> str:
    """The outbox batch of every message about `event`."""
    return f"event:{event.pk}"


def organiser_reply_to(*, event: Event) -> list[str]:
    """Where replies to mail about `event` go: its organisers (at most three; one query).

    The organisers of the event's clusters, the person who created the event first if
    they are one of them, then the longest-serving; the site's sender when there are none.
    The answer is kept on the event instance, which also gives the calendar's ORGANIZER:
    senders of many messages share one instance, and the organisers are looked up once.
    """
    emails = [o.email for o in event_organisers(event=event) if not o.is_site]
    return emails[:REPLY_TO_LIMIT] or [settings.DEFAULT_FROM_EMAIL]


def attach_invitation(
    *,
    message: EmailMultiAlternatives,
    registration: Registration,
    session: Session | None = None,
    seats: Iterable[Registration] = (),
) -> None:
    """The person's calendar entries (REQUEST, or CANCEL), with the current SEQUENCE.

    `session` narrows a series to the one meeting the message is about; `seats` adds
    the person's session registrations (see `ical.registration_invitation`).
    As an alternative part, Outlook and Gmail show their RSVP card and update the entry;
    as an attachment, every other client can still open or import it.
    """
    method = ical.invitation_method(registration, session=session)
    invitation = ical.registration_invitation(
        registration, method, session=session, seats=seats
    ).decode()
    calendar_type = f"text/calendar; method={method}; charset=utf-8"
    message.attach_alternative(invitation, calendar_type)
    message.attach("invitation.ics", invitation, calendar_type)


def _meetings_ahead(event: Event) -> list[Session]:
    return [meeting for meeting in ical.event_meetings(event) if not meeting.is_cancelled]


@in_recipients_language(lambda **kwargs: kwargs["registration"].user)
def registration_changed(
    *,
    registration: Registration,
    promoted: bool = False,
    approved: bool = False,
    reply_to: list[str] | None = None,
    seats: Iterable[Registration] = (),
) -> None:
    """Tell a person what became of their registration (with the calendar invitation).

    Callers that tell many people about one event pass `reply_to` (from
    `organiser_reply_to`), so the organisers are looked up once. `seats`: the person's
    session registrations that changed with it (withdrawn with the event), whose
    calendar entries travel in the same message.
    """
    kind = "promoted" if promoted else registration.status
    event = registration.event
    session = registration.session if registration.session_id else None
    context = {
        "registration": registration,
        "event": event,
        "session": session,
        "kind": kind,
        "event_cancelled": event.status == event.Status.CANCELLED,
        "session_cancelled": bool(session and session.is_cancelled),
        "when": session or event,
        "meetings": _meetings_ahead(event) if session is None else [],
        "approved": approved,
        "waitlist_number": waitlist_number(registration=registration),
        "site_name": settings.SITE_NAME,
        "event_url": settings.SITE_URL + event.get_absolute_url(),
    }
    subject = render_to_string("events/email/registration_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject_line(subject),
        body=render_to_string("events/email/registration_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[registration.user.email],
        reply_to=reply_to if reply_to is not None else organiser_reply_to(event=event),
    )
    message.attach_alternative(
        render_to_string("events/email/registration_body.html", context), "text/html"
    )
    attach_invitation(message=message, registration=registration, seats=seats)
    email_enqueue(
        message=message,
        kind="events.registration",
        # Each state of a registration is told once: status and sequence identify it.
        idempotency_key=(f"events.registration:{registration.pk}:{kind}:{registration.sequence}"),
        batch=event_batch(event),
    )


def changed_key(*, registration: Registration, event: Event, session: Session | None) -> str:
    """One message per person per version of the event, or of one of its sessions."""
    version = f"{session.pk}.{session.sequence}" if session is not None else "-"
    return f"events.changed:{registration.pk}:{event.sequence}:{version}"


@in_recipients_language(lambda **kwargs: kwargs["registration"].user)
def event_changed(
    *,
    registration: Registration,
    event: Event,
    session: Session | None = None,
    change: str = CHANGE_MOVED,
    what: Iterable[str] = (),
    reply_to: list[str],
    seats: Iterable[Registration] = (),
) -> None:
    """Tell a registered person that the organisers moved the event or one of its
    sessions, or added or cancelled a meeting of a series; their registration stays.

    `registration` is the person's registration for the event (or for `session`);
    `session` is the session or meeting the message is about (its entry only is
    attached); `what` names the changed fields; `seats` as in `registration_changed`.
    """
    what = set(what)
    context = {
        "event": event,
        "session": session,
        "registration": registration,
        "change": change,
        "time_changed": bool(what & {"starts_at", "ends_at", "timezone"}),
        "place_changed": bool(
            what & {"venue_name", "venue_address", "online_platform", "online_url", "room"}
        ),
        "site_name": settings.SITE_NAME,
        "event_url": settings.SITE_URL + event.get_absolute_url(),
    }
    subject = render_to_string("events/email/event_changed_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=subject_line(subject),
        body=render_to_string("events/email/event_changed_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[registration.user.email],
        reply_to=reply_to,
    )
    message.attach_alternative(
        render_to_string("events/email/event_changed_body.html", context), "text/html"
    )
    # The updated entry: same UID, higher SEQUENCE, so calendars move (or drop) it.
    registration.event = event
    if session is not None and registration.session_id == session.pk:
        registration.session = session
    only = session if session is not None and not registration.session_id else None
    attach_invitation(message=message, registration=registration, session=only, seats=seats)
    email_enqueue(
        message=message,
        kind="events.changed",
        idempotency_key=changed_key(registration=registration, event=event, session=session),
        batch=event_batch(event),
    )
