"""The Content-Security-Policy, on every page of the site.

Every HTML answer of the route crawl (each URL pattern — ours, allauth's, the admin's and
the API's — filled with the permission matrix's world) opened anonymously, as an organiser
and as staff carries the policy of config/settings/base.py, and its markup needs nothing
the policy forbids: no <script> or <style> without this response's nonce, no inline event
handler, no javascript: URL, no style="" attribute. A browser would refuse to run those;
here they fail the test, named with the page.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.matrix_world import World, build_world, html_pages, paths_to_visit

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
# The participant (of the brokerage day, a target of the world) opens its participants' pages.
ROLES = ("anonymous", "organiser", "staff", "participant")
# What a browser asks for: the API's pages answer with DRF's browsable HTML.
BROWSER = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
NONCE = "'nonce-{}'"
UNSAFE = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "https:"}

# The policy as a browser receives it; "{}" is the response's nonce, present only when the
# page has inline code that needs it.
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'", NONCE],
    "style-src": ["'self'", NONCE],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

# <script type="..."> a browser executes; any other type is a data block (JSON for a script).
JAVASCRIPT_TYPES = {
    "", "module", "text/javascript", "application/javascript", "application/ecmascript",
    "application/x-javascript", "text/ecmascript", "text/jscript", "text/livescript",
}  # fmt: skip


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";"))
    return {words[0]: words[1:] for words in parts if words}


def nonce_of(policy: dict[str, list[str]]) -> str | None:
    nonces = {s[len("'nonce-") : -1] for s in policy.get("script-src", []) if "nonce-" in s}
    assert len(nonces) <= 1, policy
    return next(iter(nonces), None)


def expected(nonce: str | None) -> dict[str, list[str]]:
    return {
        name: [s.format(nonce) for s in sources if nonce or s != NONCE]
        for name, sources in POLICY.items()
    }


def is_external(url: str) -> bool:
    return bool(re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", url, re.IGNORECASE))


class Audit(HTMLParser):
    """What a browser enforcing the policy would refuse in a page's markup."""

    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems: list[str] = []

    def nonced(self, attributes: dict[str, str | None]) -> bool:
        return self.nonce is not None and attributes.get("nonce") == self.nonce

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline event handler")
            if name == "style":
                self.problems.append(f'<{tag} style="{value}">')
            # Browsers drop whitespace and control characters before reading a scheme.
            if re.sub(r"[\x00-\x20]", "", value or "").lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}> javascript: URL")
        if tag == "script":
            source = attributes.get("src")
            kind = (attributes.get("type") or "").strip().lower()
            if source is not None and is_external(source):
                self.problems.append(f"<script src={source!r}> from another site")
            elif source is None and kind in JAVASCRIPT_TYPES and not self.nonced(attributes):
                self.problems.append("inline <script> without the response's nonce")
        if tag == "style" and not self.nonced(attributes):
            self.problems.append("<style> without the response's nonce")
        stylesheet = tag == "link" and "stylesheet" in (attributes.get("rel") or "").split()
        if stylesheet and is_external(attributes.get("href") or ""):
            self.problems.append(f"<link rel=stylesheet href={attributes['href']!r}>")


def audit(html: str, nonce: str | None) -> list[str]:
    parser = Audit(nonce)
    parser.feed(html)
    parser.close()
    return parser.problems


