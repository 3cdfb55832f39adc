"""Messages about registrations, handed to `notifications` (which knows nothing of events).

Called inside the registration transaction; `notifications` sends after commit.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from events import ical
from events.discovery import waitlist_number
from events.models import Registration
from notifications.services import email_enqueue


def registration_changed(
    *, registration: Registration, promoted: bool = False, approved: bool = False
) -> None:
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
    body = render_to_string("events/email/registration_body.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[registration.user.email],
    )
    method = ical.invitation_method(registration)
    invitation = ical.registration_invitation(registration, method).decode()
    calendar_type = f"text/calendar; method={method}; charset=utf-8"
    # As an alternative part, Outlook and Gmail show their RSVP card; as an attachment,
    # every other client can still open or import it.
    message.attach_alternative(invitation, calendar_type)
    message.attach("invitation.ics", invitation, calendar_type)
    email_enqueue(
        message=message,
        kind="events.registration",
        # Each state of a registration is told once: status and sequence identify it.
        idempotency_key=(f"events.registration:{registration.pk}:{kind}:{registration.sequence}"),
    )
