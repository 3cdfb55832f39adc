"""Members write to each other through the site without seeing each other's addresses.

A message goes out through the outbox in the recipient's language, from the site's address
with the sender's name, and with the sender's address as Reply-To: the recipient's address
is never shown to the sender, and the sender's reaches the recipient in that header only
(an answer goes straight to the sender, and the two correspond by e-mail from then on).

Who may write to whom:
- the recipient's profile must be one the sender may see (`profiles_visible_to`);
- the recipient's `contact_policy`: nobody, members sharing one of their clusters, or
  every member of the site;
- the sender is a member, not suspended by an organiser, and not blocked by the recipient
  (a report blocks its sender from writing to the reporter again);
- at most CONTACT_MESSAGES_PER_HOUR / CONTACT_MESSAGES_PER_DAY messages per sender, counted
  under a lock on the sender's row, so parallel posts cannot pass the limit.

The site keeps each message (`ContactMessage`) for the rate limit and for reports; its
subject and text are deleted CONTACT_MESSAGE_RETENTION_DAYS after sending
(`contact_messages_purge`, nightly), except while a report about it is open. Reports
reach the organisers of the sender's clusters and staff, who mark them handled and may
suspend the sender's messages.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from members.languages import in_recipients_language
from members.models import (
    Cluster,
    ClusterOrganiser,
    ContactMessage,
    ContactReport,
    Profile,
    User,
)
from members.personal_data import FORMER_MEMBER, person_identifiers
from members.selectors import (
    active_memberships,
    clusters_for_user,
    clusters_managed_by,
    profiles_visible_to,
    user_is_member,
)
from notifications.services import email_enqueue, subject_line

REPORT_SALT = "members.contact_report"

# Why a person cannot write to another (None: they can).
SELF = "self"
NOT_MEMBER = "not_member"
NOT_VISIBLE = "not_visible"
SUSPENDED = "suspended"
NO_MESSAGES = "no_messages"  # the recipient takes none, or none from this sender (a block)
CLUSTERS_ONLY = "clusters_only"
NO_ADDRESS = "no_address"
REFUSALS = frozenset(
    {SELF, NOT_MEMBER, NOT_VISIBLE, SUSPENDED, NO_MESSAGES, CLUSTERS_ONLY, NO_ADDRESS}
)


@dataclass(frozen=True)
class RateLimit:
    per_hour: int
    per_day: int


def rate_limit() -> RateLimit:
    return RateLimit(
        per_hour=getattr(settings, "CONTACT_MESSAGES_PER_HOUR", 5),
        per_day=getattr(settings, "CONTACT_MESSAGES_PER_DAY", 20),
    )


def retention() -> timedelta:
    return timedelta(days=getattr(settings, "CONTACT_MESSAGE_RETENTION_DAYS", 90))


# --- reads --------------------------------------------------------------------------------


def name_of(user: User | None) -> str:
    """How a person is named to others: their display name, never their address."""
    if user is None or user.erased_at is not None:
        return FORMER_MEMBER
    profile = getattr(user, "profile", None)
    if profile is not None and profile.display_name:
        return profile.display_name
    return user.get_full_name() or _("A member")


def is_blocked(*, sender: User, recipient: User) -> bool:
    """The recipient reported a message of this sender: no more messages from them."""
    return ContactReport.objects.filter(reporter=recipient, sender=sender).exists()


def is_suspended(*, user: User) -> bool:
    """An organiser suspended this person's messages to other members."""
    return Profile.objects.filter(user=user, contact_suspended_at__isnull=False).exists()


def share_a_cluster(*, a: User, b: User) -> bool:
    return clusters_for_user(user=a).filter(pk__in=clusters_for_user(user=b).values("pk")).exists()


def contact_refusal(*, sender: User, recipient_profile: Profile) -> str | None:
    """Why `sender` may not write to the owner of `recipient_profile`; None if they may."""
    recipient = recipient_profile.user
    if recipient.pk == sender.pk:
        return SELF
    if not profiles_visible_to(viewer=sender).filter(pk=recipient_profile.pk).exists():
        return NOT_VISIBLE
    if not user_is_member(user=sender):
        return NOT_MEMBER
    if is_suspended(user=sender):
        return SUSPENDED
    if not recipient.is_active or not recipient.email or recipient.erased_at is not None:
        return NO_ADDRESS
    policy = recipient_profile.contact_policy
    if policy == Profile.ContactPolicy.NOBODY or is_blocked(sender=sender, recipient=recipient):
        return NO_MESSAGES
    if policy == Profile.ContactPolicy.CLUSTER and not share_a_cluster(a=sender, b=recipient):
        return CLUSTERS_ONLY
    return None


