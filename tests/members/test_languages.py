"""The language a person sees: profile, else browser, else site default; the switcher; and
mail in the recipient's language whoever caused it."""

import icalendar
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from events import services
from members.languages import languages_of_addresses
from members.models import Profile
from tests.events.factories import EventFactory
from tests.factories import ProfileFactory
from tests.members.test_adapters import sign_up

pytestmark = pytest.mark.django_db


def translated(language: str, text: str) -> str:
    with translation.override(language):
        result = gettext(text)
    assert result != text, f"{text!r} has no {language} translation (is the .mo compiled?)"
    return result


def language_of_page(response) -> str:
    return response.headers["Content-Language"]


@pytest.mark.parametrize("language", ["de", "fr", "es", "it", "ro"])
def test_the_browser_language_chooses_the_pages_language(language):
    response = Client(headers={"accept-language": f"{language}-XX,{language};q=0.9"}).get(
        "/events/"
    )
    assert language_of_page(response) == language
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    assert translated(language, "Events") in html


def test_an_unknown_browser_language_gets_the_site_default(settings):
    response = Client(headers={"accept-language": "nl,pt;q=0.8"}).get("/events/")
    assert language_of_page(response) == settings.LANGUAGE_CODE == "en"


def test_every_page_offers_every_language_in_one_click():
    html = Client().get("/events/").content.decode()
    for code, name in [("en", "English"), ("de", "Deutsch"), ("ro", "Română")]:
        assert f'name="language" value="{code}" lang="{code}"' in html
        assert f">{name}</button>" in html


def test_the_switcher_sets_a_visitors_language_and_returns_to_the_page():
    client = Client(headers={"accept-language": "de"})
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/events/"})
    assert response.status_code == 302 and response.headers["Location"] == "/events/"
    assert language_of_page(client.get("/events/")) == "fr"


def test_the_switcher_refuses_to_send_a_visitor_to_another_site():
    response = Client().post("/i18n/setlang/", {"language": "fr", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_a_members_choice_is_kept_on_their_profile_and_wins_over_the_browser(member):
    client = Client(headers={"accept-language": "de"})
    client.force_login(member.user)
    assert language_of_page(client.get("/events/")) == "de"
    client.post("/i18n/setlang/", {"language": "it", "next": "/events/"})
    member.refresh_from_db()
    assert member.preferred_language == "it"
    # Another device with another browser language: still Italian.
    elsewhere = Client(headers={"accept-language": "ro"})
    elsewhere.force_login(member.user)
    assert language_of_page(elsewhere.get("/events/")) == "it"


def test_an_unknown_language_changes_nothing(member):
    member.preferred_language = "es"
    member.save()
    client = Client()
    client.force_login(member.user)
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    member.refresh_from_db()
    assert member.preferred_language == "es"


def test_the_profile_form_sets_and_clears_the_language(member):
    client = Client()
    client.force_login(member.user)
    page = client.get("/me/edit/").content.decode()
    assert 'name="preferred_language"' in page
    data = {
        "display_name": member.display_name,
        "timezone": "Europe/Vienna",
        "preferred_language": "ro",
        "mentoring_stance": "neither",
        "visibility": "cluster",
    }
    assert client.post("/me/edit/", data).status_code == 302
    member.refresh_from_db()
    assert member.preferred_language == "ro"
    assert client.post("/me/edit/", {**data, "preferred_language": ""}).status_code == 302
    member.refresh_from_db()
    assert member.preferred_language == ""


def test_sign_up_takes_the_browsers_language_and_mails_the_confirmation_in_it(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client(headers={"accept-language": "ro-RO,ro;q=0.9,en;q=0.5"})
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, email="ioana.pop@example.org")
    profile = Profile.objects.get(user__email="ioana.pop@example.org")
    assert profile.preferred_language == "ro"
    [message] = mailoutbox
    # allauth's own Romanian catalogue words the confirmation mail.
    with translation.override("ro"):
        from allauth.account.adapter import get_adapter

        subject = get_adapter().format_email_subject(gettext("Please Confirm Your Email Address"))
    assert message.subject == subject


def test_mail_goes_out_in_the_recipients_language_not_the_language_of_who_caused_it(
    cluster, organisation, django_capture_on_commit_callbacks, mailoutbox
):
    event = EventFactory(
        clusters=[cluster], capacity=1, online_url="https://meet.example/x", online_platform=""
    )
    german = ProfileFactory(organisation=organisation, preferred_language="de")
    french = ProfileFactory(organisation=organisation, preferred_language="fr")
    with django_capture_on_commit_callbacks(execute=True):
        seat = services.event_register(event=event, user=german.user)
        services.event_register(event=event, user=french.user)  # waitlisted
    mailoutbox.clear()
    # The German member cancels from a German page; the French one gets the seat.
    with translation.override("de"), django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=seat, by=german.user)
    by_address = {m.to[0]: m for m in mailoutbox}
    # French keeps its no-break space before the colon in the subject.
    assert translated("fr", "A seat is yours:").endswith("\u00a0:")
    assert translated("fr", "A seat is yours:") in by_address[french.user.email].subject
    assert translated("de", "Registration cancelled:") in by_address[german.user.email].subject
    # The calendar entry in the French message is worded in French too.
    calendar = next(
        content
        for content, kind in by_address[french.user.email].alternatives
        if kind.startswith("text/calendar")
    )
    location = icalendar.Calendar.from_ical(calendar).walk("VEVENT")[0]["LOCATION"]
    assert location.startswith(translated("fr", "Online"))


def test_addresses_without_a_member_or_a_choice_get_the_site_default(member, settings):
    member.preferred_language = "es"
    member.save()
    found = languages_of_addresses([member.user.email.upper(), "nobody@example.org"])
    assert found == {
        member.user.email.upper(): "es",
        "nobody@example.org": settings.LANGUAGE_CODE,
    }


def test_a_stored_address_with_capitals_is_found(member):
    member.user.email = "Mixed.Case@Example.org"
    member.user.save()
    member.preferred_language = "it"
    member.save()
    assert languages_of_addresses(["mixed.case@example.org"]) == {"mixed.case@example.org": "it"}


def test_sign_up_from_a_browser_asking_for_no_site_language_keeps_no_choice(
    django_capture_on_commit_callbacks,
):
    # The site's default applies, and keeps applying if an operator changes it.
    client = Client(headers={"accept-language": "nl-NL,pt;q=0.5"})
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, email="joost@example.org")
    assert Profile.objects.get(user__email="joost@example.org").preferred_language == ""


