"""Every write to members data goes through here."""

import json
import logging
import secrets
from importlib import import_module
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from members import (
    api_tokens,
    form_cache,
    languages,
    membership,
    personal_data,
    photos,
    preferences,
    privacy,
    selectors,
)
from members.models import (
    Cluster,
    ClusterOrganiser,
    Profile,
    StatisticsAccess,
    Topic,
    User,
)
from notifications.redaction import Redactor
from notifications.selectors import messages_to
from notifications.services import outbox_erase_person, outbox_rendered

logger = logging.getLogger(__name__)

PROFILE_M2M_FIELDS = ("languages", "sectors", "expertise", "interests")
# Not the organisation: it follows the confirmed affiliation (members/membership.py).
PROFILE_EDITABLE_FIELDS = (
    "display_name",
    "job_title",
    "country",
    "bio",
    "photo",
    "mentoring_stance",
    "visibility",
    "contact_policy",
    "timezone",
    "preferred_language",
)


@transaction.atomic
def profile_create(*, user: User, display_name: str, preferred_language: str = "") -> Profile:
    display_name = display_name.strip()
    if not display_name:
        raise ValidationError({"display_name": _("Tell other members what to call you.")})
    profile, _created = Profile.objects.get_or_create(
        user=user,
        defaults={
            "display_name": display_name,
            "preferred_language": languages.supported(preferred_language) or "",
        },
    )
    return profile


def profile_set_language(*, user: User, language: str) -> None:
    """The language switcher's choice, kept for the member's pages and mail."""
    code = languages.supported(language)
    if code is None:
        raise ValidationError({"preferred_language": _("This site has no such language.")})
    Profile.objects.filter(user=user).update(preferred_language=code, updated_at=timezone.now())


