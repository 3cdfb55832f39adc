"""Invitation campaigns: who an organiser's campaign reaches, sending it, and RSVP links.

Audience. A campaign names criteria; a member is in the audience when they match every
criterion the organiser filled in, and within one criterion any of its chosen values:
(cluster A or B) and (kind SME) and (country AT or DE) … A campaign with no member
criteria reaches no members (never "everyone"). Members are active accounts confirmed at
an organisation that belongs to a cluster today (`members.membership`); those who
turned invitations off, or chose invitation topics the event is not about, are left out,
and so is anyone already registered for the event. The uploaded e-mail list adds its
addresses on top: an address of a member adds that member (their preferences still
apply); any other address is a non-member, who gets a sign-up link.

Sending. `campaign_send` only marks the campaign `sending` and, after commit, queues
`campaign_fanout_task`. Each run of that task handles one chunk in one transaction:
members in order of their id, then non-members in order of their address, resuming
after the last one handled (a cursor, not an offset, so a member who opts out meanwhile
does not make anyone else be skipped). A chunk writes its `CampaignRecipient` rows and
one outbox message per person, keyed `events.invitation:<campaign>:<email>`, so running a
chunk again sends nobody a second invitation. The last run marks the campaign `sent`.

The fan-out survives a broker restart because its state is in the database, not in the
queue: the cursor is stored on the campaign (`fanout_after_user`, `fanout_after_email`)
and advanced, with `fanout_progress_at`, in the transaction of each chunk. A task
carries only the cursor it expects to find; one that finds another (a redelivered task,
or an old chain overtaken by a resumed one) is a stale duplicate and stops, so exactly
one chain goes on. Beat runs `campaigns_resume_stalled` every 15 s: a `sending` campaign
that has not advanced since the broker last started (a Redis broker tells,
`notifications.broker`), or for `STALLED_AFTER` (30 s), is queued again from its stored
cursor. The messages already written whose tasks were lost are the outbox sweep's
(`notifications.services.outbox_sweep`, every 30 s, by the same two rules). So after a
Redis restart the fan-out goes on within about 15 s and lost invitations go out within
about 30 s; with a broker that cannot tell, within 45 s and 90 s. Everyone is mailed once.

RSVP. Each invitation carries a signed link (salt "events.rsvp") naming the campaign and
the address. It stops working when the event ends, and a year after it was signed at
the latest. A member confirms on the page it opens, which registers them through
`events.services.event_register`; a non-member is sent to sign up.
"""

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from events import fragments, ical, selectors, services
from events.models import Campaign, CampaignRecipient, Event, Invitation, Registration
from members.languages import in_recipients_language, language_of
from members.models import Cluster, Organisation, Profile, Sector, Topic, User
from members.preferences import INVITATIONS, unsubscribe_url, users_wanting
from members.selectors import active_memberships, clusters_managed_by
from notifications.broker import broker_started_at
from notifications.services import (
    email_enqueue_many,
    keys_already_queued,
    list_unsubscribe_headers,
    subject_line,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
RSVP_SALT = "events.rsvp"
# However late the event, an RSVP link stops working this long after it was signed.
RSVP_MAX_AGE = timedelta(days=366)
# The most addresses one campaign may upload (the list is read in one piece).
MAX_UPLOADED = 20_000

Status = Campaign.Status


# --- reads ---------------------------------------------------------------------------


def campaign_batch(campaign: Campaign) -> str:
    """The outbox batch of a campaign's invitations, for delivery counts and retries."""
    return f"campaign:{campaign.pk}"


def parse_emails(text: str) -> tuple[list[str], list[str]]:
    """The valid addresses of an uploaded list (lower case, first occurrence kept) and
    the lines that are not addresses. One address a line; commas and semicolons also split."""
    valid: dict[str, None] = {}
    invalid: list[str] = []
    for line in text.replace(",", "\n").replace(";", "\n").splitlines():
        email = line.strip().lower()
        if not email:
            continue
        try:
            validate_email(email)
        except ValidationError:
            invalid.append(line.strip())
        else:
            valid.setdefault(email, None)
    return list(valid), invalid


def campaigns_for_event(*, event: Event) -> QuerySet[Campaign]:
    return event.campaigns.select_related("created_by").order_by("-created_at", "-pk")


def _member_criteria(campaign: Campaign) -> Q | None:
    """The criteria as one condition on User (AND across criteria, OR within), or None."""
    conditions: list[Q] = []
    cluster_ids = [c.pk for c in campaign.clusters.all()]
    if cluster_ids:
        conditions.append(
            Q(
                Exists(
                    active_memberships().filter(
                        organisation__profiles__user=OuterRef("pk"), cluster_id__in=cluster_ids
                    )
                )
            )
        )
    if campaign.organisation_kinds:
        conditions.append(Q(profile__organisation__kind__in=campaign.organisation_kinds))
    sector_ids = [s.pk for s in campaign.sectors.all()]
    if sector_ids:
        own = Profile.sectors.through.objects.filter(
            profile__user=OuterRef("pk"), sector_id__in=sector_ids
        )
        organisation = Organisation.sectors.through.objects.filter(
            organisation__profiles__user=OuterRef("pk"), sector_id__in=sector_ids
        )
        conditions.append(Q(Exists(own)) | Q(Exists(organisation)))
    topic_ids = [t.pk for t in campaign.topics.all()]
    if topic_ids:
        conditions.append(
            Q(
                Exists(
                    Profile.interests.through.objects.filter(
                        profile__user=OuterRef("pk"), topic_id__in=topic_ids
                    )
                )
            )
        )
    if campaign.countries:
        # A member's own country, or else their organisation's.
        conditions.append(
            Q(profile__country__in=campaign.countries)
            | Q(profile__country="", profile__organisation__country__in=campaign.countries)
        )
    event_ids = [e.pk for e in campaign.past_events.all()]
    if event_ids:
        conditions.append(
            Q(
                Exists(
                    Registration.objects.filter(
                        user=OuterRef("pk"),
                        event_id__in=event_ids,
                        status=Registration.Status.ATTENDED,
                    )
                )
            )
        )
    if not conditions:
        return None
    # Only members: confirmed at an organisation that belongs to a cluster today. A
    # signed-in visitor's own interests or country never put them in an audience.
    conditions.insert(
        0,
        Q(Exists(active_memberships().filter(organisation_id=OuterRef("profile__organisation")))),
    )
    combined = conditions[0]
    for condition in conditions[1:]:
        combined &= condition
    return combined


def campaign_audience(*, campaign: Campaign) -> tuple[QuerySet[User], list[str]]:
    """The members a campaign reaches (a queryset, never loaded here) and the non-member
    addresses from its uploaded list. See the module docstring for how criteria combine."""
    uploaded, _invalid = parse_emails(campaign.emails)
    criteria = _member_criteria(campaign)
    chosen = Q(email__in=uploaded) if uploaded else None
    if criteria is not None:
        chosen = criteria if chosen is None else criteria | chosen
    if chosen is None:
        members = User.objects.none()
    else:
        already_registered = Registration.objects.filter(
            user=OuterRef("pk"),
            event_id=campaign.event_id,
            session__isnull=True,
            status__in=Registration.ACTIVE_STATUSES,
        )
        members = users_wanting(
            users=User.objects.filter(chosen, is_active=True, erased_at__isnull=True).exclude(
                Exists(already_registered)
            ),
            kind=INVITATIONS,
            topics=campaign.event.topics.values_list("pk", flat=True),
        )
    known = set()
    for start in range(0, len(uploaded), 1000):
        known.update(
            User.objects.filter(email__in=uploaded[start : start + 1000]).values_list(
                "email", flat=True
            )
        )
    non_members = sorted(email for email in uploaded if email not in known)
    return members.order_by("pk"), non_members


def campaign_preview_count(*, campaign: Campaign) -> int:
    """How many people the campaign would reach now: members counted in the database."""
    members, non_members = campaign_audience(campaign=campaign)
    return members.count() + len(non_members)


# --- writes --------------------------------------------------------------------------


def _require_manager(*, user: User, event: Event) -> None:
    if not selectors.user_manages_event(user=user, event=event):
        raise PermissionDenied(_("Only organisers of this event can do that."))


def campaign_cluster_choices(*, user: User) -> QuerySet[Cluster]:
    return clusters_managed_by(user=user).order_by("name")


def campaign_past_event_choices(*, user: User, event: Event) -> QuerySet[Event]:
    return selectors.events_managed_by(user=user).exclude(pk=event.pk).order_by("-starts_at")


@transaction.atomic
def campaign_create(
    *,
    event: Event,
    by: User,
    clusters: Iterable[Cluster] = (),
    organisation_kinds: Iterable[str] = (),
    sectors: Iterable[Sector] = (),
    topics: Iterable[Topic] = (),
    countries: Iterable[str] = (),
    past_events: Iterable[Event] = (),
    emails: str = "",
    message: str = "",
) -> Campaign:
    """A draft campaign. Clusters and past events must be ones `by` manages."""
    _require_manager(user=by, event=event)
    clusters, past_events = list(clusters), list(past_events)
    if not {c.pk for c in clusters} <= set(
        campaign_cluster_choices(user=by).values_list("pk", flat=True)
    ):
        raise ValidationError({"clusters": [_("You can only invite members of clusters you run.")]})
    if not {e.pk for e in past_events} <= set(
        selectors.events_managed_by(user=by).values_list("pk", flat=True)
    ):
        raise ValidationError({"past_events": [_("You can only choose events you organise.")]})
    kinds = list(dict.fromkeys(organisation_kinds))
    if not set(kinds) <= set(Organisation.Kind.values):
        raise ValidationError({"organisation_kinds": [_("Unknown kind of organisation.")]})
    valid, invalid = parse_emails(emails)
    if invalid:
        raise ValidationError(
            {
                "emails": [
                    _("Not an e-mail address: %(addresses)s. Nothing was saved.")
                    % {"addresses": ", ".join(invalid[:20])}
                ]
            }
        )
    if len(valid) > MAX_UPLOADED:
        raise ValidationError(
            {"emails": [_("At most %(max)s addresses per campaign.") % {"max": MAX_UPLOADED}]}
        )
    campaign = Campaign.objects.create(
        event=event,
        created_by=by,
        organisation_kinds=kinds,
        countries=sorted({str(c) for c in countries}),
        emails="\n".join(valid),
        message=message.strip(),
    )
    campaign.clusters.set(clusters)
    campaign.sectors.set(sectors)
    campaign.topics.set(topics)
    campaign.past_events.set(past_events)
    return campaign


def campaign_send(*, campaign: Campaign, by: User, chunk_size: int = CHUNK_SIZE) -> Campaign:
    """Start sending: the campaign becomes `sending` and the fan-out is queued after commit.

    Returns at once whatever the audience's size. A campaign is sent once.
    """
    from events.tasks import campaign_fanout_task

    _require_manager(user=by, event=campaign.event)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("event").get(pk=campaign.pk)
        if locked.status != Status.DRAFT:
            raise ValidationError(_("This campaign has already been sent."))
        if locked.event.status != Event.Status.PUBLISHED or locked.event.ends_at <= timezone.now():
            raise ValidationError(_("Invitations go out for published events that are not over."))
        locked.status = Status.SENDING
        locked.fanout_after_user, locked.fanout_after_email = 0, ""
        locked.fanout_progress_at = timezone.now()
        locked.save(
            update_fields=[
                "status",
                "fanout_after_user",
                "fanout_after_email",
                "fanout_progress_at",
            ]
        )
        transaction.on_commit(
            lambda: campaign_fanout_task.delay(campaign_id=locked.pk, chunk_size=chunk_size)
        )
    return locked


@dataclass(frozen=True)
class Cursor:
    """Where the fan-out resumes: after this member id, then after this address."""

    after_user: int = 0
    after_email: str = ""


def _stored_cursor(campaign: Campaign) -> Cursor:
    return Cursor(after_user=campaign.fanout_after_user, after_email=campaign.fanout_after_email)


def campaign_fanout_chunk(
    *, campaign_id: int, cursor: Cursor = Cursor(), chunk_size: int = CHUNK_SIZE
) -> Cursor | None:
    """Invite the next `chunk_size` people after `cursor`; returns the next cursor, or
    None when there is nothing (more) for this run to do.

    `cursor` is where the caller expects the campaign's stored cursor to be. If it is
    elsewhere, another run has done this chunk already (a redelivered task, or a chain
    the stalled-campaign sweep has taken over), and this run stops without writing.
    """
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("event", "created_by")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None or campaign.status != Status.SENDING:
            return None
        if _stored_cursor(campaign) != cursor:
            logger.info(
                "campaign %s: a fan-out run expected cursor %s but the campaign is at %s; "
                "it is a stale duplicate and stops",
                campaign_id,
                cursor,
                _stored_cursor(campaign),
            )
            return None
        members, non_members = campaign_audience(campaign=campaign)
        people: list[tuple[str, User | None]] = [
            (user.email, user)
            for user in members.filter(pk__gt=cursor.after_user).select_related("profile")[
                :chunk_size
            ]
        ]
        next_cursor = Cursor(
            after_user=people[-1][1].pk if people else cursor.after_user,
            after_email=cursor.after_email,
        )
        if len(people) < chunk_size:
            # Members done: non-members (compared in Python only, whatever the collation).
            more = [e for e in non_members if e > cursor.after_email][: chunk_size - len(people)]
            people += [(email, None) for email in more]
            if more:
                next_cursor = Cursor(after_user=next_cursor.after_user, after_email=more[-1])
        if not people:
            campaign.status = Status.SENT
            campaign.sent_at = timezone.now()
            campaign.recipient_count = campaign.recipients.count()
            campaign.save(update_fields=["status", "sent_at", "recipient_count"])
            return None
        _invite(campaign=campaign, people=people)
        campaign.fanout_after_user = next_cursor.after_user
        campaign.fanout_after_email = next_cursor.after_email
        campaign.fanout_progress_at = timezone.now()
        campaign.save(
            update_fields=["fanout_after_user", "fanout_after_email", "fanout_progress_at"]
        )
        return next_cursor


def invitation_key(*, campaign: Campaign, email: str) -> str:
    return f"events.invitation:{campaign.pk}:{email}"


def _invite(*, campaign: Campaign, people: list[tuple[str, User | None]]) -> None:
    event = campaign.event
    CampaignRecipient.objects.bulk_create(
        [CampaignRecipient(campaign=campaign, email=email, user=user) for email, user in people],
        ignore_conflicts=True,
    )
    if event.audience == Event.Audience.INVITATION:
        # An invitation-only event lets in those it invites.
        Invitation.objects.bulk_create(
            [Invitation(event=event, email=email) for email, _user in people],
            ignore_conflicts=True,
        )
        fragments.event_changed(event_ids=[event.pk])  # bulk_create sends no signal
    keys = {email: invitation_key(campaign=campaign, email=email) for email, _user in people}
    done = keys_already_queued(keys=list(keys.values()))
    # By language: one calendar per language, and each group rendered in one go.
    by_language: dict[str, list[tuple[str, User | None]]] = {}
    for email, user in people:
        if keys[email] not in done:
            by_language.setdefault(language_of(user), []).append((email, user))
    sessions = list(event.sessions.filter(is_cancelled=False))
    messages, message_keys = [], []
    for language, group in by_language.items():
        with translation.override(language):
            ics = ical.event_calendar(event, sessions).decode()
            messages += invitation_messages(campaign=campaign, people=group, ics=ics)
        message_keys += [keys[email] for email, _user in group]
    # One insert, and one send task per batch of rows after commit.
    email_enqueue_many(
        messages=messages,
        idempotency_keys=message_keys,
        kind="events.invitation",
        batch=campaign_batch(campaign),
    )


def _invitation_context(*, campaign: Campaign, email: str, user: User | None) -> dict:
    event = campaign.event
    profile = getattr(user, "profile", None) if user is not None else None
    return {
        "event": event,
        "campaign": campaign,
        "name": profile.display_name if profile else "",
        "is_member": user is not None,
        "rsvp_url": settings.SITE_URL.rstrip("/")
        + reverse("events:rsvp", kwargs={"token": rsvp_token(campaign=campaign, email=email)}),
        "event_url": settings.SITE_URL.rstrip("/") + event.get_absolute_url(),
        "site_name": settings.SITE_NAME,
        "unsubscribe_url": unsubscribe_url(user=user, kind=INVITATIONS) if user else "",
    }


def _invitation(
    *,
    campaign: Campaign,
    email: str,
    subject: str,
    text: str,
    html: str,
    ics: str,
    unsubscribe: str,
) -> EmailMultiAlternatives:
    organiser = campaign.created_by
    message = EmailMultiAlternatives(
        subject=subject_line(subject),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        reply_to=[organiser.email] if organiser is not None and organiser.is_active else None,
        headers=list_unsubscribe_headers(url=unsubscribe) if unsubscribe else None,
    )
    message.attach_alternative(html, "text/html")
    message.attach("event.ics", ics, "text/calendar; method=PUBLISH; charset=utf-8")
    return message


@in_recipients_language(lambda **kwargs: kwargs["user"])
def invitation_message(
    *, campaign: Campaign, email: str, user: User | None, ics: str
) -> EmailMultiAlternatives:
    context = _invitation_context(campaign=campaign, email=email, user=user)
    return _invitation(
        campaign=campaign,
        email=email,
        subject=render_to_string("events/email/invitation_subject.txt", context),
        text=render_to_string("events/email/invitation_body.txt", context),
        html=render_to_string("events/email/invitation_body.html", context),
        ics=ics,
        unsubscribe=context["unsubscribe_url"],
    )


# Stand-ins for what differs between the invitations of one campaign in one language:
# letters and digits only, so escaping and the templates' filters leave them as they are,
# and drawn at random, so no event title can contain one.
_MARK = f"m{secrets.token_hex(8)}"
_PERSONAL = ("name", "rsvp_url", "unsubscribe_url")
_MARKS = {key: f"{_MARK}{i}x" for i, key in enumerate(_PERSONAL)}
_MARKED = re.compile(f"{_MARK}([0-9])x")


def invitation_messages(
    *, campaign: Campaign, people: list[tuple[str, User | None]], ics: str
) -> list[EmailMultiAlternatives]:
    """`invitation_message` for many people who read the same language (the active one):
    the templates are rendered once per kind of recipient (member or not, named or not)
    with stand-ins for each person's name and links, which are then filled in, escaped
    for HTML as the template would have. The result is the same as one by one."""
    rendered: dict[tuple[bool, bool], tuple[str, str, str]] = {}
    messages = []
    for email, user in people:
        context = _invitation_context(campaign=campaign, email=email, user=user)
        kind = (context["is_member"], bool(context["name"]))
        if kind not in rendered:
            marked = {**context, **{key: _MARKS[key] if context[key] else "" for key in _PERSONAL}}
            rendered[kind] = tuple(
                render_to_string(f"events/email/invitation_{part}", marked)
                for part in ("subject.txt", "body.txt", "body.html")
            )
        subject, text, html = rendered[kind]
        values = [str(context[key]) for key in _PERSONAL]
        messages.append(
            _invitation(
                campaign=campaign,
                email=email,
                subject=_MARKED.sub(lambda m, v=values: v[int(m[1])], subject),
                text=_MARKED.sub(lambda m, v=values: v[int(m[1])], text),
                html=_MARKED.sub(lambda m, v=values: escape(v[int(m[1])]), html),
                ics=ics,
                unsubscribe=context["unsubscribe_url"],
            )
        )
    return messages


# --- RSVP ----------------------------------------------------------------------------


def _rsvp_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=RSVP_SALT)


