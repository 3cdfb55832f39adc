"""The API against its own OpenAPI schema: the challenge, nullable fields, the rate, the session.

Responses are checked with schemathesis's validator against the schema the site serves;
.ci/schemathesis.sh runs schemathesis itself against a live server.
"""

import re
from datetime import timedelta

import pytest
import requests
import schemathesis
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from events.models import Event, Registration, Session, StageRole
from members.api_schema import NO_CONTROL_CHARACTERS
from members.api_tokens import api_token_create
from members.validators import has_control_characters
from tests.factories import PASSWORD, ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw_schema(client) -> dict:
    response = client.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def event(cluster) -> Event:
    start = timezone.now().replace(microsecond=0) + timedelta(days=7)
    event = Event.objects.create(
        title="Open day",
        slug="open-day",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        status=Event.Status.PUBLISHED,
        audience=Event.Audience.PUBLIC,
        timezone="Europe/Vienna",
    )
    event.clusters.add(cluster)
    return event


def operations(raw_schema: dict):
    """(path template, method, its definition) for every operation the schema lists."""
    for template, item in raw_schema["paths"].items():
        for method, operation in item.items():
            yield template, method.upper(), operation


def concrete(template: str, *, event: Event, member) -> str:
    pk = member.pk if template.startswith("/api/v1/members/") else event.pk
    return template.replace("{id}", str(pk)).replace("{slug}", event.slug)


def send(client, method: str, path: str, **extra):
    if method == "POST":
        return client.post(path, {}, format="json", **extra)
    return client.generic(method, path, **extra)


def conforms(raw_schema: dict, template: str, method: str, response) -> None:
    """The status is documented for the operation, and the body is what the schema says."""
    documented = raw_schema["paths"][template][method.lower()]["responses"]
    assert str(response.status_code) in documented, (method, template, response.status_code)
    received = schemathesis.Response(
        status_code=response.status_code,
        headers={name: [value] for name, value in response.headers.items()},
        content=response.content,
        request=requests.Request(method, f"http://testserver{template}").prepare(),
        elapsed=0.0,
        verify=True,
    )
    schemathesis.openapi.from_dict(raw_schema)[template][method].validate_response(received)


# --- 401 with a challenge -------------------------------------------------------------------


def test_every_operation_answers_401_with_a_token_challenge_to_missing_or_wrong_credentials(
    raw_schema, event, member
):
    api_token_create(user=member.user)  # a real key exists; the wrong one is not it
    seen = 0
    for template, method, operation in operations(raw_schema):
        path = concrete(template, event=event, member=member)
        anonymous_welcome = {} in operation["security"]

        missing = send(APIClient(), method, path)
        if anonymous_welcome:
            assert missing.status_code < 400, (method, path, missing.status_code)
        else:
            assert missing.status_code == 401, (method, path)
            assert missing["WWW-Authenticate"] == "Token"
            conforms(raw_schema, template, method, missing)

        wrong = APIClient()
        wrong.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
        refused = send(wrong, method, path)
        assert refused.status_code == 401, (method, path)
        assert refused["WWW-Authenticate"] == "Token"
        assert refused.json() == {"detail": "Invalid token."}
        conforms(raw_schema, template, method, refused)
        seen += 1
    assert seen == 16  # every operation of /api/v1/: a new one is walked the day it exists


def test_the_schema_documents_the_errors_each_operation_can_give(raw_schema):
    for template, method, operation in operations(raw_schema):
        codes = set(operation["responses"])
        assert {"400", "401", "429"} <= codes, (method, template)
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" or p["name"] == "page" for p in parameters):
            assert "404" in codes, (method, template)
        if method == "POST":
            assert {"403", "409", "415"} <= codes, (method, template)
    responses = raw_schema["components"]["responses"]
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["TooManyRequests"]["headers"]["Retry-After"]["required"] is True


def test_the_text_parameter_pattern_refuses_exactly_what_the_site_refuses():
    pattern = re.compile(NO_CONTROL_CHARACTERS)
    for code in [*range(0x00, 0xA0), 0x2028, 0xFFFD]:
        char = chr(code)
        assert (pattern.match(f"a{char}b") is None) == has_control_characters(char), hex(code)


# --- What the schema says comes back -----------------------------------------------------------


