"""Every string a person reads in the project's templates is marked for translation.

A template's literals are the text the template language passes through untouched: what
lies outside `{% %}`, `{{ }}` and `{# #}`, outside `{% blocktranslate %}` and
`{% comment %}` blocks and outside the markup of HTML tags, plus the attributes a person
reads (alt, title, aria-label, placeholder, a button's value, …). They are found with
Django's own template lexer, then html.parser for the markup. So are the quoted arguments a
page shows (`|default:"…"`, `|yesno:"…"`, `{% firstof … "…" %}`) unless written `_("…")`.
A literal with a word in it is an English string that no language can replace:

- no template under templates/ holds one, except the few in ALLOWLIST (brand names, HTTP
  methods, code samples), each with its reason;
- no page of the route crawl (every URL pattern filled with the permission matrix's world,
  opened anonymously, as a member, an organiser, staff and the mentee of its match, with
  German asked for) shows one, named with the template and the page.

Neither check needs a translation to exist: they look for text that cannot be translated.
"""

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

from tests.matrix_world import World, build_world, html_pages, paths_to_visit
from tests.routes import route_names

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# The text of a literal: a word is two letters or more ("s" for seconds is a unit).
WORD = re.compile(r"[^\W\d_]{2,}")
# Where the template had a tag, a variable, a comment or translated text.
HOLE = "\ue000"
# Blocks whose text the template language does not output as written.
SKIPPED_BLOCKS = {
    "blocktranslate": "endblocktranslate",
    "blocktrans": "endblocktrans",
    "comment": "endcomment",
}
# Blocks that hold CSS classes: base.html's <main class="wrap {% block main_class %}">
# and the admin's <body class="{% block bodyclass %}">.
CLASS_BLOCKS = {"main_class", "bodyclass"}
# Attributes whose value a person reads (or hears from a screen reader); data-mark and
# data-undo are the check-in button's labels, swapped in by static/js/checkin.js.
READ_ATTRIBUTES = {
    "alt", "title", "aria-label", "aria-description", "aria-roledescription",
    "aria-placeholder", "aria-valuetext", "placeholder", "label", "data-mark", "data-undo",
}  # fmt: skip
BUTTON_TYPES = {"submit", "button", "reset"}  # an <input> of these shows its value
# A quoted filter argument that ends up on the page; `_("…")` is translated.
SHOWN_ARGUMENT = re.compile(r"""\|(?:default|default_if_none|yesno):("[^"]*"|'[^']*')""")

# (template, literal): why it stays as written in every language.
ALLOWLIST = {
    (
        "events/includes/event_detail_body.html",
        "Google",
    ): "brand: the link adds the event to Google Calendar",
    (
        "events/includes/event_detail_body.html",
        "Outlook",
    ): "brand: the link adds the event to Outlook",
    ("rest_framework/api.html", "GET"): "HTTP method: the request the API button sends",
    ("rest_framework/api.html", "OPTIONS"): "HTTP method: the request the API button sends",
    ("rest_framework/api.html", "DELETE"): "HTTP method: the request the API button sends",
    ("members/cluster_import.html", "name"): "a column name the CRM import reads",
    ("members/cluster_import.html", "country"): "a column name the CRM import reads",
    ("members/cluster_import.html", "kind"): "a column name the CRM import reads",
    ("members/cluster_import.html", "domains"): "a column name the CRM import reads",
    ("members/cluster_import.html", "contact e-mails"): "a column name the CRM import reads",
    (
        "members/cluster_import.html",
        "name;country;kind;domains;contact e-mails "
        "Acme Robotics GmbH;AT;SME;acme.example;anna.berger@acme.example "
        "Institut für Fertigung;Germany;research;ifw.example ifw-lab.example;"
        "office@ifw.example, lab@ifw.example",
    ): "code sample: an example CSV file in the column names the import reads",
}

