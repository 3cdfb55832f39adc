"""Messages about mentoring matches, handed to `notifications` (sent after commit).

One message per person and per step; each step of a match is told once (idempotency
key). Replies go to the programme's organisers. Every message of a programme is in the
outbox batch `programme:<id>`.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from matchmaking.models import Match, Programme
from members.languages import in_recipients_language
from members.models import User
from members.selectors import organiser_emails
from notifications.services import email_enqueue, subject_line

REPLY_TO_LIMIT = 3


def programme_batch(programme: Programme) -> str:
    return f"programme:{programme.pk}"


def _reply_to(programme: Programme) -> list[str]:
    emails = organiser_emails(clusters=programme.clusters.all(), limit=REPLY_TO_LIMIT)
    return emails or [settings.DEFAULT_FROM_EMAIL]


def _name(user: User) -> str:
    profile = getattr(user, "profile", None)
    return profile.display_name if profile else user.get_full_name() or user.email


def _send(*, match: Match, kind: str, step: str, extra: dict | None = None) -> None:
    """Tell both people of `match` about one step (each in their own words)."""
    reply_to = _reply_to(match.programme)
    people = [
        ("mentor", match.mentor.user, match.mentee.user),
        ("mentee", match.mentee.user, match.mentor.user),
    ]
    for side, person, partner in people:
        if not person.is_active or not person.email:
            continue
        _send_one(
            match=match,
            kind=kind,
            step=step,
            side=side,
            person=person,
            partner=partner,
            reply_to=reply_to,
            extra=extra,
        )


@in_recipients_language(lambda **kwargs: kwargs["person"])
def _send_one(
    *,
    match: Match,
    kind: str,
    step: str,
    side: str,
    person: User,
    partner: User,
    reply_to: list[str],
    extra: dict | None,
) -> None:
    """One side's message, in that person's language."""
    programme = match.programme
    context = {
        "match": match,
        "programme": programme,
        "side": side,
        "name": _name(person),
        "partner_name": _name(partner),
        "partner_email": partner.email,
        "site_name": settings.SITE_NAME,
        "match_url": settings.SITE_URL + match.get_absolute_url(),
        **(extra or {}),
    }
    subject = render_to_string(f"matchmaking/email/{kind}_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject_line(subject),
        body=render_to_string(f"matchmaking/email/{kind}_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
        reply_to=reply_to,
    )
    message.attach_alternative(
        render_to_string(f"matchmaking/email/{kind}_body.html", context), "text/html"
    )
    email_enqueue(
        message=message,
        kind=f"matchmaking.{kind}",
        idempotency_key=f"matchmaking.{kind}:{match.pk}:{step}:{side}",
        batch=programme_batch(programme),
    )


def match_published(*, match: Match) -> None:
    """The proposal, its reasons, and the deadline to answer."""
    _send(match=match, kind="match_proposed", step=str(match.published_at.timestamp()))


def match_accepted(*, match: Match) -> None:
    """Both said yes: an introduction with each other's address."""
    _send(match=match, kind="match_accepted", step="accepted")


def match_ended(*, match: Match, by: User | None) -> None:
    """Declined, expired or withdrawn: both are told, without saying who declined."""
    _send(match=match, kind="match_ended", step=match.status)


def match_nudge(*, match: Match) -> None:
    _send(match=match, kind="match_nudge", step=str(match.nudged_at.timestamp()))


def match_feedback_requested(*, match: Match) -> None:
    _send(match=match, kind="match_feedback", step=match.status)
