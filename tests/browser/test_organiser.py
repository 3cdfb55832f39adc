"""Journey 2: an organiser builds a two-day conference on the organiser pages — two talks
in parallel tracks and a panel with its panellists — publishes it, invites the cluster's
members interested in robotics, and on the day checks three of the invited in on a phone
(390×844), with the keyboard alone; then opens the cluster's gender-balance dashboard.

The invitations travel the real path (web → Redis → Celery worker → SMTP); three invited
members answer "yes" from the link in the mail they received.
"""

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.journey import is_focused, says, tab_to, text_of, wait_for_mail

pytestmark = pytest.mark.browser

TITLE = "Robotics & Automation Summit 2027"
TOPIC = "Robotics"
PANEL = "Panel: who maintains the robots?"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def local(day, hour: int) -> str:
    """A datetime-local input's value: the organiser types the event's wall-clock time."""
    return f"{day.isoformat()}T{hour:02d}:00"


def add_session(journey, page, slug: str, *, kind: str, title: str, day, hours, track, room):
    journey.follow(
        page, page.locator(f"main a[href='/events/{slug}/sessions/new/']"), "new-" + kind
    )
    page.locator("select[name=kind]").select_option(kind)
    page.locator("input[name=title]").fill(title)
    page.locator("input[name=track]").fill(track)
    page.locator("input[name=room]").fill(room)
    page.locator("input[name=starts_at]").fill(local(day, hours[0]))
    page.locator("input[name=ends_at]").fill(local(day, hours[1]))
    journey.follow(page, page.locator("main form button[type=submit]"), f"{kind}-added")
    assert page.url.endswith(f"/events/{slug}/manage/")
    expect(page.locator("main table")).to_contain_text(title)