def refusal_text(*, refusal: str, name: str) -> str:
    """The explanation shown to the would-be sender instead of the button."""
    texts = {
        SELF: _("This is your own profile."),
        NOT_VISIBLE: _("%(name)s does not take messages.") % {"name": name},
        NOT_MEMBER: _(
            "Messages between members are open to people whose organisation belongs to a "
            "cluster. Ask to join your organisation first."
        ),
        SUSPENDED: _(
            "An organiser has suspended your messages to other members. Contact the "
            "organisers of your cluster if you think this is a mistake."
        ),
        NO_ADDRESS: _("%(name)s does not take messages.") % {"name": name},
        # The same words for "nobody" and for a block: a sender is not told they were
        # reported.
        NO_MESSAGES: _("%(name)s does not take messages.") % {"name": name},
        CLUSTERS_ONLY: _("%(name)s takes messages only from members of the same cluster.")
        % {"name": name},
    }
    return texts[refusal]


def messages_sent_since(*, sender: User, since: datetime) -> int:
    return ContactMessage.objects.filter(sender=sender, created_at__gte=since).count()


def user_moderates(*, user: User, sender: User) -> bool:
    """Staff, or an organiser of a cluster the sender belongs to."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    return (
        clusters_managed_by(user=user)
        .filter(pk__in=clusters_for_user(user=sender).values("pk"))
        .exists()
    )


def reports_for_cluster(*, cluster: Cluster) -> QuerySet[ContactReport]:
    """Reports about senders who belong to `cluster` today (through their organisation or
    as its organisers): open ones first, newest first."""
    organisations = active_memberships().filter(cluster=cluster).values("organisation_id")
    via_organisation = Profile.objects.filter(
        user=OuterRef("sender"), organisation__in=organisations
    )
    as_organiser = ClusterOrganiser.objects.filter(user=OuterRef("sender"), cluster=cluster)
    return (
        ContactReport.objects.filter(Q(Exists(via_organisation)) | Q(Exists(as_organiser)))
        .select_related(
            "message",
            "sender__profile",
            "reporter__profile",
            "handled_by__profile",
        )
        .order_by(F("handled_at").asc(nulls_first=True), "-created_at", "-pk")
    )


def report_token(*, message: ContactMessage) -> str:
    return signing.dumps({"message": message.pk}, salt=REPORT_SALT)


def message_from_report_token(*, token: str) -> ContactMessage | None:
    try:
        data = signing.loads(token, salt=REPORT_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("message"), int):
        return None
    return (
        ContactMessage.objects.select_related("sender__profile", "recipient")
        .filter(pk=data["message"])
        .first()
    )


def report_url(*, message: ContactMessage) -> str:
    path = reverse("members:contact_report", kwargs={"token": report_token(message=message)})
    return settings.SITE_URL + path


# --- mail ---------------------------------------------------------------------------------


def _site_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL


def _render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    base = f"notifications/email/{kind}"
    return (
        subject_line(render_to_string(f"{base}_subject.txt", context)),
        render_to_string(f"{base}_body.txt", context),
        render_to_string(f"{base}_body.html", context),
    )


@in_recipients_language(lambda **kwargs: kwargs["message"].recipient)
def _mail_recipient(*, message: ContactMessage, sender_name: str, organisation: str) -> None:
    """The message itself, to its recipient: the sender's name, their address as Reply-To."""
    context = {
        "site_name": settings.SITE_NAME,
        "sender_name": sender_name,
        "organisation": organisation,
        "recipient_name": name_of(message.recipient),
        "subject": message.subject,
        "body": message.body,
        "report_url": report_url(message=message),
        "settings_url": settings.SITE_URL + reverse("members:profile_edit"),
    }
    subject, text, html = _render("contact_message", context)
    mail = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=formataddr(
            (
                _("%(name)s via %(site)s") % {"name": sender_name, "site": settings.SITE_NAME},
                _site_address(),
            )
        ),
        to=[message.recipient.email],
        reply_to=[message.sender.email],
    )
    mail.attach_alternative(html, "text/html")
    email_enqueue(
        message=mail, kind="members.contact", idempotency_key=f"members.contact:{message.pk}"
    )


