"""Journey 4: a member creates an API token from the link on their own profile page and reads
their registrations with it over HTTP — the same events the "My events" page shows them.
Without the token the API answers 401; the API's documentation page passes axe too.
"""

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.browser.journey import says

pytestmark = pytest.mark.browser

MEMBER = "jan.devries@demo.example"
UPCOMING_SEATS = {"confirmed", "waitlisted", "pending"}  # what "My events" lists as ahead


def get_json(url: str, token: str | None = None) -> dict:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (our own server)
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return json.load(response)


def registrations(site_url: str, token: str) -> list[dict]:
    """Every page of /api/v1/me/registrations/."""
    rows, url = [], f"{site_url}/api/v1/me/registrations/"
    while url:
        page = get_json(url, token)
        rows += page["results"]
        url = page["next"]
    return rows


def test_api_token(journey, site):
    page = journey.page("member", locale="en-GB")
    journey.sign_in(page, email=MEMBER, password=site.data["password"])

    # The member's own profile links to the token page.
    journey.follow(page, page.locator("header a[href='/me/']"), "my-profile")
    journey.follow(page, page.locator("main a[href='/me/api-token/']"), "api-token")
    create = page.locator("main button[name=action][value=create]")
    journey.follow(page, create, "create-token")
    if "/accounts/reauthenticate/" in page.url:
        # A key outlives the session that made it: the password once more, then allauth
        # carries on with the request that asked for the key.
        page.locator("input[name=password]").fill(site.data["password"])
        journey.follow(page, page.locator("main form button[type=submit]"), "token-created")
    key = page.locator("#api-key").input_value()
    assert len(key) >= 20
    expect(page.locator("main [role=status]")).to_contain_text(
        says(page, "Your new key — copy it now, it is not shown again:")
    )

    # Without the token the API refuses; with it, it answers as the member.
    with pytest.raises(urllib.error.HTTPError) as refused:
        get_json(f"{site.url}/api/v1/me/registrations/")
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Token")
    assert get_json(f"{site.url}/api/v1/me/", key)["display_name"] == "Jan de Vries"
    rows = registrations(site.url, key)
    assert rows, "the demo member has registrations"

    # The same events as on "My events" (ahead: confirmed, waitlisted, pending).
    now = datetime.now(UTC)
    ahead = {
        row["event"]["title"]
        for row in rows
        if row["session"] is None
        and row["status"] in UPCOMING_SEATS
        and datetime.fromisoformat(row["event"]["ends_at"]) >= now
    }
    journey.follow(page, page.locator("header a[href='/events/mine/']"), "my-events")
    shown = page.locator("#h-registered ~ ul h3, #h-waiting ~ ul h3").all_inner_texts()
    assert ahead and set(shown) == ahead

    # The API's documentation, linked from the token page.
    journey.follow(page, page.locator("header a[href='/me/']"), "back-to-profile")
    journey.follow(page, page.locator("main a[href='/me/api-token/']"), "api-token-again")
    journey.follow(page, page.locator("main a[href='/api/docs/']"), "api-docs")
    expect(page.locator("body")).to_contain_text("/api/v1/me/registrations/")
