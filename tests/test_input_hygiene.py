"""Bad text never reaches a view as a 500: control characters are refused with a 400 at the
door (members.middleware.ControlCharacterMiddleware), titles and names keep to one line
(members.validators.validate_single_line), and legacy rows with line breaks still make
valid calendars.

PostgreSQL refuses NUL in text, SQLite stores it: run this file on PostgreSQL too
(DATABASE_URL=postgres://…), where a NUL that got through would answer 500.
"""

import json
from datetime import timedelta

import icalendar
import pytest
import vobject
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers

from events.models import Event
from members.middleware import ControlCharacterMiddleware
from members.models import Organisation, Profile
from members.validators import LINE_BREAK_MESSAGE as LAZY_LINE_BREAK_MESSAGE
from tests.events.factories import EventFactory
from tests.routes import all_routes, parameters, substitute

pytestmark = pytest.mark.django_db

REFUSED = "holds an invisible control character"
LINE_BREAK_MESSAGE = str(LAZY_LINE_BREAK_MESSAGE)


def assert_refused_as_page(response, where: str) -> None:
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert REFUSED in page
    assert where in page


def assert_refused_as_json(response, where: str) -> None:
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert REFUSED in detail or "nested too deeply" in detail
    assert where in detail


@pytest.fixture
def event(cluster) -> Event:
    return EventFactory(clusters=[cluster], audience=Event.Audience.PUBLIC, title="Cobots 101")


# --- query parameters -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/organisations/?q=%00",
        "/organisations/?q=Keller%00Antriebe",
        "/members/?q=%01",
        "/events/?q=%1b%5b31m",
        "/events/?topic=robotics&q=%7f%00",
        "/mentoring/?page=%08",
        "/clusters/?%00=1",
        "/me/?next=%0c",
        "/admin/members/organisation/?q=%00",
    ],
)
def test_a_control_character_in_a_page_s_query_is_refused_with_a_page(client_for, staff, url):
    assert_refused_as_page(client_for(staff).get(url), "of the address")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/organisations/?q=%00",
        "/api/v1/members/?q=%00",
        "/api/v1/events/?q=%00",
        "/api/v1/events/?kind=%1f",
        "/api/v1/clusters/?page=%00",
        "/api/v1/me/registrations/?%00",
    ],
)
def test_a_control_character_in_an_api_query_is_refused_with_json(client_for, member, url):
    assert_refused_as_json(client_for(member.user).get(url), "of the address")


def test_the_message_names_the_parameter(client_for, member):
    response = client_for(member.user).get("/api/v1/organisations/?page=1&q=Acme%00")

    assert response.json() == {
        "detail": "The parameter “q” of the address holds an invisible control character "
        "(such as a NUL byte), which this site does not accept. Remove it and try again."
    }


def test_an_anonymous_visitor_gets_the_same_answer(client):
    assert_refused_as_page(client.get("/events/?q=%00"), "“q”")
    assert_refused_as_json(client.get("/api/v1/events/?q=%00"), "“q”")


@pytest.mark.parametrize(
    "url",
    [
        "/organisations/?q=tab%09separated",  # pasted from a spreadsheet
        "/organisations/?q=%FF%FE",  # not UTF-8: Django reads it as two replacement signs
        "/organisations/?q=Zo%C3%AB+%E6%97%A5%E6%9C%AC",
        "/api/v1/organisations/?q=%ED%A0%80",  # an encoded lone surrogate: not UTF-8 either
    ],
)
def test_ordinary_and_merely_odd_queries_still_get_their_page(client_for, member, url):
    assert client_for(member.user).get(url).status_code == 200


# --- the path -------------------------------------------------------------------------


def test_a_nul_in_a_calendar_feed_token_is_refused_not_looked_up(client_for, member):
    """This path reached the database: PostgreSQL answered with an error, the site with 500."""
    assert_refused_as_page(client_for(member.user).get("/events/feeds/me/ab%00c.ics"), "address")


def test_every_route_that_takes_text_in_its_path_refuses_a_control_character(client_for, staff):
    """Filled with a NUL in each `<str:…>`/`<path:…>` part; other parts need no real value:
    the door answers before any view runs."""
    client = client_for(staff)
    checked = []
    for route in all_routes():
        names = parameters(route)
        texts = [n for n in names if f"<str:{n}>" in route or f"<path:{n}>" in route]
        if not texts:
            continue
        values = {n: ("ab%00c" if n in texts else "1") for n in names}
        url = "/" + substitute(route, values)
        response = client.get(url)
        assert response.status_code == 400, url
        checked.append(url)
    assert len(checked) >= 4  # unsubscribe, rsvp, check-in, personal feed, the admin's …


# --- form fields ----------------------------------------------------------------------


def profile_form(profile: Profile, **overrides) -> dict:
    return {
        "display_name": profile.display_name,
        "job_title": profile.job_title,
        "country": "",
        "timezone": profile.timezone,
        "bio": profile.bio,
        "mentoring_stance": profile.mentoring_stance,
        "visibility": profile.visibility,
        **overrides,
    }


def test_a_nul_in_a_posted_form_field_is_refused_and_nothing_is_saved(client_for, member):
    response = client_for(member.user).post(
        "/me/edit/", profile_form(member, display_name="Anna\x00Keller", bio="Hello")
    )

    assert_refused_as_page(response, "The form field “display_name”")
    member.refresh_from_db()
    assert member.display_name == "Anna Keller"
    assert member.bio == ""