@in_recipients_language(lambda **kwargs: kwargs["message"].sender)
def _mail_sender_copy(*, message: ContactMessage, recipient_name: str) -> None:
    """A copy for the sender: names the recipient, never their address."""
    context = {
        "site_name": settings.SITE_NAME,
        "recipient_name": recipient_name,
        "sender_name": name_of(message.sender),
        "subject": message.subject,
        "body": message.body,
    }
    subject, text, html = _render("contact_copy", context)
    mail = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.sender.email],
    )
    mail.attach_alternative(html, "text/html")
    email_enqueue(
        message=mail,
        kind="members.contact_copy",
        idempotency_key=f"members.contact_copy:{message.pk}",
    )


# --- writes -------------------------------------------------------------------------------


def _refuse(refusal: str, name: str) -> ValidationError:
    return ValidationError(refusal_text(refusal=refusal, name=name), code=refusal)


@transaction.atomic
def contact_send(
    *, sender: User, recipient_profile: Profile, subject: str, body: str
) -> ContactMessage:
    """Send a message to the owner of `recipient_profile`; raises ValidationError (code:
    the refusal, or "rate_limited") when it may not go, having written nothing."""
    # Every message of one sender waits here for the one before it: the counts below
    # cannot both pass the limit in two parallel requests.
    sender = User.objects.select_for_update().get(pk=sender.pk)
    recipient_profile = Profile.objects.select_related("user").get(pk=recipient_profile.pk)
    recipient = recipient_profile.user
    refusal = contact_refusal(sender=sender, recipient_profile=recipient_profile)
    if refusal is not None:
        raise _refuse(refusal, recipient_profile.display_name)
    now = timezone.now()
    limit = rate_limit()
    if messages_sent_since(sender=sender, since=now - timedelta(hours=1)) >= limit.per_hour:
        raise ValidationError(
            _("You have sent %(count)d messages in the last hour, the most the site allows. "
              "Please try again later.") % {"count": limit.per_hour},
            code="rate_limited",
        )  # fmt: skip
    if messages_sent_since(sender=sender, since=now - timedelta(days=1)) >= limit.per_day:
        raise ValidationError(
            _("You have sent %(count)d messages in the last 24 hours, the most the site "
              "allows. Please try again tomorrow.") % {"count": limit.per_day},
            code="rate_limited",
        )  # fmt: skip
    message = ContactMessage(
        sender=sender,
        recipient=recipient,
        subject=subject_line(subject),
        body=body.strip(),
        created_at=now,
    )
    message.full_clean()
    message.save(force_insert=True)
    sender_profile = Profile.objects.select_related("organisation").filter(user=sender).first()
    organisation = (
        sender_profile.organisation.name if sender_profile and sender_profile.organisation else ""
    )
    sender_name = name_of(sender)
    _mail_recipient(message=message, sender_name=sender_name, organisation=organisation)
    _mail_sender_copy(message=message, recipient_name=recipient_profile.display_name)
    return message


@transaction.atomic
def contact_report(
    *, message: ContactMessage, by: User, reason: str, details: str = ""
) -> ContactReport:
    """The recipient reports `message`; from now on its sender cannot write to them.
    Reporting the same message twice keeps the first report."""
    if message.recipient_id != by.pk:
        raise PermissionDenied(_("Only the recipient can report this message."))
    if reason not in ContactReport.Reason.values:
        raise ValidationError({"reason": _("Choose a reason.")})
    # The message's row, locked: a second report posted at the same moment (a double
    # click) waits here and then finds the first one instead of hitting the unique
    # constraint.
    ContactMessage.objects.select_for_update().filter(pk=message.pk).first()
    existing = ContactReport.objects.filter(message=message).first()
    if existing is not None:
        return existing
    report = ContactReport(
        message=message,
        reporter=by,
        sender_id=message.sender_id,
        reason=reason,
        details=details.strip(),
    )
    report.full_clean(exclude=["message"])
    try:
        with transaction.atomic():
            report.save(force_insert=True)
    except IntegrityError:
        # A writer that skipped the lock reported it first: keep the first report.
        return ContactReport.objects.get(message=message)
    return report


@transaction.atomic
def contact_report_handle(*, report: ContactReport, by: User) -> ContactReport:
    """An organiser of the sender's cluster (or staff) marks the report handled."""
    if not user_moderates(user=by, sender=report.sender):
        raise PermissionDenied(_("Only organisers of the sender's cluster can handle this."))
    report = ContactReport.objects.select_for_update().get(pk=report.pk)
    if report.handled_at is None:
        report.handled_at = timezone.now()
        report.handled_by = by
        report.save(update_fields=["handled_at", "handled_by"])
    return report


