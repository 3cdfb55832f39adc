"""What events hold about a person, for their data export and account erasure."""

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from events import fragments
from events.models import (
    CalendarFeed,
    Campaign,
    CampaignRecipient,
    Event,
    Invitation,
    Registration,
    Session,
    StageRole,
)
from members.models import User
from members.personal_data import FORMER_MEMBER, person_identifiers
from notifications.redaction import Redactor

# Statuses a cancellation can leave: seats and places in line, not attendance.
_CANCELLABLE = (
    Registration.Status.PENDING,
    Registration.Status.CONFIRMED,
    Registration.Status.WAITLISTED,
)


def _addressed_to(emails: list[str], field: str = "email") -> Q:
    condition = Q(pk__in=[])
    for email in emails:
        condition |= Q(**{f"{field}__iexact": email})
    return condition


def export_registrations(user: User) -> list[dict]:
    return [
        {
            "event": r.event.title,
            "session": r.session.title if r.session else None,
            "starts_at": (r.session or r.event).starts_at.isoformat(),
            "status": r.status,
            "registered_at": r.created_at.isoformat(),
            "checked_in_at": r.checked_in_at.isoformat() if r.checked_in_at else None,
            "calendar_answer": r.calendar_answer or None,
            "calendar_answered_at": (
                r.calendar_answered_at.isoformat() if r.calendar_answered_at else None
            ),
        }
        for r in Registration.objects.filter(user=user)
        .select_related("event", "session")
        .order_by("created_at", "pk")
    ]


def export_invitations(user: User) -> list[dict]:
    """Campaign invitations, also those sent to one of the person's addresses before it
    belonged to their account."""
    emails = person_identifiers(user).emails
    return [
        {
            "event": r.campaign.event.title,
            "email": r.email,
            "rsvp": r.rsvp,
            "sent_at": r.created_at.isoformat(),
        }
        for r in CampaignRecipient.objects.filter(Q(user=user) | _addressed_to(emails))
        .select_related("campaign__event")
        .order_by("pk")
    ]


def export_guest_lists(user: User) -> list[dict]:
    """The invitation-only events whose guest list holds one of the person's addresses."""
    emails = person_identifiers(user).emails
    return [
        {"event": i.event.title, "email": i.email, "added_at": i.created_at.isoformat()}
        for i in Invitation.objects.filter(_addressed_to(emails))
        .select_related("event")
        .order_by("created_at", "pk")
    ]


def export_stage_roles(user: User) -> list[dict]:
    return [
        {
            "event": r.event.title,
            "session": r.session.title if r.session else None,
            "role": r.role,
            "starts_at": (r.session or r.event).starts_at.isoformat(),
        }
        for r in StageRole.objects.filter(profile__user=user)
        .select_related("event", "session")
        .order_by("event__starts_at", "order", "pk")
    ]


def export_calendar_feed(user: User) -> dict | None:
    # The feed's address is a credential: only that there is one, and since when.
    feed = CalendarFeed.objects.filter(user=user).first()
    return {"created_at": feed.created_at.isoformat()} if feed else None


def export_organising(user: User) -> dict:
    """Events and invitation campaigns the person created as an organiser."""
    return {
        "events_created": [
            {"title": e.title, "starts_at": e.starts_at.isoformat(), "status": e.status}
            for e in Event.objects.filter(created_by=user).order_by("starts_at", "pk")
        ],
        "campaigns_created": [
            {
                "event": c.event.title,
                "created_at": c.created_at.isoformat(),
                "status": c.status,
                "recipients": c.recipient_count,
            }
            for c in Campaign.objects.filter(created_by=user)
            .select_related("event")
            .order_by("created_at", "pk")
        ],
    }