def test_fields_that_can_be_null_come_back_null_and_the_schema_allows_it(
    raw_schema, event, organiser
):
    lone = ProfileFactory(display_name="Lone Freelancer", organisation=None)
    StageRole.objects.create(event=event, role="moderator", profile=lone)  # for the whole event
    Session.objects.create(
        event=event, title="Keynote", starts_at=event.starts_at, ends_at=event.ends_at
    )
    Registration.objects.create(event=event, user=lone.user, status=Registration.Status.CONFIRMED)
    client = APIClient()
    client.force_authenticate(lone.user)

    checks = {
        ("/api/v1/events/", "GET"): lambda body: body["results"][0]["language"],
        ("/api/v1/events/{id}/", "GET"): lambda body: body["stage_roles"][0]["session"],
        ("/api/v1/me/registrations/", "GET"): lambda body: body["results"][0]["session"],
        ("/api/v1/me/", "GET"): lambda body: body["organisation"],
    }
    for (template, method), null_field in checks.items():
        response = client.get(concrete(template, event=event, member=lone))
        assert response.status_code == 200, template
        assert null_field(response.json()) is None, template  # the case is really exercised
        conforms(raw_schema, template, method, response)


def test_a_blank_query_parameter_means_any_and_a_bad_boolean_is_a_400(raw_schema, event):
    client = APIClient()
    [list_operation] = [
        op for t, m, op in operations(raw_schema) if (t, m) == ("/api/v1/events/", "GET")
    ]
    names = [p["name"] for p in list_operation["parameters"] if p["in"] == "query"]
    assert {"format", "online", "page", "topic"} <= set(names)
    blank = client.get("/api/v1/events/", dict.fromkeys(names, ""))
    assert [e["title"] for e in blank.json()["results"]] == ["Open day"]

    bad = client.get("/api/v1/events/", {"online": "yes"})
    assert bad.status_code == 400
    assert "online" in bad.json()
    conforms(raw_schema, "/api/v1/events/", "GET", bad)


def test_an_unknown_id_or_page_is_a_documented_json_404(raw_schema, event, member):
    client = APIClient()
    client.force_authenticate(member.user)
    for template, path in [
        ("/api/v1/events/{id}/", f"/api/v1/events/{event.pk + 1000}/"),
        ("/api/v1/members/{id}/", "/api/v1/members/999999/"),
        ("/api/v1/events/", "/api/v1/events/?page=7"),
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        conforms(raw_schema, template, "GET", response)


def test_an_api_address_that_matches_no_pattern_is_a_json_404_not_an_html_page(member):
    client = APIClient()
    client.force_authenticate(member.user)
    for path in ("/api/v1/members/abc/", "/api/v1/events/-1/register/", "/api/v1/nothing/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path
        assert response.json() == {"detail": "Not found."}
    assert Client().get("/no-such-page/")["Content-Type"].startswith("text/html")


# --- The rate ---------------------------------------------------------------------------------


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min", "anon": "2/min"},
    }


def test_a_token_over_its_rate_gets_429_with_retry_after_and_other_tokens_do_not(
    raw_schema, low_rates, member, colleague
):
    mine, theirs = APIClient(), APIClient()
    mine.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=member.user).key}")
    theirs.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=colleague.user).key}")

    assert [mine.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = mine.get("/api/v1/me/")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    conforms(raw_schema, "/api/v1/me/", "GET", throttled)
    assert mine.get("/api/v1/topics/").status_code == 429  # one budget for the whole API

    assert theirs.get("/api/v1/me/").status_code == 200


def test_anonymous_callers_and_wrong_tokens_share_a_budget_per_address(low_rates, event):
    anonymous = APIClient()
    assert [anonymous.get("/api/v1/events/").status_code for _ in range(2)] == [200, 200]
    assert anonymous.get("/api/v1/events/").status_code == 429

    elsewhere = APIClient(REMOTE_ADDR="192.0.2.7")
    elsewhere.credentials(HTTP_AUTHORIZATION="Token guessed-key")
    assert [elsewhere.get("/api/v1/me/").status_code for _ in range(2)] == [401, 401]
    guessing = elsewhere.get("/api/v1/me/")
    assert guessing.status_code == 429
    assert int(guessing["Retry-After"]) >= 1


# --- The browser's session ------------------------------------------------------------------------


def test_a_session_signed_in_on_the_site_uses_the_api_and_writes_need_its_csrf_token(
    raw_schema, event, member
):
    browser = Client(enforce_csrf_checks=True)
    browser.get(reverse("account_login"))
    signed_in = browser.post(
        reverse("account_login"),
        {
            "login": member.user.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )
    assert signed_in.status_code == 302
    assert browser.get("/api/v1/me/").json()["display_name"] == "Anna Keller"

    register = f"/api/v1/events/{event.pk}/register/"
    forged = browser.post(register, {}, content_type="application/json")
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    conforms(raw_schema, "/api/v1/events/{id}/register/", "POST", forged)
    assert not Registration.objects.exists()

    csrf = browser.cookies["csrftoken"].value
    done = browser.post(register, {}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert done.status_code == 201
    assert Registration.objects.get().user == member.user