# The matrix's roles, and the mentee of its match, who alone opens the match's page (and,
# a participant of the brokerage day, its participants' pages).
ROLES = ("anonymous", "member", "organiser", "staff", "mentee")
GERMAN = {
    "HTTP_ACCEPT_LANGUAGE": "de",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
# Pages the crawl must have seen answer 200 for at least one role.
MAIN_PAGES = {
    "home", "account_login", "account_signup",
    "events:list", "events:detail", "events:my_events", "events:timetable", "events:feeds",
    "events:dashboard", "events:edit", "events:create", "events:session_create", "events:stage",
    "events:checkin", "events:invitations", "events:campaigns", "events:campaign_create",
    "events:campaign_detail", "events:rsvp",
    "members:directory", "members:profile_detail", "members:me", "members:profile_edit",
    "members:gender_edit", "members:api_token", "members:account_delete",
    "members:message_preferences", "members:cluster_list", "members:cluster_detail",
    "members:cluster_manage", "members:cluster_memberships", "members:cluster_import",
    "members:organisation_list", "members:organisation_detail", "members:organisation_people",
    "members:my_organisation", "members:membership_requests",
    "matchmaking:programme_list", "matchmaking:programme_detail", "matchmaking:apply",
    "matchmaking:my_mentoring", "matchmaking:match_detail", "matchmaking:manage_list",
    "matchmaking:programme_manage", "matchmaking:programme_edit",
    "matchmaking:programme_applications", "matchmaking:programme_matching",
    "insights:dashboard", "insights:event", "insights:event_report", "insights:year_report",
    "insights:programme", "insights:brokerage",
    "members:contact_send", "members:contact_report", "members:contact_reports",
    # The brokerage day: the mentee (Quentin) takes part in it, with both its meetings.
    "brokerage:home", "brokerage:profile_edit", "brokerage:items", "brokerage:item_edit",
    "brokerage:marketplace", "brokerage:participant_detail", "brokerage:request_new",
    "brokerage:requests", "brokerage:recommendations", "brokerage:agenda",
    "brokerage:agenda_print", "brokerage:meeting_detail",
    "brokerage:manage", "brokerage:manage_blocks", "brokerage:manage_block_create",
    "brokerage:manage_block_edit", "brokerage:manage_tables", "brokerage:manage_table_edit",
    "brokerage:manage_schedule", "brokerage:manage_table_plan", "brokerage:manage_checkin",
    "brokerage:manage_funnel",
}  # fmt: skip


@dataclass(frozen=True)
class Literal:
    template: str  # its path under templates/
    where: str  # "text", or the attribute it is the value of
    text: str  # whitespace collapsed

    def __str__(self) -> str:
        place = "" if self.where == "text" else f" (in {self.where}=…)"
        return f"{self.template}: {self.text!r}{place}"


def untranslated(source: str) -> str:
    """The template's text as written, with a HOLE wherever the template language outputs
    or translates something (a tag, a variable, a comment, a blocktranslate block). The
    quoted arguments a tag or variable may output as written stay, between HOLEs."""
    parts: list[str] = []
    closing = None
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.TEXT and closing is None:
            parts.append(token.contents)
            continue
        parts.append(HOLE)
        if closing is None and token.token_type in (TokenType.VAR, TokenType.BLOCK):
            for quoted in SHOWN_ARGUMENT.findall(token.contents):
                parts += [quoted[1:-1], HOLE]
        if token.token_type != TokenType.BLOCK:
            continue
        bits = token.split_contents()
        if closing is None and bits[0] == "firstof":
            parts += [part for bit in bits[1:] if bit[:1] in "\"'" for part in (bit[1:-1], HOLE)]
        if closing is not None:
            closing = None if bits[0] == closing else closing
        elif bits[0] in SKIPPED_BLOCKS:
            closing = SKIPPED_BLOCKS[bits[0]]
        elif bits[0] == "block" and bits[1] in CLASS_BLOCKS:
            closing = "endblock"
    return "".join(parts)


class Reader(HTMLParser):
    """The text of a page a person reads: its data outside <script> and <style>, and the
    attributes in READ_ATTRIBUTES, each as (where, text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces: list[tuple[str, str]] = []
        self.code: list[str] = []  # open <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.code.append(tag)
        attributes = dict(attrs)
        for name, value in attrs:
            button = tag == "input" and (attributes.get("type") or "").lower() in BUTTON_TYPES
            if value and (name in READ_ATTRIBUTES or button and name == "value"):
                self.pieces.append((name, value))

    def handle_endtag(self, tag: str) -> None:
        if self.code and self.code[-1] == tag:
            self.code.pop()

    def handle_data(self, data: str) -> None:
        if not self.code:
            self.pieces.append(("text", data))


def read(markup: str) -> list[tuple[str, str]]:
    reader = Reader()
    reader.feed(markup)
    reader.close()
    return reader.pieces


def literals(source: str, *, html: bool) -> list[tuple[str, str]]:
    """(where, text) of every untranslated literal of a template with a word in it."""
    text = untranslated(source)
    pieces = read(text) if html else [("text", text)]
    found = []
    for where, piece in pieces:
        for part in piece.split(HOLE):
            part = " ".join(part.split())
            if WORD.search(part):
                found.append((where, part))
    return found


def template_files() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.is_file() and p.suffix in (".html", ".txt"))


def project_literals() -> list[Literal]:
    found = []
    for path in template_files():
        name = path.relative_to(TEMPLATES).as_posix()
        source = path.read_text(encoding="utf-8")
        for where, text in literals(source, html=path.suffix == ".html"):
            found.append(Literal(name, where, text))
    return found


def test_the_literals_are_the_text_left_untranslated():
    page = (
        "{% load i18n %}{% block main_class %}narrow wide{% endblock %}"
        '<h1 title="A plain title">{% trans "Marked" %} Left alone {{ name }}, and this'
        " too</h1>{% blocktranslate trimmed with n=x %}Inside a block {{ n }} here"
        "{% endblocktranslate %}{% comment %}A note for developers{% endcomment %}{# a note #}"
        '<img alt="{% trans \'Marked alt\' %}" src="/static/a.png"><input type="submit"'
        ' value="Send it"><input type="hidden" name="action" value="add_topic">'
        '<a href="{% url \'home\' %}"{% if on %} aria-current="page"{% endif %}>Home page</a>'
        '<button aria-label="Close the dialog">×</button><script>t = "not prose";</script>'
        '<style nonce="{{ n }}">p { content: "no prose" }</style><p>3 s</p>'
        '{{ x|date:"D j M" }}{{ a|default:_("Nobody yet") }}{% firstof a _("No name") %}'
        '<p>{{ a|default:"Nobody yet" }} {% firstof a b "No name" %}</p>'
        '<p class="message-{{ m.tags|default:\'info\' }}">{{ a|yesno:"on,off" }}</p>'
    )
    mail = "{% load i18n %}Hello {{ name }},\n{% trans 'Marked' %}\nSee you soon\n— {{ site }}"

    assert literals(page, html=True) == [
        ("title", "A plain title"),
        ("text", "Left alone"),
        ("text", ", and this too"),
        ("value", "Send it"),
        ("text", "Home page"),
        ("aria-label", "Close the dialog"),
        ("text", "Nobody yet"),
        ("text", "No name"),
        ("text", "on,off"),
    ]
    assert literals(mail, html=False) == [("text", "Hello"), ("text", "See you soon —")]


def test_no_template_holds_an_unmarked_string():
    found = project_literals()
    unmarked = [str(lit) for lit in found if (lit.template, lit.text) not in ALLOWLIST]
    stale = set(ALLOWLIST) - {(lit.template, lit.text) for lit in found}

    assert len(template_files()) > 100
    assert not unmarked, (
        "Mark these for translation ({% translate %} / {% blocktranslate trimmed %}), "
        "or add them to ALLOWLIST with the reason they stay as written:\n" + "\n".join(unmarked)
    )
    assert not stale, f"ALLOWLIST names literals no template holds any more: {sorted(stale)}"


@pytest.fixture
def world(db, png) -> World:
    return build_world(png=png)


def as_written(literal: str) -> re.Pattern:
    """The literal in a page's text, not as a part of a longer word."""
    before = r"(?<!\w)" if literal[0].isalnum() else ""
    after = r"(?!\w)" if literal[-1].isalnum() else ""
    return re.compile(before + re.escape(literal) + after)


def visible_text(response) -> list[str]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return [" ".join(text.split()) for _, text in read(content.decode())]


def test_no_german_page_shows_an_unmarked_string_of_a_template(world, capsys):
    unmarked = [
        (lit, as_written(lit.text))
        for lit in project_literals()
        if (lit.template, lit.text) not in ALLOWLIST
    ]
    names = route_names()
    visits = paths_to_visit(world)
    problems, seen, pages = [], set(), 0
    viewers = {
        role: world.match.mentee.user if role == "mentee" else world.users.get(role)
        for role in ROLES
    }
    for role, route, path, response in html_pages(visits, viewers=viewers, **GERMAN):
        pages += 1
        where = f"{role} GET {path} ({response.status_code})"
        if response.status_code == 200:
            seen.add(names[route])
        if response.get("Content-Language") != "de":
            problems.append(f"{where}: Content-Language {response.get('Content-Language')}")
        text = visible_text(response)
        problems += [
            f"{where}: {lit}"
            for lit, pattern in unmarked
            if any(pattern.search(piece) for piece in text)
        ]
    with capsys.disabled():
        print(f"\nGerman crawl: {pages} HTML responses ({', '.join(ROLES)})")

    assert pages > 500
    assert not MAIN_PAGES - seen, f"the crawl never opened {sorted(MAIN_PAGES - seen)}"
    assert not problems, "\n".join(problems)
