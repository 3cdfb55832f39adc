"""Which optional messages a member wants, and the signed links that turn them off.

Optional kinds are invitations (optionally only about some topics) and reminders.
Transactional mail — confirmations, changes, cancellations — is always sent; ask for it
as "transactional" so a sender's choice stays visible in its code.

Senders of optional mail ask `wants()` for one person or filter a whole audience with
`users_wanting()` (one query, whatever its size), and put `unsubscribe_url()` into
the message's List-Unsubscribe header and footer.
"""

from collections.abc import Iterable
from typing import Any, NamedTuple

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse

from members.models import MessagePreferences, Topic, User

INVITATIONS = "invitations"
REMINDERS = "reminders"
TRANSACTIONAL = "transactional"
OPTIONAL_KINDS = (INVITATIONS, REMINDERS)

UNSUBSCRIBE_SALT = "members.unsubscribe"


def _check_kind(kind: str) -> None:
    # A typo ("reminder") must not silently mean "always send".
    if kind not in (*OPTIONAL_KINDS, TRANSACTIONAL):
        raise ValueError(f"unknown kind of message: {kind!r}")


def _topic_ids(topics: Iterable[Topic | int]) -> list[int]:
    return [t.pk if isinstance(t, Topic) else int(t) for t in topics]


def users_wanting(
    *, users: QuerySet[User], kind: str, topics: Iterable[Topic | int] | None = None
) -> QuerySet[User]:
    """`users` narrowed to those who want this kind of message; one query for any audience.

    For invitations, `topics` are what the event is about. A member who chose invitation
    topics gets only invitations about at least one of them; one who chose none gets all.
    """
    _check_kind(kind)
    if kind == TRANSACTIONAL:
        return users
    turned_off = MessagePreferences.objects.filter(user=OuterRef("pk"), **{kind: False})
    users = users.exclude(Exists(turned_off))
    if kind == INVITATIONS:
        chosen = MessagePreferences.invitation_topics.through.objects.filter(
            messagepreferences__user=OuterRef("pk")
        )
        about = chosen.filter(topic_id__in=_topic_ids(topics or []))
        users = users.filter(~Exists(chosen) | Exists(about))
    return users


def wants(*, user: User, kind: str, topics: Iterable[Topic | int] | None = None) -> bool:
    """Whether `user` wants a message of `kind` ("invitations", "reminders", "transactional").

    No preferences row means the defaults: every optional message.
    """
    if kind == TRANSACTIONAL:
        return True
    return users_wanting(users=User.objects.filter(pk=user.pk), kind=kind, topics=topics).exists()


def preferences_for(*, user: User) -> MessagePreferences:
    """The member's preferences; unsaved defaults when they never changed them."""
    return MessagePreferences.objects.filter(user=user).first() or MessagePreferences(user=user)


@transaction.atomic
def preferences_update(
    *,
    user: User,
    invitations: bool | None = None,
    reminders: bool | None = None,
    invitation_topics: Iterable[Topic] | None = None,
) -> MessagePreferences:
    """Change what is given; None leaves a setting as it is."""
    MessagePreferences.objects.get_or_create(user=user)
    preferences = MessagePreferences.objects.select_for_update().get(user=user)
    changed = []
    for field, value in (("invitations", invitations), ("reminders", reminders)):
        if value is not None and getattr(preferences, field) != value:
            setattr(preferences, field, value)
            changed.append(field)
    if changed or invitation_topics is not None:
        preferences.save(update_fields=[*changed, "updated_at"])
    if invitation_topics is not None:
        preferences.invitation_topics.set(invitation_topics)
    return preferences


def preferences_export(*, user: User) -> dict[str, Any] | None:
    preferences = MessagePreferences.objects.filter(user=user).first()
    if preferences is None:
        return None
    return {
        "invitations": preferences.invitations,
        "invitation_topics": sorted(preferences.invitation_topics.values_list("name", flat=True)),
        "reminders": preferences.reminders,
        "updated_at": preferences.updated_at.isoformat(),
    }


def preferences_erase(*, user: User) -> None:
    MessagePreferences.objects.filter(user=user).delete()


# --- unsubscribe links ---------------------------------------------------------------


class Unsubscribe(NamedTuple):
    user: User
    kind: str


def _signer() -> signing.Signer:
    return signing.Signer(salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(*, user: User, kind: str) -> str:
    """A token that turns `kind` off for `user`; it is the credential, so it needs no login.

    It does not expire: a link in a year-old message must still work (RFC 8058 asks for
    one-click links that keep working).
    """
    if kind not in OPTIONAL_KINDS:
        raise ValueError(f"only optional messages can be unsubscribed from, not {kind!r}")
    return _signer().sign_object({"u": user.pk, "k": kind}, compress=True)


def unsubscribe_url(*, user: User, kind: str) -> str:
    """The absolute unsubscribe link for mail (footer and List-Unsubscribe header)."""
    path = reverse("members:unsubscribe", kwargs={"token": unsubscribe_token(user=user, kind=kind)})
    return settings.SITE_URL.rstrip("/") + path


def unsubscribe_from_token(token: str) -> Unsubscribe | None:
    """Who and what a token unsubscribes, or None for a forged, damaged or stale token.

    Reading the token changes nothing; `preferences_update` does.
    """
    try:
        data = _signer().unsign_object(token)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in OPTIONAL_KINDS:
        return None
    user = User.objects.filter(pk=data.get("u"), is_active=True, erased_at__isnull=True).first()
    if user is None:
        return None
    return Unsubscribe(user=user, kind=data["k"])


def unsubscribe(*, user: User, kind: str) -> MessagePreferences:
    """Turn one optional kind of message off."""
    if kind not in OPTIONAL_KINDS:
        raise ValueError(f"only optional messages can be unsubscribed from, not {kind!r}")
    return preferences_update(user=user, **{kind: False})