def test_organiser(journey, site):
    organiser = journey.page("organiser", locale="en-GB")
    journey.sign_in(organiser, email=site.data["organiser"], password=site.data["password"])
    first_day = timezone.now().astimezone(UTC).date() + timedelta(days=40)
    second_day = first_day + timedelta(days=1)

    # A two-day conference, saved as a draft.
    journey.follow(organiser, organiser.locator("header a[href='/events/']"), "events")
    journey.follow(organiser, organiser.locator("main a[href='/events/new/']"), "new-event")
    organiser.locator("select[name=kind]").select_option("conference")
    organiser.locator("input[name=title]").fill(TITLE)
    organiser.locator("input[name=summary]").fill("Two days of cobots, machine vision and service.")
    organiser.locator("textarea[name=description]").fill(
        "## Programme\n\nTalks in two tracks on the first day, a panel on the second."
    )
    organiser.locator("select[name=topics]").select_option(
        label=[TOPIC, "Industry 4.0 & automation"]
    )
    organiser.locator("select[name=timezone]").select_option("Europe/Vienna")
    organiser.locator("input[name=starts_at]").fill(local(first_day, 9))
    organiser.locator("input[name=ends_at]").fill(local(second_day, 17))
    organiser.locator("input[name=venue_name]").fill("DanuMech Innovation Hub")
    organiser.locator("textarea[name=venue_address]").fill("Hafenstraße 12, 4020 Linz, Austria")
    organiser.locator("input[name=capacity]").fill("150")
    journey.follow(organiser, organiser.locator("main form button[type=submit]"), "draft-saved")
    slug = re.search(r"/events/([\w-]+)/manage/$", organiser.url).group(1)

    # Parallel talks on day one, a panel on day two, and the panel's line-up.
    add_session(journey, organiser, slug, kind="talk", title="Cobots on the shop floor",
                day=first_day, hours=(10, 11), track="Track A", room="Hall 1")  # fmt: skip
    add_session(journey, organiser, slug, kind="talk", title="Machine vision for quality control",
                day=first_day, hours=(10, 11), track="Track B", room="Hall 2")  # fmt: skip
    add_session(journey, organiser, slug, kind="panel", title=PANEL,
                day=second_day, hours=(14, 15), track="Main stage", room="Hall 1")  # fmt: skip
    journey.follow(
        organiser, organiser.locator(f"main nav a[href='/events/{slug}/speakers/']"), "speakers"
    )
    for name, company in (
        ("Dr. Miriam Hasler", "Alpine Robotics"),
        ("Tomás Ferreira", "Lusomatic"),
    ):
        organiser.locator("select[name=role]").select_option("panellist")
        organiser.locator("select[name=session]").select_option(label=f"{TITLE}: {PANEL}")
        organiser.locator("input[name=guest_name]").fill(name)
        organiser.locator("input[name=guest_organisation]").fill(company)
        journey.follow(
            organiser, organiser.locator("main form.form button[type=submit]"), "panellist"
        )
        expect(organiser.locator("main table")).to_contain_text(name)
    journey.follow(
        organiser, organiser.locator(f"main nav a[href='/events/{slug}/manage/']"), "dashboard"
    )
    publish = organiser.locator(f"main form[action='/events/{slug}/publish/'] button")
    journey.follow(organiser, publish, "published")
    journey.follow(
        organiser, organiser.locator(f"main nav a[href='/events/{slug}/']"), "event-page"
    )
    expect(organiser.locator("main ol.sessions > li")).to_have_count(3)
    timetable = organiser.locator(f"main a[href='/events/{slug}/timetable/']")
    journey.follow(organiser, timetable, "timetable")
    day_one = organiser.locator("section.timetable-day").first
    expect(day_one.locator("thead th")).to_contain_text(["Track A", "Track B"])
    parallel = day_one.locator("tbody tr").filter(has_text="Cobots on the shop floor")
    expect(parallel).to_contain_text("Machine vision for quality control")  # same hour
    journey.follow(organiser, organiser.locator(f"main a[href='/events/{slug}/']"), "event-again")

    # An invitation campaign: members of the cluster interested in robotics.
    campaigns = organiser.locator(f"main nav a[href='/events/{slug}/campaigns/']")
    journey.follow(organiser, organiser.locator(f"main a[href='/events/{slug}/manage/']"), "back")
    journey.follow(organiser, campaigns, "campaigns")
    new = organiser.locator(f"main a[href='/events/{slug}/campaigns/new/']")
    journey.follow(organiser, new, "new-campaign")
    for cluster in organiser.locator("input[name=clusters]").all():  # the ones they run
        cluster.check()
    organiser.locator("select[name=topics]").select_option(label=TOPIC)
    organiser.locator("textarea[name=message]").fill("Two days in Linz — we would love you there.")
    journey.follow(organiser, organiser.locator("main form button[type=submit]"), "counted")
    invited = int(organiser.locator("main #h-send + p.stat strong").inner_text())
    assert invited >= 3
    send = organiser.get_by_role("button", name=says(organiser, "Send the invitations"))
    journey.follow(organiser, send, "campaign-sent")
    mails = wait_for_mail(
        site.mailbox, lambda m: TITLE in str(m["Subject"]), count=invited, timeout=60
    )
    assert len({str(m["To"]) for m in mails}) == invited  # one each

    # Three of the invited say yes from the link in their mail.
    guest = journey.page("invited", **PHONE)
    attendees = []
    for mail in mails[:3]:
        rsvp = re.search(r"https?://\S+/events/rsvp/\S+/", text_of(mail)).group(0)
        assert rsvp.startswith(site.url + "/"), rsvp
        journey.visit(guest, rsvp, "rsvp")
        journey.follow(guest, guest.locator("main form:has(input[value=yes]) button"), "said-yes")
        expect(guest.locator(".messages")).to_contain_text(TITLE)
        attendees.append(re.search(r"[\w.+-]+@[\w.-]+", str(mail["To"])).group(0))

    # The day comes: check-in on the organiser's phone, keyboard only.
    phone = journey.page("organiser-phone", locale="en-GB", **PHONE)
    journey.sign_in(phone, email=site.data["organiser"], password=site.data["password"])
    journey.visit(phone, f"/events/{slug}/checkin/", "check-in")
    expect(phone.locator("#checkin-counts")).to_contain_text("0 / 3")
    for number, email in enumerate(attendees, 1):
        search = phone.locator("#checkin-q")
        if not is_focused(search):  # the field has autofocus; Tab to it otherwise
            tab_to(phone, search)
        phone.keyboard.press("Control+A")
        phone.keyboard.type(email)
        journey.press(phone, "Enter", f"found-{number}")
        button = phone.locator("form.checkin-toggle button")
        expect(button).to_have_count(1)
        tab_to(phone, button)
        phone.keyboard.press("Space")
        expect(button).to_have_text(says(phone, "✓ Here — undo"))
        expect(phone.locator("[data-count=attended]")).to_have_text(str(number))
        journey.check(phone, f"checked-in-{number}")

    # The cluster's gender-balance dashboard, from the organiser's profile.
    journey.follow(organiser, organiser.locator("header a[href='/me/']"), "my-profile")
    manage = organiser.locator("main a[href='/clusters/mechatronics/manage/']")
    journey.follow(organiser, manage, "cluster-manage")
    dashboard = organiser.locator("main a[href='/events/balance/mechatronics/']")
    journey.follow(organiser, dashboard, "balance-dashboard")
    expect(organiser.locator("main #h-trend")).to_be_visible()
    expect(organiser.locator("main figure.chart-figure svg").first).to_be_visible()
