"""Journey 1: a newcomer whose browser speaks German signs up, confirms the address from the
mail they received, completes the profile, finds a webinar by its topic, takes its last
seat with the keyboard alone, downloads the calendar file and cancels; the member waiting
for that seat gets it, and is told in French, her own language.

What the newcomer reads is compared with the German catalogue (`gettext` under
`translation.override("de")`), which must translate it: the test follows the
translators' words, and fails while a string is still English.
"""

import re

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from events.models import Registration
from tests.browser.journey import in_language, label_in, tab_to, text_of, to, wait_for_mail

pytestmark = pytest.mark.browser

NEWCOMER = {"name": "Lena Hoffmann", "email": "lena.hoffmann@example.org"}
PASSWORD = "Zahnrad-und-Spindel-2027"
Status = Registration.Status


def translated(code: str, text: str, plural: str | None = None, n: int = 1) -> str:
    """`text` from the catalogue of `code`, which must translate it (not fall back to English)."""
    words = in_language(code, text, plural, n)
    assert words != in_language("en", text, plural, n), f"no {code} translation of {text!r}"
    return words


def words(text: str) -> str:
    """Text with each run of whitespace (a French no-break space too) as one space."""
    return " ".join(str(text).split())


def german(text: str, plural: str | None = None, n: int = 1) -> str:
    return translated("de", text, plural, n)


def french(text: str) -> str:
    return translated("fr", text)


def test_newcomer(journey, site):
    webinar, waiting = site.data["webinar"], site.data["french_member"]
    event_path = f"/events/{webinar['slug']}/"
    page = journey.page(
        "newcomer", locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"}
    )

    # The browser asks for German: the site answers in German from the first page.
    journey.visit(page, "/", "home")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("header")).to_contain_text(german("Sign in"))
    journey.follow(page, page.locator("header a[href='/accounts/signup/']"), "sign-up")
    page.locator("input[name=email]").fill(NEWCOMER["email"])
    page.locator("input[name=display_name]").fill(NEWCOMER["name"])
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    signup = page.locator("form[action='/accounts/signup/'] button[type=submit]")
    journey.follow(page, signup, "signed-up")
    assert "/accounts/signup/" not in page.url

    # The confirmation mail, in German, with a link to this very site.
    [mail] = wait_for_mail(site.mailbox, to(NEWCOMER["email"]))
    assert words(german("Please Confirm Your Email Address")) in words(mail["Subject"])
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", text_of(mail)).group(0)
    assert link.startswith(site.url + "/"), link
    journey.visit(page, link, "confirm-address")
    journey.follow(page, page.locator("main form button[type=submit]"), "address-confirmed")
    assert "/accounts/confirm-email/" not in page.url

    # The profile: its language was taken from the browser at sign-up.
    journey.follow(page, page.locator("header a[href='/me/']"), "my-profile")
    journey.follow(page, page.locator("main a[href='/me/edit/']"), "edit-profile")
    expect(page.locator("select[name=preferred_language]")).to_have_value("de")
    page.locator("input[name=job_title]").fill("Konstrukteurin")
    page.locator("select[name=country]").select_option("DE")
    topic_id = site.data["topic_ids"][webinar["topic"]]
    page.locator(f"#id_interests input[value='{topic_id}']").check()
    journey.follow(page, page.locator("main form button[type=submit]"), "profile-saved")
    assert "/me/edit/" not in page.url
    expect(page.locator("main")).to_contain_text("Konstrukteurin")

    # A webinar found by its topic.
    journey.follow(page, page.locator("header a[href='/events/']"), "events")
    page.locator("select[name=topic]").select_option(webinar["topic"])  # its slug
    journey.follow(page, page.locator("form[role=search] button[type=submit]"), "by-topic")
    journey.follow(page, page.get_by_role("link", name=webinar["title"]), "webinar")
    assert page.url.endswith(event_path)
    one_left = german("%(n)s seat left", "%(n)s seats left", 1) % {"n": 1}
    expect(page.locator("main")).to_contain_text(one_left)

    # The last seat, taken with the keyboard alone.
    tab_to(page, page.get_by_role("button", name=german("Register"), exact=True))
    journey.press(page, "Enter", "registered")
    expect(page.locator("main .status")).to_contain_text(label_in(page, Status.CONFIRMED))

    # The calendar file names the event.
    with page.expect_download() as download:
        page.locator(f"a[href='{event_path}calendar.ics']").click()
    calendar = Calendar.from_ical(download.value.path().read_bytes())
    assert [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")] == [webinar["title"]]

    # Someone joins the waitlist behind the newcomer: a member whose language is French.
    other = journey.page("waitlisted")
    journey.sign_in(other, email=waiting["email"], password=site.data["password"])
    expect(other.locator("html")).to_have_attribute("lang", "fr")
    journey.visit(other, event_path, "full-webinar")
    join = other.get_by_role("button", name=french("Join the waitlist"))
    journey.follow(other, join, "on-the-waitlist")
    expect(other.locator("main .status")).to_contain_text(label_in(other, Status.WAITLISTED))

    # The newcomer cancels: the seat goes to the waitlist at once.
    cancel = page.get_by_role("button", name=german("Cancel my registration"))
    journey.follow(page, cancel, "cancelled")
    expect(page.locator(".messages")).to_contain_text(german("Your registration is cancelled."))
    expect(page.locator("main")).to_contain_text(
        german("Full — new registrations join the waitlist")
    )
    expect(page.get_by_role("button", name=german("Join the waitlist"))).to_be_visible()

    # …and the member who waited is told in French, whatever language the canceller uses.
    seat = words(french("A seat is yours:"))  # subjects are one line of plain spaces
    [promoted] = wait_for_mail(
        site.mailbox, lambda m: to(waiting["email"])(m) and seat in words(m["Subject"])
    )
    assert webinar["title"] in promoted["Subject"]
    journey.visit(other, event_path, "seat-is-hers")
    expect(other.locator("main .status")).to_contain_text(label_in(other, Status.CONFIRMED))
