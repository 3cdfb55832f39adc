"""What text may hold, for every app: the one place for control characters and line breaks.

`members.middleware.ControlCharacterMiddleware` refuses requests whose parameters hold
`CONTROL_CHARACTERS`; titles and names carry `validate_single_line` on their model field,
so forms, the admin and the API all refuse a line break in them.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# No text on this site holds these: C0 control characters but TAB, LF and CR (NUL cannot
# even be stored in PostgreSQL), and lone surrogates (half a UTF-16 pair; they cannot be
# written as UTF-8, so neither stored nor sent back).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

# A single line holds none of these either: no line break, tab, DEL, C1 control or Unicode
# line/paragraph separator. Mail subjects, calendar SUMMARY lines and CSV cells rely on it.
NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

LINE_BREAK_MESSAGE = _("Use one line: no line breaks, tabs or invisible control characters.")


def has_control_characters(value: str) -> bool:
    return CONTROL_CHARACTERS.search(value) is not None


def validate_single_line(value: object) -> None:
    """Model-field validator for titles and names: one line of visible text."""
    if isinstance(value, str) and NOT_ONE_LINE.search(value):
        raise ValidationError(LINE_BREAK_MESSAGE, code="not_one_line")