@transaction.atomic
def profile_update(*, profile: Profile, changes: dict[str, Any]) -> Profile:
    """Apply validated changes (plain fields and many-to-many lists) to a profile."""
    unknown = set(changes) - set(PROFILE_EDITABLE_FIELDS) - set(PROFILE_M2M_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    profile = Profile.objects.select_for_update().get(pk=profile.pk)
    plain = [f for f in PROFILE_EDITABLE_FIELDS if f in changes]
    old_photo = profile.photo.name if "photo" in changes else None
    for field in plain:
        setattr(profile, field, changes[field])
    profile.full_clean(exclude=["user"])
    profile.save(update_fields=[*plain, "updated_at"])
    for field in PROFILE_M2M_FIELDS:
        if field in changes:
            getattr(profile, field).set(changes[field])
    if old_photo and old_photo != profile.photo.name:
        storage = profile.photo.storage
        transaction.on_commit(lambda: storage.delete(old_photo))
    return profile


@transaction.atomic
def organiser_grant(*, cluster: Cluster, user: User, granted_by: User) -> ClusterOrganiser:
    if not selectors.user_manages_cluster(user=granted_by, cluster=cluster):
        raise PermissionDenied(_("Only organisers of this cluster can add organisers."))
    role, _created = ClusterOrganiser.objects.get_or_create(cluster=cluster, user=user)
    return role


@transaction.atomic
def organiser_revoke(*, cluster: Cluster, user: User, revoked_by: User) -> None:
    if not selectors.user_manages_cluster(user=revoked_by, cluster=cluster):
        raise PermissionDenied(_("Only organisers of this cluster can remove organisers."))
    ClusterOrganiser.objects.filter(cluster=cluster, user=user).delete()


@transaction.atomic
def topic_create(*, name: str, description: str = "", created_by: User) -> Topic:
    """Organisers extend the shared topic taxonomy."""
    if not selectors.user_is_organiser(user=created_by):
        raise PermissionDenied(_("Only organisers can extend the topic list."))
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": _("Give the topic a name.")})
    if Topic.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": _("The topic “%(name)s” already exists.") % {"name": name}})
    slug = slugify(name)[:80] or "topic"
    if Topic.objects.filter(slug=slug).exists():
        slug = f"{slug[:70]}-{secrets.token_hex(3)}"
    return Topic.objects.create(
        name=name, slug=slug, description=description.strip(), created_by=created_by
    )


@transaction.atomic
def cluster_targets_set(
    *,
    cluster: Cluster,
    by: User,
    women_target_percent: int,
    balanced_from_percent: int,
    balanced_to_percent: int,
) -> Cluster:
    """A cluster's gender balance targets (percent women): the target and balanced zone."""
    if not selectors.user_manages_cluster(user=by, cluster=cluster):
        raise PermissionDenied(_("Only organisers of this cluster set its targets."))
    values = {
        "women_target_percent": women_target_percent,
        "balanced_from_percent": balanced_from_percent,
        "balanced_to_percent": balanced_to_percent,
    }
    errors = {name: [_("Give a percentage from 0 to 100.")] for name, value in values.items()
              if not 0 <= value <= 100}  # fmt: skip
    if not errors and balanced_from_percent > balanced_to_percent:
        errors["balanced_to_percent"] = [_("The balanced zone must end above where it starts.")]
    if errors:
        raise ValidationError(errors)
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    for name, value in values.items():
        setattr(cluster, name, value)
    cluster.save(update_fields=list(values))
    return cluster


def personal_data_export(*, user: User) -> dict[str, Any]:
    """Everything the site holds about a person, for that person."""
    profile = Profile.objects.filter(user=user).select_related("organisation").first()
    gender = privacy.gender_for_owner(user=user)
    identifiers = personal_data.person_identifiers(user)
    token = Token.objects.filter(user=user).first()
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "account": {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": user.date_joined.isoformat(),
            "last_login": user.last_login.isoformat() if user.last_login else None,
            "email_addresses": [
                {"email": e.email, "verified": e.verified, "primary": e.primary}
                for e in EmailAddress.objects.filter(user=user).order_by("email")
            ],
        },
        "profile": None,
        "gender": None,
        "organiser_of": sorted(
            ClusterOrganiser.objects.filter(user=user).values_list("cluster__name", flat=True)
        ),
        # The key is a credential: only that there is one, and since when.
        "api_token": {"created": token.created.isoformat()} if token else None,
        "topics_created": sorted(
            Topic.objects.filter(created_by=user).values_list("name", flat=True)
        ),
        "statistics_viewed": [
            {
                "view": access.view,
                "cluster": access.cluster.name if access.cluster else None,
                "filters": access.filters,
                "at": access.at.isoformat(),
            }
            for access in StatisticsAccess.objects.filter(user=user)
            .select_related("cluster")
            .order_by("at", "pk")
        ],
        "admin_actions": [
            {
                "at": entry.action_time.isoformat(),
                "action": {1: "added", 2: "changed", 3: "deleted"}.get(entry.action_flag),
                "object_type": entry.content_type.model if entry.content_type else None,
                "object_id": entry.object_id,
            }
            for entry in LogEntry.objects.filter(user=user)
            .select_related("content_type")
            .order_by("action_time", "pk")
        ],
        "mail": [
            {
                "kind": message.kind,
                "to": message.recipient,
                "subject": message.subject,
                "status": message.status,
                "queued_at": message.created_at.isoformat(),
                "sent_at": message.sent_at.isoformat() if message.sent_at else None,
                # Bodies are kept for OUTBOX_BODY_RETENTION_DAYS after sending.
                "body_text": message.body_text if message.purged_at is None else None,
                "body_html": message.body_html if message.purged_at is None else None,
                "attachments": [attachment[0] for attachment in message.attachments],
                "content_deleted_at": (
                    message.purged_at.isoformat() if message.purged_at else None
                ),
            }
            # A message queued but not rendered yet is shown as it will be sent.
            for message in (
                outbox_rendered(message=row) for row in messages_to(emails=identifiers.emails)
            )
        ],
    }
    if profile:
        data["profile"] = {
            "display_name": profile.display_name,
            "organisation": profile.organisation.name if profile.organisation else None,
            "job_title": profile.job_title,
            "country": profile.country.code or None,
            "languages": sorted(profile.languages.values_list("code", flat=True)),
            "sectors": sorted(profile.sectors.values_list("name", flat=True)),
            "expertise": sorted(profile.expertise.values_list("name", flat=True)),
            "interests": sorted(profile.interests.values_list("name", flat=True)),
            "bio": profile.bio,
            "photo": profile.photo.name or None,
            "mentoring_stance": profile.mentoring_stance,
            "visibility": profile.visibility,
            "timezone": profile.timezone,
            "created_at": profile.created_at.isoformat(),
            "updated_at": profile.updated_at.isoformat(),
        }
    if gender:
        data["gender"] = {
            "gender": gender.gender,
            "self_description": gender.self_description,
            "statistics_consent": gender.statistics_consent,
            "stage_consent": gender.stage_consent,
            "consent_changed_at": (
                gender.consent_changed_at.isoformat() if gender.consent_changed_at else None
            ),
        }
    data["affiliations"] = [
        {
            "organisation": a.organisation.name,
            "status": a.status,
            "organisation_admin": a.is_admin,
            "confirmed_via": a.confirmed_via or None,
            "requested_at": a.requested_at.isoformat(),
            "decided_at": a.decided_at.isoformat() if a.decided_at else None,
            "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        }
        for a in selectors.affiliations_history(user=user)
    ]
    data["message_preferences"] = preferences.preferences_export(user=user)
    for section, exporter in personal_data.exporters().items():
        data[section] = exporter(user)
    return data


@transaction.atomic
def account_erase(*, user: User) -> None:
    """Erase a person's personal data at their request; all or nothing.

    The user row stays, anonymised and inactive, so that records others rely on
    (registrations counted in an event's totals, a mentor's session count) still add up;
    nothing in it can identify the person any more. The other apps' erasers run first,
    while the profile still says what the person's name is; the outbox goes last, so mail
    that erasing queued (a partner told that the match ended) never names them.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    identifiers = personal_data.person_identifiers(user)
    for name, eraser in personal_data.erasers().items():
        logger.info("Erasing %s for user #%s", name, user.pk)
        eraser(user)
    profile = Profile.objects.filter(user=user).first()
    if profile is not None:
        photo, storage = profile.photo.name, profile.photo.storage
        profile.delete()
        if photo:
            transaction.on_commit(lambda: storage.delete(photo))
    privacy.gender_clear(user=user)
    transaction.on_commit(lambda: form_cache.forget(user_id=user.pk))
    preferences.preferences_erase(user=user)
    EmailAddress.objects.filter(user=user).delete()
    ClusterOrganiser.objects.filter(user=user).delete()
    membership.affiliations_erase(user=user)
    api_tokens.api_token_revoke(user=user)
    # The log of who looked at gender figures keeps the looks, not who it was.
    StatisticsAccess.objects.filter(user=user).update(user=None)
    redactor = identifiers.redactor()
    _admin_log_redact(redactor=redactor)
    _sessions_end(user=user, redactor=redactor)
    user.email = f"erased-{user.pk}-{secrets.token_hex(8)}@invalid.invalid"
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.erased_at = timezone.now()
    user.set_unusable_password()
    user.save(
        update_fields=[
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "erased_at",
            "password",
        ]
    )
    user.groups.clear()
    user.user_permissions.clear()
    outbox_erase_person(
        emails=identifiers.emails,
        names=identifiers.names,
        namesakes=personal_data.namesake_emails(user=user, names=identifiers.names),
    )


def _admin_log_redact(*, redactor: Redactor) -> None:
    """The admin's history keeps what was done, not whom it named (object names are the
    person's e-mail or display name; change messages may name added related objects)."""
    needles = redactor.needles()
    if not needles:
        return
    mentions = Q(pk__in=[])
    for needle in needles:
        mentions |= Q(object_repr__icontains=needle) | Q(change_message__icontains=needle)
    for entry in LogEntry.objects.filter(mentions).iterator():
        try:
            message = json.dumps(redactor.data(json.loads(entry.change_message)))
        except ValueError:  # an old plain-text message
            message = redactor.text(entry.change_message)
        LogEntry.objects.filter(pk=entry.pk).update(
            object_repr=redactor.text(entry.object_repr)[:200], change_message=message
        )


def _sessions_end(*, user: User, redactor: Redactor) -> None:
    """Delete the person's sessions, and any other that holds their address or name (a
    sign-in half done). The password change ends them too; this removes the rows."""
    if settings.SESSION_ENGINE not in (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    ):
        return
    store = import_module(settings.SESSION_ENGINE).SessionStore
    doomed = []
    for session in Session.objects.only("session_key", "session_data").iterator(chunk_size=500):
        data = session.get_decoded()
        if str(data.get(SESSION_KEY)) == str(user.pk) or redactor.found(
            json.dumps(data, default=str)
        ):
            doomed.append(session.session_key)
    for session_key in doomed:
        store(session_key=session_key).delete()


def profile_ensure(*, user: User) -> Profile:
    """The person's profile, created on first need (e.g. for a superuser made on the CLI)."""
    profile = Profile.objects.filter(user=user).first()
    if profile is None:
        profile = profile_create(
            user=user, display_name=user.get_full_name() or user.email.split("@")[0]
        )
    return profile


def profile_photos_reencode() -> tuple[int, int]:
    """Re-encode every stored profile photo as an upload is today (`members.photos`):
    for sites upgraded from a version that stored the uploaded bytes. A photo that cannot
    be re-encoded (too many pixels, not an image, damaged) is removed from its profile.

    Returns (re-encoded, removed). Each photo is its own transaction; the old file is
    deleted once the new one is stored. Running it again re-encodes again (a JPEG
    loses a little each time), so it is run once, after upgrading.
    """
    reencoded = removed = 0
    for pk in Profile.objects.exclude(photo="").order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            profile = Profile.objects.select_for_update().filter(pk=pk).first()
            if profile is None or not profile.photo:
                continue
            old_name, storage = profile.photo.name, profile.photo.storage
            try:
                with storage.open(old_name, "rb") as stored:
                    fresh = photos.photo_reencode(stored)
            except (ValidationError, OSError) as error:
                logger.warning("profile %s: photo %s removed (%s)", pk, old_name, error)
                profile.photo = ""
                removed += 1
            else:
                profile.photo.save(fresh.name, fresh, save=False)
                reencoded += 1
            profile.save(update_fields=["photo"])
            transaction.on_commit(lambda name=old_name, storage=storage: storage.delete(name))
    return reencoded, removed
