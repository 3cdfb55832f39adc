"""Journey 3: a mentee and a mentor apply to the textiles cluster's open circles programme;
the organiser approves them, runs the matching as a preview, reads why each pair was
proposed and publishes; both accept, and the match page leads to their circle's meetings,
the next of which is on the programme's first day.
"""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from events.models import Registration
from matchmaking.models import Match
from tests.browser.journey import label_in, says

pytestmark = pytest.mark.browser

# What both write in their applications: the same topics, languages and way of meeting.
TOPICS = ["digital-skills", "big-data", "marketing-sales", "intellectual-property"]
LANGUAGES = ["en", "it"]


def choose(page, container: str, values: list[int]) -> None:
    """Tick exactly the checkboxes of `container` with these values (primary keys)."""
    for box in page.locator(f"{container} input[type=checkbox]").all():
        box.set_checked(box.get_attribute("value") in {str(v) for v in values})


def apply(journey, page, site_data: dict, role: str) -> None:
    programme = site_data["programme"]
    journey.follow(page, page.locator("header a[href='/mentoring/']"), "programmes")
    journey.follow(page, page.get_by_role("link", name=programme["title"]), "programme")
    form = page.locator(f"main a[href='/mentoring/{programme['slug']}/apply/{role}/']")
    journey.follow(page, form, "application")
    choose(page, "#id_topics", [site_data["topic_ids"][slug] for slug in TOPICS])
    choose(page, "#id_languages", [site_data["language_ids"][code] for code in LANGUAGES])
    page.locator("input[name=meeting_format][value=online]").check()
    page.locator("select[name=country]").select_option("IT")
    page.locator("input[name=region]").fill("Biella")
    page.locator("input[name=availability]").fill("one hour every four weeks, mornings")
    if role == "mentee":
        page.locator("select[name=seniority]").select_option("1")  # early career
        page.locator("textarea[name=goals]").fill(
            "Sell our recycled wool fabrics online: data on what customers look for."
        )
    else:
        page.locator("select[name=seniority]").select_option("3")  # senior
    journey.follow(page, page.locator("main form button[type=submit]"), "applied")
    assert page.url.endswith("/mentoring/mine/")
    expect(page.locator("main")).to_contain_text(programme["title"])


def open_match(journey, page, partner: str) -> None:
    journey.follow(page, page.locator("header a[href='/mentoring/']"), "programmes")
    journey.follow(page, page.locator("main nav a[href='/mentoring/mine/']"), "my-mentoring")
    journey.follow(page, page.get_by_role("link", name=partner, exact=True), "match")
    assert re.search(r"/mentoring/matches/\d+/$", page.url)


def test_mentoring(journey, site):
    programme, password = site.data["programme"], site.data["password"]
    mentee_data, mentor_data = site.data["mentee"], site.data["mentor"]
    slug = programme["slug"]
    mentee = journey.page("mentee", locale="en-GB")
    mentor = journey.page("mentor", locale="en-GB")
    organiser = journey.page("organiser", locale="en-GB")

    journey.sign_in(mentee, email=mentee_data["email"], password=password)
    apply(journey, mentee, site.data, "mentee")
    journey.sign_in(mentor, email=mentor_data["email"], password=password)
    apply(journey, mentor, site.data, "mentor")

    # The organiser approves the two new applications…
    journey.sign_in(organiser, email=site.data["textiles_organiser"], password=password)
    # No page links to the organisers' programme list yet: typed, as from a bookmark.
    journey.visit(organiser, "/mentoring/manage/", "programmes-i-manage")
    manage = f"/mentoring/manage/{slug}/"
    journey.follow(organiser, organiser.locator(f"main a[href='{manage}']"), "overview")
    applications = organiser.locator(f"main nav a[href='{manage}applications/']")
    journey.follow(organiser, applications, "applications")
    organiser.locator("#status-filter").select_option("submitted")
    show = organiser.locator("main form[method=get] button[type=submit]")
    journey.follow(organiser, show, "submitted-applications")
    for person in (mentee_data, mentor_data):
        approve = f"{says(organiser, 'Approve')} {person['name']}"
        journey.follow(organiser, organiser.get_by_role("button", name=approve), "approved")
        expect(organiser.locator(".messages")).to_contain_text(says(organiser, "Approved."))

    # …previews the matching, reads why the mentee was placed where, and publishes.
    journey.follow(
        organiser, organiser.locator(f"main nav a[href='{manage}matching/']"), "matching"
    )
    run = organiser.locator(f"main form[action='{manage}matching/run/'] button")
    journey.follow(organiser, run, "matching-preview")
    row = organiser.locator("main table tbody tr").filter(has_text=mentee_data["name"])
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_contain_text(mentor_data["name"])
    reasons = row.locator("td").nth(3).locator("li")  # the "Why" column
    expect(reasons.first).to_be_visible()
    assert any(mentee_data["name"] in text for text in reasons.all_inner_texts())
    publish = organiser.locator(f"main form[action='{manage}matching/publish/'] button")
    proposals = int(re.search(r"\d+", publish.inner_text()).group(0))
    journey.follow(organiser, publish, "published")
    published = says(
        organiser,
        "%d proposal published: both people are told and asked to answer.",
        "%d proposals published: both people are told and asked to answer.",
        proposals,
    )
    expect(organiser.locator(".messages")).to_contain_text(published % proposals)

    # Both accept; the match page then leads to the circle's meetings.
    for page, partner in ((mentee, mentor_data["name"]), (mentor, mentee_data["name"])):
        open_match(journey, page, partner)
        expect(page.locator("#h-why + ul li").first).to_be_visible()
        journey.follow(page, page.locator("button[name=accept][value='1']"), "accepted")
    both = says(mentor, "You both accepted: the mentoring begins.")
    expect(mentor.locator(".messages")).to_contain_text(both)
    expect(mentor.locator("p.badge[role=status]")).to_contain_text(
        label_in(mentor, Match.Status.ACCEPTED)
    )
    # Once both said yes, each sees how to reach the other.
    expect(mentor.locator("main a[href^='mailto:']")).to_have_text(mentee_data["email"])

    mentee.reload()
    journey.check(mentee, "match-accepted")
    # The match page itself shows their next meeting: the circle's first, on the first day.
    partner_card = mentee.locator("section[aria-labelledby=h-partner]")
    expect(partner_card).to_contain_text(says(mentee, "Next meeting:"))
    next_at = partner_card.locator("time").first.get_attribute("datetime")
    assert date.fromisoformat(next_at[:10]) == date.fromisoformat(programme["starts_on"])
    meetings = mentee.locator("section[aria-labelledby=h-partner] a[href^='/events/']")
    journey.follow(mentee, meetings, "circle-meetings")
    first = mentee.locator("ol.sessions > li").first
    expect(first).to_contain_text("Meeting 1")
    starts = date.fromisoformat(first.locator("time").get_attribute("datetime")[:10])
    assert starts == date.fromisoformat(programme["starts_on"])  # the programme's first day
    expect(mentee.locator("main .status")).to_contain_text(
        label_in(mentee, Registration.Status.CONFIRMED)
    )