def rsvp_token(*, campaign: Campaign, email: str) -> str:
    return _rsvp_signer().sign_object({"c": campaign.pk, "e": email}, compress=True)


def rsvp_recipient(token: str) -> CampaignRecipient | None:
    """Whom an RSVP link is for; None if forged, damaged, too old, or the event is over."""
    try:
        data = _rsvp_signer().unsign_object(token, max_age=RSVP_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    recipient = (
        CampaignRecipient.objects.select_related("campaign__event", "user")
        .filter(campaign_id=data["c"], email=str(data.get("e", "")))
        .first()
    )
    if recipient is None or recipient.campaign.event.ends_at <= timezone.now():
        return None
    if recipient.user is not None and (
        not recipient.user.is_active or recipient.user.erased_at is not None
    ):
        return None
    return recipient


def rsvp_accept(*, recipient: CampaignRecipient) -> Registration:
    """Register the invited member (the link is their credential); records the answer.

    Raises `services.RegistrationError` with a message for the person.
    """
    if recipient.user is None:
        raise services.RegistrationError(_("Sign up first, then register for the event."))
    registration = services.event_register(event=recipient.campaign.event, user=recipient.user)
    CampaignRecipient.objects.filter(pk=recipient.pk).update(rsvp=CampaignRecipient.Rsvp.YES)
    return registration


def rsvp_decline(*, recipient: CampaignRecipient) -> None:
    CampaignRecipient.objects.filter(pk=recipient.pk).update(rsvp=CampaignRecipient.Rsvp.NO)


# A sending campaign whose cursor has not moved for this long has lost its fan-out task
# (a broker restart, a crashed worker). A chunk of 500 takes a few seconds; a slow chain
# that is only waiting in a long queue gets a duplicate task, which stops at once (see
# `campaign_fanout_chunk`), at most one per campaign in this time.
STALLED_AFTER = timedelta(seconds=30)


def _stalled(*, now: datetime) -> Q:
    # No progress time at all: sent before the cursor was stored; it starts from the
    # beginning, which is safe (see `campaigns_resume_stalled`). Progress before the
    # broker last started: the next chunk's task was dropped by the restart.
    lost = Q(fanout_progress_at__lt=now - STALLED_AFTER) | Q(fanout_progress_at__isnull=True)
    broker_started = broker_started_at(now=now)
    if broker_started is not None:
        lost |= Q(fanout_progress_at__lt=broker_started)
    return Q(status=Status.SENDING) & lost


def campaigns_stalled(*, now: datetime | None = None) -> list[int]:
    """Ids of campaigns stuck in `sending`: their fan-out task was lost."""
    now = now or timezone.now()
    return list(Campaign.objects.filter(_stalled(now=now)).values_list("pk", flat=True))


def campaigns_resume_stalled(*, now: datetime | None = None) -> list[int]:
    """Queue the fan-out of stalled campaigns again, from their stored cursors; returns
    their ids. Run by beat every 15 s.

    Each resumed campaign's progress time is set to now, so the next sweeps leave it to
    the new task for `STALLED_AFTER`. A campaign whose chunk is running right now is
    locked, hence passed over (it is not stalled). Re-running a chunk is safe anyway:
    recipients and invitations are written once per address.
    """
    from events.tasks import campaign_fanout_task

    now = now or timezone.now()
    with transaction.atomic():
        stalled = list(
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(_stalled(now=now))
            .only("pk", "fanout_after_user", "fanout_after_email")
        )
        Campaign.objects.filter(pk__in=[c.pk for c in stalled]).update(fanout_progress_at=now)
        for campaign in stalled:
            logger.warning(
                "campaign %s: the fan-out made no progress for %s s; resuming it at %s",
                campaign.pk,
                int(STALLED_AFTER.total_seconds()),
                _stored_cursor(campaign),
            )
            transaction.on_commit(
                lambda campaign=campaign: campaign_fanout_task.delay(
                    campaign_id=campaign.pk,
                    after_user=campaign.fanout_after_user,
                    after_email=campaign.fanout_after_email,
                )
            )
    return [campaign.pk for campaign in stalled]
