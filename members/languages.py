"""Which language a person sees: their profile's choice, else their browser's, else the site's.

Pages follow `ViewerLanguageMiddleware` (members.middleware); every message sent to a person
is rendered inside `in_language_of(user)`, so it is in the recipient's language whatever the
language of the person or task that caused it.
"""

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import wraps

from django.conf import settings
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from members.models import Profile

SUPPORTED = frozenset(code for code, _name in settings.LANGUAGES)


def supported(code: str | None) -> str | None:
    """`code` (e.g. "de" or "de-AT") as one of the site's languages, or None."""
    if not code:
        return None
    code = code.lower().replace("_", "-")
    if code in SUPPORTED:
        return code
    base = code.split("-")[0]
    return base if base in SUPPORTED else None


def browser_language(request: HttpRequest) -> str:
    """The language the visitor chose with the switcher (its cookie), else the first of
    their browser's languages the site has; "" when neither names one (the site's default
    then applies, and follows it if an operator changes it)."""
    chosen = supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if chosen:
        return chosen
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for code, quality in parse_accept_lang_header(header):
        if quality > 0 and supported(code):  # q=0: "not this one"
            return supported(code)
    return ""


def language_of(user) -> str:
    """The language of the pages and mail for `user`."""
    profile = getattr(user, "profile", None) if user is not None else None
    return supported(getattr(profile, "preferred_language", "")) or settings.LANGUAGE_CODE


def in_language_of(user) -> AbstractContextManager:
    """`with in_language_of(recipient):` around everything that renders their message."""
    return translation.override(language_of(user))


def in_recipients_language(recipient: Callable[..., object]) -> Callable:
    """Decorate a function that builds one person's message so it runs in their language.

    `recipient` receives the function's keyword arguments and returns the user the message
    is for (None: the site's default language).
    """

    def decorate(function):
        @wraps(function)
        def wrapper(**kwargs):
            with in_language_of(recipient(**kwargs)):
                return function(**kwargs)

        return wrapper

    return decorate


def languages_of_addresses(emails: Iterable[str]) -> dict[str, str]:
    """Each address's language: its member's, else the site's default. One query."""
    given = {email for email in emails if email}
    rows = (
        Profile.objects.annotate(address=Lower("user__email"))
        .filter(address__in={email.lower() for email in given})
        .values_list("address", "preferred_language")
    )
    found = dict(rows)
    return {
        email: supported(found.get(email.lower())) or settings.LANGUAGE_CODE
        for email in sorted(given)
    }
