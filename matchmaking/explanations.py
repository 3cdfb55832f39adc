"""Explanations kept as data, worded when they are shown — in the reader's language.

A matching run explains each pair it proposes and each mentee it could not place. The run
happens in its organiser's language, but the words are read later by other people: the
pair in their mail and on their match page, each in their own language. So a run stores
each explanation as data,

    {"msg": "<English msgid>", "args": {...}}
    {"msg": "<msgid>", "plural": "<msgid_plural>", "n": 2, "args": {...}}

and `render` words it in the active language. An argument is

- a string or a number: shown as it is (a person's, topic's or sector's name, a count);
- a list: its items, each rendered, joined with the language's "and" ("A, B and C");
- an explanation (a dict with "msg"): rendered;
- a code, named in the active language: {"language": "fr", "name": "French"} (the stored
  name for a language Django does not know), {"kind": "research"} (an organisation
  kind), {"country": "AT"}, {"seniority": 3} (with "capitalize": true to start a
  sentence).

A value stored before explanations were data is finished text: it renders as it is.

`gettext` and `ngettext` here translate nothing: they return the data. They carry the
names makemessages looks for, so every message is still extracted into the catalogues.

Why a match ended is kept as its English msgid (`END_REASONS`) and translated when shown;
anything else there is what a person typed, shown as it is.
"""

import logging
from typing import Any

from django.conf.locale import LANG_INFO
from django.utils import formats, translation
from django.utils.translation import gettext_lazy, gettext_noop

logger = logging.getLogger(__name__)

Explanation = dict[str, Any]

SENIORITY_NAMES = {
    1: gettext_lazy("early-career"),
    2: gettext_lazy("mid-career"),
    3: gettext_lazy("senior"),
    4: gettext_lazy("executive"),
}
# The mentor's level when it is not one of the above.
SENIORITY_UNKNOWN = gettext_noop("experienced")

WITHDREW = gettext_noop("The other person withdrew.")
NO_ANSWER = gettext_noop("No answer before the deadline.")
DECLINED_BY = {
    "mentor": gettext_noop("Declined by the mentor."),
    "mentee": gettext_noop("Declined by the mentee."),
}
# Why a match ended, as the services write it: no person's words.
END_REASONS = (WITHDREW, NO_ANSWER, *DECLINED_BY.values())


def gettext(msgid: str, /, **args: Any) -> Explanation:
    """`msgid` with its arguments, to be translated when shown."""
    message: Explanation = {"msg": msgid}
    if args:
        message["args"] = args
    return message


def ngettext(singular: str, plural: str, n: int, /, **args: Any) -> Explanation:
    """A message with a plural form, chosen by `n` when shown."""
    message: Explanation = {"msg": singular, "plural": plural, "n": int(n)}
    if args:
        message["args"] = args
    return message


def render(value: Any) -> str:
    """An explanation in the active language; finished text (an older row) as it is."""
    if isinstance(value, dict) and "msg" in value:
        if "plural" in value:
            text = translation.ngettext(value["msg"], value["plural"], value.get("n", 1))
        else:
            text = translation.gettext(value["msg"])
        if "args" in value:
            args = {name: _argument(arg) for name, arg in value["args"].items()}
            try:
                text = text % args
            except (KeyError, ValueError, TypeError):
                # A translation whose placeholders do not fit: the English sentence
                # rather than a broken page or mail.
                logger.warning("Explanation %r does not fit its translation", value["msg"])
                text = value["msg"] % args
        return text
    if value is None:
        return ""
    return str(value)


def render_all(values: Any) -> list[str]:
    """Each of a stored list of explanations, rendered."""
    return [render(value) for value in values or ()]


def end_reason(value: str) -> str:
    """Why a match ended: the services' reasons in the active language, a person's as typed."""
    return translation.gettext(value) if value in END_REASONS else value


def join(items: list[str]) -> str:
    """Names as a list in the active language: A; A and B; A, B and C."""
    if len(items) <= 1:
        return "".join(items)
    return translation.gettext("%(items)s and %(last)s") % {
        "items": ", ".join(items[:-1]),
        "last": items[-1],
    }


def _argument(arg: Any) -> Any:
    if isinstance(arg, list):
        return join([str(_argument(item)) for item in arg])
    if isinstance(arg, float):  # written the reader's way: 5,5 in German
        return formats.number_format(arg if arg % 1 else int(arg))
    if not isinstance(arg, dict):
        return arg  # a name, or a whole number for %(count)d
    if "msg" in arg:
        return render(arg)
    if "language" in arg:
        info = LANG_INFO.get(arg["language"])
        if info and "name" in info:
            return translation.gettext(info["name"])
        return arg.get("name") or arg["language"]
    if "kind" in arg:
        from members.models import Organisation

        code = arg["kind"]
        if code not in Organisation.Kind.values:
            return code
        label = str(Organisation.Kind(code).label)
        # English writes "works at a large company"; other languages keep their own
        # capitals (German nouns) and acronyms ("PME", "KMU").
        english = translation.get_language().startswith("en")
        return label.lower() if english and not label.isupper() else label
    if "country" in arg:
        from django_countries import countries

        return str(countries.name(arg["country"])) or arg["country"]
    if "seniority" in arg:
        name = SENIORITY_NAMES.get(arg["seniority"])
        name = str(name) if name is not None else translation.gettext(SENIORITY_UNKNOWN)
        return name.capitalize() if arg.get("capitalize") else name
    return ""