def test_a_control_character_in_a_multipart_form_is_refused_but_file_contents_are_not(
    client_for, member, png
):
    """A PNG is full of NUL bytes; it is the text fields that may not hold them."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(member.user)
    refused = client.post(
        "/me/edit/",
        profile_form(member, bio="Bell\x07", photo=SimpleUploadedFile("me.png", png)),
    )
    assert_refused_as_page(refused, "“bio”")

    accepted = client.post(
        "/me/edit/",
        profile_form(member, bio="Line one\r\n\tLine two", photo=SimpleUploadedFile("me.png", png)),
    )
    assert accepted.status_code == 302
    member.refresh_from_db()
    assert member.bio == "Line one\r\n\tLine two"
    assert member.photo


def test_a_sign_in_with_a_nul_in_the_address_is_refused(client):
    response = client.post(
        "/accounts/login/", {"login": "anna\x00@example.org", "password": "whatever"}
    )

    assert_refused_as_page(response, "“login”")


def test_a_form_field_name_with_a_control_character_is_refused(client_for, member):
    response = client_for(member.user).post("/me/edit/", {"display\x00name": "Anna"})

    assert_refused_as_page(response, "The form field “display\ufffdname”")


# --- JSON bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"session": "\\u0000"}', "“session”"),
        ('{"session": "1\\u001b"}', "“session”"),
        ('{"session": "\\ud800"}', "“session”"),  # half a surrogate pair: not UTF-8
        ('{"session": null, "notes": [{"text": "ok"}, {"text": "bell\\u0007"}]}', "notes[1].text"),
        ('{"sess\\u0000ion": 1}', "A JSON field name"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_json_body_with_a_control_character_is_refused(client_for, member, event, body, where):
    response = client_for(member.user).post(
        f"/api/v1/events/{event.pk}/register/", body, content_type="application/json"
    )

    assert_refused_as_json(response, where)
    assert not event.registrations.exists()


def test_a_json_body_with_line_breaks_tabs_and_unicode_goes_through():
    """Multi-line text keeps its line breaks; only the other control characters are refused."""
    seen = []
    door = ControlCharacterMiddleware(lambda request: seen.append(request.body) or HttpResponse())
    body = json.dumps({"note": "Zoë\r\n\t日本", "tags": ["a\tb"]})

    response = door(RequestFactory().post("/api/v1/x/", body, content_type="application/json"))

    assert response.status_code == 200
    assert seen == [body.encode()]  # the view still reads the whole body


def test_broken_json_is_left_to_the_api_to_answer(client_for, member, event):
    response = client_for(member.user).post(
        f"/api/v1/events/{event.pk}/register/", '{"session": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# --- titles and names keep to one line --------------------------------------------------


@pytest.mark.parametrize("name", ["Anna\nKeller", "Anna\r\nKeller", "Anna\tKeller", "Anna\u2028K"])
def test_a_name_with_a_line_break_is_a_form_error(client_for, member, name):
    page = client_for(member.user).post(
        "/me/edit/", profile_form(member, display_name=name, job_title="CTO")
    )

    assert page.status_code == 400
    assert LINE_BREAK_MESSAGE in page.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Anna Keller"
    assert member.job_title == ""


def test_the_admin_refuses_an_organisation_name_with_a_line_break(client_for, staff):
    client = client_for(staff)
    page = client.get("/admin/members/organisation/add/")
    data = {"slug": "acme", "kind": Organisation.Kind.SME, "country": "AT"}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(n): management[n].value() for n in management.fields})

    refused = client.post("/admin/members/organisation/add/", {**data, "name": "Acme\r\nGmbH"})
    assert refused.status_code == 200
    assert LINE_BREAK_MESSAGE in refused.content.decode()
    assert not Organisation.objects.filter(slug="acme").exists()

    accepted = client.post("/admin/members/organisation/add/", {**data, "name": "Acme GmbH"})
    assert accepted.status_code == 302
    assert Organisation.objects.get(slug="acme").name == "Acme GmbH"


def test_an_api_serializer_of_the_models_refuses_a_title_with_a_line_break(event):
    """Any serializer built on the models (ModelSerializer) carries the fields' validators."""

    class EventWrite(serializers.ModelSerializer):
        class Meta:
            model = Event
            fields = ["title", "summary"]

    refused = EventWrite(event, data={"title": "Cobots\r\nBEGIN:VEVENT"}, partial=True)
    assert not refused.is_valid()
    assert refused.errors == {"title": [LINE_BREAK_MESSAGE]}
    assert EventWrite(event, data={"title": "Cobots 102"}, partial=True).is_valid()


def test_the_event_services_and_the_model_agree_on_the_message(event):
    from django.core.exceptions import ValidationError

    from events.authoring import LINE_BREAK_MESSAGE as AUTHORING_MESSAGE

    event.title = "Two\nlines"
    with pytest.raises(ValidationError) as error:
        event.full_clean()
    assert error.value.message_dict["title"] == [AUTHORING_MESSAGE]


# --- legacy rows ----------------------------------------------------------------------


def test_the_calendar_of_a_legacy_event_with_a_line_break_in_its_title_is_valid(
    client_for, member, cluster
):
    """Stored before titles were kept to one line; its calendar file still works."""
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    event = EventFactory(
        clusters=[cluster],
        audience=Event.Audience.PUBLIC,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    Event.objects.filter(pk=event.pk).update(
        title="Cobots\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Injected",
        venue_name="Hall\nB",
    )
    client = client_for(member.user)

    for url in (f"/events/{event.slug}/calendar.ics", f"/events/feeds/cluster/{cluster.slug}.ics"):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        [vevent] = icalendar.Calendar.from_ical(text).walk("VEVENT")
        summary = str(vevent["SUMMARY"])
        assert "\n" not in summary and "\r" not in summary
        assert summary.startswith("Cobots")
        assert len(list(vobject.readOne(text).vevent_list)) == 1