def test_the_switchers_cookie_wins_over_the_browser_at_sign_up(django_capture_on_commit_callbacks):
    client = Client(headers={"accept-language": "de"})
    client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, email="lucia@example.org")
    assert Profile.objects.get(user__email="lucia@example.org").preferred_language == "es"


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "it", "ro"])
def test_date_fields_carry_iso_dates_a_browser_date_field_accepts(language):
    import datetime

    from matchmaking.forms import MeetingLogForm

    with translation.override(language):
        field = str(MeetingLogForm(initial={"met_on": datetime.date(2026, 12, 6)})["met_on"])
        typed = MeetingLogForm(data={"met_on": "2026-12-06", "notes": ""})
        assert typed.is_valid(), typed.errors
    assert 'type="date"' in field and 'value="2026-12-06"' in field


def test_a_refused_request_is_worded_in_its_own_language_not_the_last_ones():
    Client(headers={"accept-language": "de"}).get("/events/")  # leaves German in the thread
    response = Client(headers={"accept-language": "fr"}).get("/events/?q=a%00b")
    assert response.status_code == 400
    assert response.headers["Content-Language"] == "fr"
    assert '<html lang="fr">' in response.content.decode()


def test_the_personal_calendar_feed_speaks_its_owners_language(cluster, member, settings):
    from events.models import CalendarFeed

    event = EventFactory(
        clusters=[cluster], online_url="https://meet.example/x", online_platform=""
    )
    services.event_register(event=event, user=member.user)
    member.preferred_language = "fr"
    member.save()
    feed = CalendarFeed.objects.create(user=member.user)
    # A calendar app asks in no language (or another one).
    url = reverse("events:feed_personal", kwargs={"token": feed.token})
    body = Client(headers={"accept-language": "de"}).get(url)
    calendar = icalendar.Calendar.from_ical(body.content)
    name = translated("fr", "My events · %(site)s") % {"site": settings.SITE_NAME}
    assert calendar["X-WR-CALNAME"] == name
    assert calendar.walk("VEVENT")[0]["LOCATION"].startswith(translated("fr", "Online"))


def test_a_password_reset_asked_from_an_english_page_reaches_a_member_in_their_language(
    member, mailoutbox, django_capture_on_commit_callbacks
):
    from allauth.account.adapter import get_adapter

    member.preferred_language = "de"
    member.save()
    client = Client(headers={"accept-language": "en"})
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/password/reset/", {"email": member.user.email})
    [message] = mailoutbox
    with translation.override("de"):
        subject = get_adapter().format_email_subject(gettext("Password Reset Email"))
    assert subject != "Password Reset Email"
    assert message.subject == subject
