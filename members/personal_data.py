"""Personal data across apps: export for its owner, erasure on request.

`members` is at the bottom of the dependency chain, so other apps (events, matchmaking)
register what they hold about a person here, in their AppConfig.ready().

Erasers run first in `members.services.account_erase`, while the person's profile and
addresses still exist: `person_identifiers` gives them what text that names the person
looks like, and a `Redactor` replaces it with "a former member".
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from django.db.models import Q, Value
from django.db.models.functions import Concat

from members.models import Profile, User
from notifications.redaction import REPLACEMENT, Redactor

Exporter = Callable[[User], Any]
Eraser = Callable[[User], None]

# What an erased person is called where a record of them stays (a stage role, a circle).
FORMER_MEMBER = REPLACEMENT[0].upper() + REPLACEMENT[1:]

_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}


def register_exporter(section: str, exporter: Exporter) -> None:
    _exporters[section] = exporter


def register_eraser(name: str, eraser: Eraser) -> None:
    _erasers[name] = eraser


def exporters() -> dict[str, Exporter]:
    return dict(_exporters)


def erasers() -> dict[str, Eraser]:
    return dict(_erasers)


@dataclass(frozen=True)
class PersonIdentifiers:
    """How text names a person: their addresses and their whole names."""

    emails: list[str]
    names: list[str]

    def redactor(self) -> Redactor:
        return Redactor(names=self.names, emails=self.emails)


def namesake_emails(*, user: User, names: list[str]) -> list[str]:
    """Addresses of the other people (not erased) who go by one of `names`."""
    if not names:
        return []
    same = Q(pk__in=[])
    for name in names:
        same |= Q(profile__display_name__iexact=name) | Q(full_name__iexact=name)
    return list(
        User.objects.exclude(pk=user.pk)
        .filter(erased_at__isnull=True)
        .annotate(full_name=Concat("first_name", Value(" "), "last_name"))
        .filter(same)
        .values_list("email", flat=True)
        .distinct()
    )


def person_identifiers(user: User) -> PersonIdentifiers:
    """Every address of the person (the account's and allauth's) and their whole names:
    first + last name and display name. A one-word name is left out: a first name alone
    does not identify anyone, and replacing it would rewrite other people's text."""
    emails = [user.email, *EmailAddress.objects.filter(user=user).values_list("email", flat=True)]
    display_name = Profile.objects.filter(user=user).values_list("display_name", flat=True)
    names = [user.get_full_name(), *display_name]
    return PersonIdentifiers(
        emails=list(dict.fromkeys(e.strip().lower() for e in emails if e.strip())),
        names=list(dict.fromkeys(" ".join(n.split()) for n in names if len(n.split()) > 1)),
    )
