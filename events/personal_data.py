"""What events hold about a person, for their data export and account erasure."""

from django.utils import timezone

from events.models import CalendarFeed, CampaignRecipient, Registration
from members.models import User


def export_registrations(user: User) -> list[dict]:
    return [
        {
            "event": r.event.title,
            "session": r.session.title if r.session else None,
            "starts_at": (r.session or r.event).starts_at.isoformat(),
            "status": r.status,
            "registered_at": r.created_at.isoformat(),
            "checked_in_at": r.checked_in_at.isoformat() if r.checked_in_at else None,
        }
        for r in Registration.objects.filter(user=user)
        .select_related("event", "session")
        .order_by("created_at", "pk")
    ]


def export_invitations(user: User) -> list[dict]:
    return [
        {
            "event": r.campaign.event.title,
            "email": r.email,
            "rsvp": r.rsvp,
            "sent_at": r.created_at.isoformat(),
        }
        for r in CampaignRecipient.objects.filter(user=user)
        .select_related("campaign__event")
        .order_by("pk")
    ]


def erase(user: User) -> None:
    """Free the seats a person still holds; past attendance stays as anonymous counts."""
    from events.services import registration_cancel

    upcoming = Registration.objects.filter(
        user=user,
        status__in=Registration.ACTIVE_STATUSES,
        event__ends_at__gt=timezone.now(),
        session__isnull=True,
    ).select_related("event")
    for registration in upcoming:
        registration_cancel(registration=registration, by=user)
    CalendarFeed.objects.filter(user=user).delete()
    # Which invitations went to the address is personal; the campaign keeps its count.
    CampaignRecipient.objects.filter(user=user).delete()
