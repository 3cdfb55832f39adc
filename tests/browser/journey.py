"""What every browser journey does on every page: axe-core, a screenshot, the keyboard.

axe-core is evaluated in the page through the DevTools protocol (`page.evaluate`), which
the site's Content-Security-Policy does not govern; a <script> tag would be refused by it,
and the policy stays as strict in these tests as for visitors. A journey fails on the
first page with a serious or critical violation of WCAG 2.0/2.1 A and AA, naming the rule,
the elements and the address; at its end it fails if the browser showed a page that it
left unchecked (every navigation of every person's browser counts).
"""

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from django.utils import translation
from django.utils.translation import gettext, ngettext
from playwright.sync_api import Browser, BrowserContext, Locator, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_kind(path: str) -> str:
    """A checked address as the summary lists it: signed tokens and the values of query
    parameters left out, so that the three check-in searches are one page."""
    parts = urlsplit(path)
    segments = ["<token>" if ":" in s else s for s in parts.path.split("/")]
    query = "&".join(f"{name}=…" for name, value in parse_qsl(parts.query) if value)
    return "/".join(segments) + (f"?{query}" if query else "")


@dataclass
class AxeLog:
    """Every page checked in the run (address → journeys), for the summary."""

    pages: dict[str, set[str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def record(self, *, journey: str, path: str) -> None:
        self.pages.setdefault(page_kind(path), set()).add(journey)


class Journey:
    """One journey: its browser contexts, numbered screenshots, axe on each page shown."""

    def __init__(self, *, name: str, browser: Browser, base_url: str, axe_source: str, log: AxeLog):
        self.name = name
        self.browser = browser
        self.base_url = base_url
        self.axe_source = axe_source
        self.log = log
        self.folder = SCREENSHOTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.step = 0
        self.contexts: list[BrowserContext] = []
        self.showing: dict[str, str | None] = {}  # who → the page shown and not yet checked
        self.unchecked: list[str] = []  # pages that were shown, then left without a check
        self.started = time.monotonic()

    # --- browsers ----------------------------------------------------------------------

    def page(self, who: str, **context_options) -> Page:
        """A fresh browser (context) for one person, with a page that is watched."""
        context = self.browser.new_context(base_url=self.base_url, **context_options)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.who = who

        def shown(frame) -> None:
            if frame == page.main_frame:
                if self.showing.get(who):
                    self.unchecked.append(f"{who}: {self.showing[who]}")
                self.showing[who] = path_of(frame.url)

        page.on("framenavigated", shown)
        return page

    def sign_in(self, page: Page, *, email: str, password: str) -> None:
        self.visit(page, "/accounts/login/", f"{page.who}-sign-in")
        page.locator("input[name=login]").fill(email)
        page.locator("input[name=password]").fill(password)
        self.follow(
            page, page.locator("form[action='/accounts/login/'] button[type=submit]"), "signed-in"
        )
        assert "/accounts/login/" not in page.url, f"{email} could not sign in"

    def visit(self, page: Page, path: str, step: str) -> None:
        """Open an address, as from a link in a mail or a bookmark, and check the page."""
        page.goto(path)
        self.check(page, step)

    def follow(self, page: Page, target: Locator, step: str) -> None:
        """Click a link or a form's button, wait for the page it leads to, check that."""
        with page.expect_navigation():
            target.click()
        self.check(page, step)

    def press(self, page: Page, key: str, step: str) -> None:
        """A key that submits or follows what has the focus (Enter, Space), then check."""
        with page.expect_navigation():
            page.keyboard.press(key)
        self.check(page, step)

    # --- on every page -----------------------------------------------------------------

    def check(self, page: Page, step: str, *, full_page: bool = True) -> None:
        """axe-core on the page as it is now, then a screenshot NN-step.png."""
        page.wait_for_load_state("load")
        path = path_of(page.url)
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe_source)
        violations = page.evaluate(RUN_AXE, AXE_TAGS)
        self.step += 1
        name = step if step.startswith(page.who) else f"{page.who}-{step}"
        page.screenshot(path=self.folder / f"{self.step:02d}-{name}.png", full_page=full_page)
        self.showing[page.who] = None
        self.log.record(journey=self.name, path=path)
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        if failing:
            lines = [
                f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(v['targets'][:5])}"
                for v in failing
            ]
            self.log.violations += [f"{path}: {line}" for line in lines]
            raise AssertionError(f"axe-core on {path} ({step}):\n  " + "\n  ".join(lines))

    def finish(self, *, strict: bool = True) -> float:
        """Close the browsers; with `strict`, fail if a page was shown but not checked."""
        left = [f"{who}: {path}" for who, path in self.showing.items() if path]
        unchecked = self.unchecked + left
        for context in self.contexts:
            context.close()
        assert not strict or not unchecked, f"pages shown but not checked by axe: {unchecked}"
        return time.monotonic() - self.started


# --- words ---------------------------------------------------------------------------------


def in_language(code: str, text: str, plural: str | None = None, n: int = 1) -> str:
    """`text` as the project's catalogue says it in language `code`."""
    with translation.override(code):
        return ngettext(text, plural, n) if plural else gettext(text)


def says(page: Page, text: str, plural: str | None = None, n: int = 1) -> str:
    """`text` in the language the page is shown in (its <html lang>): members read the site
    in their profile's language, whatever their browser asks for."""
    return in_language(page.locator("html").get_attribute("lang"), text, plural, n)


def label_in(page: Page, choice) -> str:
    """A model choice's label (a status, a kind) in the page's language."""
    with translation.override(page.locator("html").get_attribute("lang")):
        return str(choice.label)


# --- the keyboard --------------------------------------------------------------------------


def is_focused(locator: Locator) -> bool:
    return locator.evaluate("(el) => el === document.activeElement")


def tab_to(page: Page, locator: Locator, *, limit: int = 120) -> None:
    """Press Tab until `locator` has the focus, as a keyboard user moves through the page."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if is_focused(locator):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {locator}")


# --- mail ----------------------------------------------------------------------------------


def wait_for_mail(
    mailbox, matches: Callable[[EmailMessage], bool], *, count: int = 1, timeout: float = 30
) -> list[EmailMessage]:
    """The first `count` messages in the SMTP sink that `matches` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in list(mailbox.messages) if matches(m)]
        if len(found) >= count:
            return found[:count]
        if time.monotonic() > deadline:
            subjects = [f"{m['To']}: {m['Subject']}" for m in list(mailbox.messages)[-10:]]
            raise AssertionError(
                f"expected {count} matching message(s), got {len(found)}; latest: {subjects}"
            )
        time.sleep(0.1)


def to(address: str) -> Callable[[EmailMessage], bool]:
    return lambda message: address in str(message["To"])


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()
