"""Markdown written by organisers, rendered to HTML that is safe to put on a page.

markdown-it-py turns CommonMark into HTML (raw HTML allowed through, so it can be
cleaned rather than shown as text); nh3 then keeps only an allow-list of tags, attributes
and URL schemes and drops scripts and styles with their content.
"""

import re

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_parser = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.DOTALL)


def _shift_headings(html: str) -> str:
    """The author's heading levels, ranked (the highest used becomes h3, the next h4, …),
    and in document order never more than one level below the heading before: `## A` then
    `#### B` become h3 and h4, and `### Intro` before `# Day` an h3 and an h3."""
    used = sorted({int(level) for level, _text in _HEADING.findall(html)})
    ranked = {level: min(3 + rank, 6) for rank, level in enumerate(used)}
    previous = 2  # the page's own "About"

    def shift(match: re.Match) -> str:
        nonlocal previous
        level = min(previous + 1, ranked[int(match[1])])
        previous = level
        return f"<h{level}>{match[2]}</h{level}>"

    return _HEADING.sub(shift, html)


def markdown_to_html(text: str) -> SafeString:
    """Safe HTML for an organiser's Markdown; an empty string for empty input.

    The text sits under the page's h1 (the title) and an h2 ("About"), so its headings
    start at h3 and never skip a level (see `_shift_headings`).
    """
    if not text or not text.strip():
        return mark_safe("")  # noqa: S308 — nothing to escape
    html = _parser.render(text)
    html = _shift_headings(html)
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 — cleaned by nh3 against an allow-list
