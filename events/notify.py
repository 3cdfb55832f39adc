"""Messages about registrations, handed to `notifications` (which knows nothing of events).

Called inside the registration transaction; `notifications` sends after commit. A
registration's message is rendered by the outbox worker (`registration_message`), so the
seat lock is not held while templates and calendar files are built.

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
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string

from events import ical
from events.calendar_selectors import event_organisers
from events.discovery import waitlist_number
from events.models import Event, Registration, Session
from members.languages import in_language_of, in_recipients_language
from members.models import User
from notifications.services import (
    email_enqueue,
    email_enqueue_deferred,
    email_enqueue_deferred_sql,
    subject_line,
)

# Reply-To names at most this many organisers: enough to reach someone, not a mailing list.
REPLY_TO_LIMIT = 3

# The outbox's name for a registration's message, and how it is rendered.
REGISTRATION_KIND = "events.registration"
REGISTRATION_RENDER = "events.notify.registration_message"

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


def registration_changed(
    *,
    registration: Registration,
    promoted: bool = False,
    approved: bool = False,
    seats: Iterable[Registration] = (),
    queue_number: int | None = None,
) -> None:
    """Tell a person what became of their registration (with the calendar invitation).

    Replies go to the organisers as they are when the message is rendered. `seats`: the
    person's session registrations that changed with it (withdrawn with the event), whose
    calendar entries travel in the same message. `queue_number`: the waitlist number
    (`waitlist_number`) when the caller already knows it.

    Called under the capacity lock, so only a small outbox row is written here: the state
    the message is about, which `registration_message` renders after commit.
    """
    kind = "promoted" if promoted else registration.status
    event = registration.event
    session = registration.session if registration.session_id else None
    params = {
        "registration": registration.pk,
        "kind": kind,
        "approved": approved,
        # As things are now: a later change has its own message and must not alter this one.
        "status": registration.status,
        "sequence": registration.sequence,
        "waitlist_position": registration.waitlist_position,
        "waitlist_number": (
            queue_number if queue_number is not None else waitlist_number(registration=registration)
        ),
        "event_status": event.status,
        "event_sequence": event.sequence,
        "session_state": [session.is_cancelled, session.sequence] if session else None,
        "seats": [[seat.pk, seat.status, seat.sequence] for seat in seats],
    }
    email_enqueue_deferred(
        recipient=registration.user.email,
        render=REGISTRATION_RENDER,
        params=params,
        kind=REGISTRATION_KIND,
        # Each state of a registration is told once: status and sequence identify it.
        idempotency_key=f"{REGISTRATION_KIND}:{registration.pk}:{kind}:{registration.sequence}",
        batch=event_batch(event),
    )


def registration_new_sql(*, event: Event, user: User) -> tuple[str, list]:
    """`registration_changed` for a person's new registration for the event itself, as
    the SQL of the statement that writes the registration (`events.services`): over its
    relations `registration` (the new row) and `decision` (`waitlist_number`,
    `event_status`, `event_sequence`). It writes the row `registration_changed` would
    (`tests/events/test_registration_statement.py` compares them)."""
    return email_enqueue_deferred_sql(
        recipient=user.email,
        render=REGISTRATION_RENDER,
        params={"approved": False, "session_state": None, "seats": []},
        selected_params={
            "registration": "registration.id",
            "kind": "registration.status",
            "status": "registration.status",
            "sequence": "registration.sequence",
            "waitlist_position": "registration.waitlist_position",
            "waitlist_number": "decision.waitlist_number",
            "event_status": "decision.event_status",
            "event_sequence": "decision.event_sequence",
        },
        idempotency_key_sql=(
            f"'{REGISTRATION_KIND}:' || registration.id || ':' || registration.status"
            " || ':' || registration.sequence"
        ),
        kind=REGISTRATION_KIND,
        batch=event_batch(event),
        source="registration, decision",
    )


def _as_it_was(registration: Registration, *, status: str, sequence: int) -> Registration:
    registration.status, registration.sequence = status, sequence
    return registration


def registration_message(
    *,
    registration: int,
    kind: str,
    approved: bool,
    status: str,
    sequence: int,
    waitlist_position: int | None,
    waitlist_number: int | None,
    event_status: str,
    event_sequence: int,
    session_state: list | None,
    seats: list[list],
) -> EmailMultiAlternatives:
    """The message `registration_changed` queued, rendered from its ids in the
    recipient's language, with the registration as it was when it changed."""
    registration = _as_it_was(
        Registration.objects.select_related("user__profile", "event", "session").get(
            pk=registration
        ),
        status=status,
        sequence=sequence,
    )
    registration.waitlist_position = waitlist_position
    event = registration.event
    event.status, event.sequence = event_status, event_sequence
    prefetch_related_objects([event], "sessions")  # read by the text and the calendar: once
    session = registration.session if registration.session_id else None
    if session is not None and session_state is not None:
        session.is_cancelled, session.sequence = session_state
    loaded = Registration.objects.select_related("session").in_bulk([pk for pk, *_ in seats])
    seat_rows = []
    for pk, seat_status, seat_sequence in seats:  # in the caller's order
        seat = _as_it_was(loaded[pk], status=seat_status, sequence=seat_sequence)
        seat.event = event
        seat_rows.append(seat)
    with in_language_of(registration.user):
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
            "waitlist_number": waitlist_number,
            "site_name": settings.SITE_NAME,
            "event_url": settings.SITE_URL + event.get_absolute_url(),
        }
        subject = render_to_string("events/email/registration_subject.txt", context).strip()
        message = EmailMultiAlternatives(
            subject=subject_line(subject),
            body=render_to_string("events/email/registration_body.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[registration.user.email],
            reply_to=organiser_reply_to(event=event),
        )
        message.attach_alternative(
            render_to_string("events/email/registration_body.html", context), "text/html"
        )
        attach_invitation(message=message, registration=registration, seats=seat_rows)
    return message


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