def erase(user: User) -> None:
    """Free the seats a person still holds, and forget them wherever events named them.

    Past registrations and attendance stay as anonymous counts (the account row stays);
    the tallies follow by themselves (events.tally). Their stage roles stay as "A former
    member", so a past panel still shows how many were on it; invitations, guest-list
    entries, uploaded addresses and the calendar feed go.
    """
    from events.services import registration_cancel

    identifiers = person_identifiers(user)
    redactor = identifiers.redactor()
    now = timezone.now()
    # Nobody is told: a cancellation would be mail to, and about, the person.
    for registration in Registration.objects.filter(
        user=user, status__in=_CANCELLABLE, event__ends_at__gt=now, session__isnull=True
    ).select_related("event"):
        registration_cancel(registration=registration, by=user, notify_person=False)
    for registration in Registration.objects.filter(
        user=user, status__in=_CANCELLABLE, session__ends_at__gt=now
    ).select_related("event", "session"):
        # Sessions of an event whose registration stays (checked in on day one).
        registration_cancel(registration=registration, by=user, notify_person=False)
    _stage_roles_erase(user=user, redactor=redactor)
    CalendarFeed.objects.filter(user=user).delete()
    # Which invitations went to the address is personal; the campaign keeps its count.
    CampaignRecipient.objects.filter(Q(user=user) | _addressed_to(identifiers.emails)).delete()
    Invitation.objects.filter(_addressed_to(identifiers.emails)).delete()
    _campaigns_redact(emails=identifiers.emails, redactor=redactor)


def _redact_fields(instance, fields: tuple[str, ...], redactor: Redactor) -> None:
    changed = []
    for field in fields:
        value = redactor.text(getattr(instance, field))
        if value != getattr(instance, field):
            setattr(instance, field, value)
            changed.append(field)
    if changed:
        instance.save(update_fields=[*changed, "updated_at"])


def event_texts_redact(
    *, event_ids: Iterable[int], session_ids: Iterable[int] = (), redactor: Redactor
) -> None:
    """Take a person's name out of the titles and texts of these events and sessions
    (for an erasure: no participant is told, the iCalendar SEQUENCE does not move)."""
    from events.authoring import _unique_slug

    if not redactor:
        return
    for event in Event.objects.filter(pk__in=list(event_ids)):
        _redact_fields(event, ("title", "summary", "description"), redactor)
        slug = redactor.slug(event.slug)
        if slug != event.slug:
            # The page moves (its address named the person); calendars follow the UID.
            event.slug = _unique_slug(slug, exclude_pk=event.pk)
            event.save(update_fields=["slug"])
    for session in Session.objects.filter(pk__in=list(session_ids)):
        _redact_fields(session, ("title", "description"), redactor)


def _stage_roles_erase(*, user: User, redactor: Redactor) -> None:
    """A stage role is public history: the place on the programme stays, the person goes.

    The events and sessions they were on stage at lose their name from titles and texts
    (a mentoring circle is named after its mentor, a talk after its speaker).
    """
    roles = StageRole.objects.filter(profile__user=user)
    event_ids = set(roles.values_list("event_id", flat=True))
    session_ids = set(roles.exclude(session=None).values_list("session_id", flat=True))
    event_texts_redact(event_ids=event_ids, session_ids=session_ids, redactor=redactor)
    StageRole.objects.filter(pk__in=list(roles.values_list("pk", flat=True))).update(
        profile=None,
        guest_name=FORMER_MEMBER,
        guest_organisation="",
        guest_gender="",
        guest_gender_consent=False,
    )
    # .update() sends no signal: cached pages and API answers naming them go now.
    fragments.event_changed(event_ids=event_ids)


def _campaigns_redact(*, emails: list[str], redactor: Redactor) -> None:
    """Uploaded address lists lose the person's addresses; personal notes their name."""
    mentions = Q(pk__in=[])
    for email in emails:
        mentions |= Q(emails__icontains=email)
    for needle in redactor.needles() if redactor else []:
        mentions |= Q(message__icontains=needle)
    for campaign in Campaign.objects.filter(mentions):
        kept = "\n".join(
            line for line in campaign.emails.splitlines() if line.strip().lower() not in emails
        )
        message = redactor.text(campaign.message)
        if (kept, message) != (campaign.emails, campaign.message):
            campaign.emails, campaign.message = kept, message
            campaign.save(update_fields=["emails", "message"])
