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
_HEADING = re.compile(r"<(/?)h([1-6])>")


def markdown_to_html(text: str) -> SafeString:
    """Safe HTML for an organiser's Markdown; an empty string for empty input.

    The text sits under the page's h1 (the title) and an h2 ("About"), so its headings
    start at h3 and never skip a level: the levels the author used, in order, become h3,
    h4, … (`## A` then `#### B` become an h3 and an h4), so the page's outline holds.
    """
    if not text or not text.strip():
        return mark_safe("")  # noqa: S308 — nothing to escape
    html = _parser.render(text)
    used = sorted({int(level) for _slash, level in _HEADING.findall(html)})
    shifted = {level: min(3 + rank, 6) for rank, level in enumerate(used)}
    html = _HEADING.sub(lambda m: f"<{m[1]}h{shifted[int(m[2])]}>", html)
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 — cleaned by nh3 against an allow-list