def test_the_audit_finds_what_a_browser_would_block():
    nonce = "abc123"
    page = (
        '<a href=" java\tscript:alert(1)">x</a><p style="color:red">x</p>'
        '<img src="x" onerror="alert(1)"><script>alert(1)</script>'
        '<script nonce="stolen">alert(1)</script><style>p{}</style>'
        '<script src="https://cdn.example/x.js"></script>'
        "<svg><style>rect{}</style></svg>"
    )
    allowed = (
        f'<script nonce="{nonce}">ok()</script><style nonce="{nonce}">p{{}}</style>'
        '<script src="/static/js/checkin.js" defer></script>'
        '<script type="application/json" id="data">{"a": 1}</script>'
        '<a href="/events/" class="button">ok</a><rect fill="#fff"/>'
    )

    assert audit(page, nonce) == [
        "<a href=' java\\tscript:alert(1)'> javascript: URL",
        '<p style="color:red">',
        "<img onerror=…> inline event handler",
        "inline <script> without the response's nonce",
        "inline <script> without the response's nonce",
        "<style> without the response's nonce",
        "<script src='https://cdn.example/x.js'> from another site",
        "<style> without the response's nonce",
    ]
    assert audit(allowed, nonce) == []
    # Without a nonce in the header, no nonce attribute makes inline code acceptable.
    assert len(audit('<script nonce="">x()</script><style nonce>p{}</style>', None)) == 2


@pytest.fixture
def world(db, png) -> World:
    return build_world(png=png)


def test_every_html_page_carries_the_policy_and_needs_nothing_it_forbids(world, capsys):
    visits = paths_to_visit(world)
    problems, nonces, pages, example = [], [], 0, None
    viewers = {
        role: world.participant if role == "participant" else world.users.get(role)
        for role in ROLES
    }
    for role, _route, path, response in html_pages(visits, viewers=viewers, **BROWSER):
        pages += 1
        where = f"{role} GET {path} ({response.status_code})"
        header = response.get("Content-Security-Policy")
        if header is None:
            problems.append(f"{where}: no Content-Security-Policy header")
            continue
        policy = directives(header)
        nonce = nonce_of(policy)
        if policy != expected(nonce):
            problems.append(f"{where}: policy {header!r}")
        if UNSAFE & set(policy.get("script-src", []) + policy.get("style-src", [])):
            problems.append(f"{where}: unsafe sources in {header!r}")
        if nonce:
            nonces.append(nonce)
            example = example or (where, header)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        problems += [f"{where}: {p}" for p in audit(content.decode(), nonce)]
    with capsys.disabled():
        print(f"\nCSP crawl: {pages} HTML responses ({', '.join(ROLES)}); e.g. {example}")

    assert pages > 500
    assert not problems, "\n".join(problems)
    assert nonces, "no page used a nonce: the crawl did not reach the API's pages"
    assert len(set(nonces)) == len(nonces), "a nonce was sent twice"


# --- production ------------------------------------------------------------------------

# Static URLs without the manifest (no collectstatic in a test); everything else as deployed.
FETCH = """
import json
from django.conf import settings
from django.test import Client, override_settings
plain = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=plain):
    response = Client().get(
        "/accounts/login/", secure=True, HTTP_HOST="clusterhub.example.org")
print(json.dumps({"status": response.status_code, "headers": dict(response.headers)}))
"""


def production_page(tmp_path, **env: str) -> dict:
    """A page served by a process started with production settings, as an operator would."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECRET_KEY", "DJANGO_", "CSP_"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="clusterhub.example.org",
        CLUSTERHUB_VAR_DIR=str(tmp_path),
        **env,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", FETCH],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_serves_the_policy(tmp_path):
    page = production_page(tmp_path)

    assert page["status"] == 200
    policy = directives(page["headers"]["Content-Security-Policy"])
    assert policy == expected(nonce_of(policy))
    assert "Content-Security-Policy-Report-Only" not in page["headers"]


def test_an_operator_can_try_the_policy_in_report_only_mode_with_a_report_address(tmp_path):
    page = production_page(tmp_path, CSP_REPORT_ONLY="true", CSP_REPORT_URI="/csp-reports/")

    assert "Content-Security-Policy" not in page["headers"]
    policy = directives(page["headers"]["Content-Security-Policy-Report-Only"])
    assert policy.pop("report-uri") == ["/csp-reports/"]
    assert policy == expected(nonce_of(policy))
