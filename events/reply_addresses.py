"""Signed reply addresses of calendar invitations: `rsvp+<registration id>-<mac>@<domain>`.

`events.ical` names one as ORGANIZER of a person's invitation when `CALENDAR_REPLY_DOMAIN`
is set; `events.replies` reads the registration back from the address a reply came to.
"""

import base64
import re

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from events.models import Registration

SALT = "events.calendar-reply"
LOCAL_PREFIX = "rsvp"
# 26 base32 characters: 130 bits of HMAC-SHA256, lower case, so a mail system that changes
# the case of the address changes nothing. `rsvp+<id>-<mac>` stays far below 64 characters.
MAC_LENGTH = 26
_LOCAL_PART = re.compile(r"rsvp\+(?P<id>[1-9][0-9]{0,17})-(?P<mac>[a-z2-7]{26})")


def reply_domain() -> str:
    """The domain replies arrive at; empty when replies are off."""
    return (settings.CALENDAR_REPLY_DOMAIN or "").strip().lstrip("@").lower()


def _mac(registration_id: int, *, secret: str) -> str:
    digest = salted_hmac(SALT, str(registration_id), secret=secret, algorithm="sha256").digest()
    return base64.b32encode(digest).decode().lower()[:MAC_LENGTH]


def reply_address(*, registration: Registration) -> str | None:
    """The address a calendar client sends this registration's replies to, or None when
    replies are off (then invitations say RSVP=FALSE and name the organisers)."""
    domain = reply_domain()
    if not domain:
        return None
    mac = _mac(registration.pk, secret=settings.SECRET_KEY)
    return f"{LOCAL_PREFIX}+{registration.pk}-{mac}@{domain}"


def is_reply_address(address: str) -> bool:
    """Whether `address` has the shape of a reply address of our domain (signature unchecked)."""
    local, _, domain = address.strip().lower().rpartition("@")
    return bool(domain) and domain == reply_domain() and bool(_LOCAL_PART.fullmatch(local))


def registration_id_of(address: str) -> int | None:
    """The registration a reply address names, if its signature is ours (or was, before
    the key was rotated into SECRET_KEY_FALLBACKS)."""
    if not is_reply_address(address):
        return None
    match = _LOCAL_PART.fullmatch(address.strip().lower().rpartition("@")[0])
    registration_id = int(match["id"])
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if constant_time_compare(match["mac"], _mac(registration_id, secret=secret)):
            return registration_id
    return None