@transaction.atomic
def contact_suspend(*, sender: User, by: User, suspended: bool = True) -> Profile:
    """Stop (or allow again) every message from `sender` to other members."""
    if not user_moderates(user=by, sender=sender):
        raise PermissionDenied(_("Only organisers of the sender's cluster can do this."))
    profile = Profile.objects.select_for_update().get(user=sender)
    if suspended and profile.contact_suspended_at is None:
        profile.contact_suspended_at = timezone.now()
        profile.save(update_fields=["contact_suspended_at"])
    elif not suspended and profile.contact_suspended_at is not None:
        profile.contact_suspended_at = None
        profile.save(update_fields=["contact_suspended_at"])
    return profile


def contact_messages_purge(*, now: datetime | None = None) -> int:
    """Delete the subject and text of messages older than the retention, except while a
    report about them is open; and the details of handled reports whose message is gone.
    Returns how many messages lost their text. Running it twice purges once."""
    now = now or timezone.now()
    open_report = ContactReport.objects.filter(message=OuterRef("pk"), handled_at__isnull=True)
    with transaction.atomic():
        purged = (
            ContactMessage.objects.filter(
                created_at__lt=now - retention(), content_deleted_at__isnull=True
            )
            .exclude(Exists(open_report))
            .update(subject="", body="", content_deleted_at=now)
        )
        ContactReport.objects.filter(
            handled_at__isnull=False, message__content_deleted_at__isnull=False
        ).exclude(details="").update(details="")
    return purged


# --- personal data ------------------------------------------------------------------------


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_contact(user: User) -> dict[str, Any]:
    """The person's contact settings, the messages they sent and received (others named by
    their display name, never their address), the reports they made, and the reports
    about their messages (without who made them or in what words)."""
    profile = Profile.objects.filter(user=user).first()
    sent = ContactMessage.objects.filter(sender=user).select_related("recipient__profile")
    received = ContactMessage.objects.filter(recipient=user).select_related("sender__profile")
    made = ContactReport.objects.filter(reporter=user).select_related("message", "sender__profile")
    about = ContactReport.objects.filter(sender=user).select_related("message")
    return {
        "who_may_send_me_messages": profile.contact_policy if profile else None,
        "my_messages_suspended_at": _at(profile.contact_suspended_at) if profile else None,
        "messages_sent": [
            {
                "to": name_of(m.recipient),
                "subject": m.subject,
                "message": m.body,
                "sent_at": _at(m.created_at),
                "content_deleted_at": _at(m.content_deleted_at),
            }
            for m in sent.order_by("created_at", "pk")
        ],
        "messages_received": [
            {
                "from": name_of(m.sender),
                "subject": m.subject,
                "message": m.body,
                "sent_at": _at(m.created_at),
                "content_deleted_at": _at(m.content_deleted_at),
            }
            for m in received.order_by("created_at", "pk")
        ],
        "reports_made": [
            {
                "about_message_from": name_of(r.sender),
                "message_sent_at": _at(r.message.created_at),
                "reason": r.reason,
                "details": r.details,
                "reported_at": _at(r.created_at),
                "handled_at": _at(r.handled_at),
            }
            for r in made.order_by("created_at", "pk")
        ],
        "reports_about_my_messages": [
            {
                "message_sent_at": _at(r.message.created_at),
                "reason": r.reason,
                "reported_at": _at(r.created_at),
                "handled_at": _at(r.handled_at),
            }
            for r in about.order_by("created_at", "pk")
        ],
    }


def erase_contact(user: User) -> None:
    """On erasure: the messages the person sent go (and the reports about them: nobody
    can be blocked or suspended who no longer has an account). Messages they received go
    too, except reported ones, which stay as evidence about their sender with the
    person's names and addresses replaced; so do the words of the reports they made."""
    redactor = person_identifiers(user).redactor()
    ContactMessage.objects.filter(sender=user).delete()
    received = ContactMessage.objects.filter(recipient=user)
    received.filter(report__isnull=True).delete()
    for message in received.filter(report__isnull=False):
        ContactMessage.objects.filter(pk=message.pk).update(
            subject=redactor.text(message.subject)[:160], body=redactor.text(message.body)
        )
    for report in ContactReport.objects.filter(reporter=user).exclude(details=""):
        ContactReport.objects.filter(pk=report.pk).update(details=redactor.text(report.details))
