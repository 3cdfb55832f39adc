"""Messages about registrations, handed to `notifications` (which knows nothing of events).

Called inside the registration transaction; `notifications` sends after commit.

Every message about an event goes to the outbox in the batch `event_batch(event)`, which
the organiser's dashboard counts and retries, and answers go to the event's organisers
(`organiser_reply_to`).
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from events import ical
from events.discovery import waitlist_number
from events.models import Event, Registration
from members.selectors import organiser_emails
from notifications.services import email_enqueue

# Reply-To names at most this many organisers: enough to reach someone, not a mailing list.
REPLY_TO_LIMIT = 3


def event_batch(event: Event) -> str:
    """The outbox batch of every message about `event`."""
    return f"event:{event.pk}"


def organiser_reply_to(*, event: Event) -> list[str]:
    """Where replies to mail about `event` go: its organisers (at most three; one query).

    The organisers of the event's clusters, the person who created the event first if
    they are one of them, then the longest-serving; the site's sender when there are none.
    Senders of many messages call this once per batch, not once per recipient.
    """
    emails = organiser_emails(
        clusters=event.clusters.all(), first_user_id=event.created_by_id, limit=REPLY_TO_LIMIT
    )
    return emails or [settings.DEFAULT_FROM_EMAIL]


def attach_invitation(*, message: EmailMultiAlternatives, registration: Registration) -> None:
    """The person's calendar entry (REQUEST, or CANCEL), with the current SEQUENCE.

    As an alternative part, Outlook and Gmail show their RSVP card and update the entry;
    as an attachment, every other client can still open or import it.
    """
    method = ical.invitation_method(registration)
    invitation = ical.registration_invitation(registration, method).decode()
    calendar_type = f"text/calendar; method={method}; charset=utf-8"
    message.attach_alternative(invitation, calendar_type)
    message.attach("invitation.ics", invitation, calendar_type)


def registration_changed(
    *,
    registration: Registration,
    promoted: bool = False,
    approved: bool = False,
    reply_to: list[str] | None = None,
) -> None:
    """Tell a person what became of their registration (with the calendar invitation).

    Callers that tell many people about one event pass `reply_to` (from
    `organiser_reply_to`), so the organisers are looked up once.
    """
    kind = "promoted" if promoted else registration.status
    context = {
        "registration": registration,
        "event": registration.event,
        "session": registration.session,
        "kind": kind,
        "event_cancelled": registration.event.status == registration.event.Status.CANCELLED,
        "session_cancelled": bool(registration.session and registration.session.is_cancelled),
        "when": registration.session or registration.event,
        "approved": approved,
        "waitlist_number": waitlist_number(registration=registration),
        "site_name": settings.SITE_NAME,
        "event_url": settings.SITE_URL + registration.event.get_absolute_url(),
    }
    subject = render_to_string("events/email/registration_subject.txt", context).strip()
    event = registration.event
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("events/email/registration_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[registration.user.email],
        reply_to=reply_to if reply_to is not None else organiser_reply_to(event=event),
    )
    message.attach_alternative(
        render_to_string("events/email/registration_body.html", context), "text/html"
    )
    attach_invitation(message=message, registration=registration)
    email_enqueue(
        message=message,
        kind="events.registration",
        # Each state of a registration is told once: status and sequence identify it.
        idempotency_key=(f"events.registration:{registration.pk}:{kind}:{registration.sequence}"),
        batch=event_batch(event),
    )
