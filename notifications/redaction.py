"""Taking a person's names and addresses out of stored text. Pure: no models, no queries.

Used when an account is erased, on copies of mail and on other text that named the
person. A name is found as whole words, whatever the case and the spacing between its
words ("Anna Keller" is found in "ANNA  KELLER" but not in "Johanna Kellermann"); an
address only as a whole address ("anna@example.org" is not found in
"joanna@example.org"). Their HTML ("O&#x27;Brien"), iCalendar ("Keller\\, Anna") and
URL-encoded ("anna%40example.org") spellings are found too, and calendar text is
unfolded first, so a name that an .ics file split over two lines is found. A name of two
or more words is also found as a page address spells it ("circle-of-anna-keller-robotics"
becomes "circle-of-a-former-member-robotics", which is where `events` moves such a page).
"""

import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from django.utils.text import slugify

# What a person's name or address becomes where they were mentioned.
REPLACEMENT = "a former member"

_FOLD = re.compile(r"\r?\n[ \t]")


def _distinct(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value.casefold(), value)
    # Longest first: "Anna Maria Keller" is replaced whole, not as "Anna Maria" + rest.
    return sorted(seen.values(), key=len, reverse=True)


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


def _spellings(text: str) -> list[str]:
    """The ways `text` is written in mail: as is, in HTML, in iCalendar."""
    return list(dict.fromkeys([text, html.escape(text), _ics_escape(text)]))


def _name_pattern(name: str) -> str:
    words = name.split()
    variants = [r"\s+".join(re.escape(w) for w in spelling.split()) for spelling in
                _spellings(" ".join(words))]  # fmt: skip
    return r"(?<!\w)(?:" + "|".join(variants) + r")(?!\w)"


def _email_pattern(email: str) -> str:
    variants = dict.fromkeys([*_spellings(email), quote(email, safe="")])
    return r"(?<![\w.%+-])(?:" + "|".join(re.escape(v) for v in variants) + r")(?![\w-]|\.\w)"


def is_calendar(text: str) -> bool:
    return text.lstrip().upper().startswith("BEGIN:VCALENDAR")


def unfold(text: str) -> str:
    """iCalendar text with its folded lines joined again (RFC 5545, 3.1)."""
    return _FOLD.sub("", text)


class Redactor:
    """Finds and replaces one person's names and addresses.

    Names shorter than two characters are ignored: they would match everywhere.
    """

    def __init__(
        self, *, names: Iterable[str], emails: Iterable[str], replacement: str = REPLACEMENT
    ) -> None:
        self.names = [n for n in _distinct(" ".join(n.split()) for n in names) if len(n) > 1]
        self.emails = _distinct(e.lower() for e in emails if "@" in e)
        self.replacement = replacement
        parts = [_email_pattern(e) for e in self.emails] + [_name_pattern(n) for n in self.names]
        self._pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        self.slugs = _distinct(s for s in (slugify(n) for n in self.names) if "-" in s)
        slugs = [rf"(?<![a-z0-9]){re.escape(s)}(?![a-z0-9])" for s in self.slugs]
        self._slug_pattern = re.compile("|".join(slugs), re.IGNORECASE) if slugs else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def found(self, text: str) -> bool:
        if not self._pattern or not text:
            return False
        source = unfold(text) if is_calendar(text) else text
        return bool(
            self._pattern.search(source) or self._slug_pattern and self._slug_pattern.search(source)
        )

    def slug(self, text: str) -> str:
        """Only the names as page addresses spell them ("anna-keller") replaced."""
        if not self._slug_pattern or not text:
            return text
        return self._slug_pattern.sub(slugify(self.replacement), text)

    def text(self, text: str, *, replacement: str | None = None) -> str:
        """`text` with every mention replaced; calendar text comes back unfolded when
        something in it was replaced (long lines are allowed to readers of .ics files)."""
        if not self._pattern or not text:
            return text
        source = unfold(text) if is_calendar(text) else text
        redacted = self.slug(self._pattern.sub(replacement or self.replacement, source))
        return text if redacted == source else redacted

    def data(self, value: Any) -> Any:
        """JSON-like data with every string in it redacted (dict keys stay)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        return value

    def needles(self) -> list[str]:
        """Substrings for a database prefilter (`icontains`): every spelling of every name
        and address, also as JSON writes it (SQLite keeps "ü" in JSON as "\\u00fc")."""
        spellings = [s for n in self.names for s in _spellings(n)]
        spellings += [s for e in self.emails for s in (*_spellings(e), quote(e, safe=""))]
        spellings += self.slugs
        whole = [s for spelling in spellings for s in (spelling, json.dumps(spelling)[1:-1])]
        # A calendar file folds lines longer than 75 octets, so a name may be stored with
        # a line break inside it. One fold at most falls within a name, so one of its two
        # halves is always intact: search for those too and let `text` decide.
        halves = [
            half
            for spelling in whole
            if len(spelling) >= 8
            for half in (spelling[: len(spelling) // 2], spelling[len(spelling) // 2 :])
        ]
        return list(dict.fromkeys([*whole, *halves]))  # fmt: skip
