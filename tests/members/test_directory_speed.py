"""The directory and the profile form are cheap (issue 18): a fixed, small number of queries
whatever the lists hold, and the option lists and the form kept rendered in the cache —
never stale (an edit, a renamed or new topic, another language shows at once) and never
one person's form for another."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Language, Sector, Topic
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def checked(page: str, name: str) -> set[str]:
    """The values of the ticked boxes (or chosen radio buttons) named `name`."""
    inputs = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
    return {re.search(r'value="([^"]*)"', tag)[1] for tag in inputs if " checked" in tag}


def edit_form(profile, **changes) -> dict:
    data = {
        "display_name": profile.display_name,
        "job_title": profile.job_title,
        "country": profile.country.code or "",
        "timezone": profile.timezone,
        "mentoring_stance": profile.mentoring_stance,
        "visibility": profile.visibility,
        "contact_policy": profile.contact_policy,
    }
    data.update(changes)
    return data


def form_part(page: str) -> str:
    """The profile form without its CSRF token (a new mask each time)."""
    form = page[
        page.index('enctype="multipart/form-data"') : page.index("</form>", page.index("enctype"))
    ]
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", form)


def count_queries(client, url: str) -> int:
    client.get(url)  # warm: sessions, content types, the caches
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_profile_form_takes_four_queries_however_long_its_lists(client_for, member):
    client = client_for(member.user)
    few = count_queries(client, "/me/edit/")
    for i in range(40):
        Topic.objects.create(name=f"Topic {i:02}", slug=f"topic-{i:02}")
        Sector.objects.create(name=f"Sector {i:02}", slug=f"sector-{i:02}")
    member.expertise.set(Topic.objects.all()[:30])
    member.languages.set(Language.objects.all()[:10])

    many = count_queries(client, "/me/edit/")

    # session, user, profile (as on every page), then the lists and the person's choices
    assert few == many == 4


def test_the_directory_query_count_is_fixed(settings, client_for, colleague, organisation):
    settings.PAGE_CACHE = False  # every request renders the page
    client = client_for(colleague.user)
    robotics = Topic.objects.get(slug="robotics")
    few = count_queries(client, "/members/")
    for i in range(30):
        ProfileFactory(display_name=f"Anna {i:02}", organisation=organisation,
                       visibility="members", expertise=[robotics])  # fmt: skip
    many = count_queries(client, "/members/?q=Anna&topic=robotics")

    # session, user, profile; the viewer's clusters, the lists, the count, the page, its topics
    assert few == 8
    assert many == few + 1  # the chosen topic looked up by its slug
    assert client.get("/members/?q=Anna&topic=robotics").content.decode().count("Anna ") >= 24


def test_the_cached_directory_takes_four_queries(settings, client_for, colleague):
    settings.PAGE_CACHE = True
    client = client_for(colleague.user)
    # session, user, profile (as on every page), then the directory's version
    assert count_queries(client, "/members/?topic=robotics") == 4


def test_a_saved_edit_shows_at_once_on_the_cached_form(client_for, member):
    client = client_for(member.user)
    robotics, funding = Topic.objects.get(slug="robotics"), Topic.objects.get(slug="funding")
    first = client.get("/me/edit/").content.decode()
    assert checked(first, "expertise") == set()
    assert form_part(client.get("/me/edit/").content.decode()) == form_part(first)

    response = client.post(
        "/me/edit/",
        edit_form(member, job_title="Welder", expertise=[robotics.pk, funding.pk],
                  visibility="members"),
    )  # fmt: skip
    assert response.status_code == 302

    page = client.get("/me/edit/").content.decode()
    assert checked(page, "expertise") == {str(robotics.pk), str(funding.pk)}
    assert checked(page, "visibility") == {"members"}
    assert 'value="Welder"' in page


def test_a_renamed_or_new_topic_shows_at_once_everywhere(client_for, member):
    client = client_for(member.user)
    client.get("/me/edit/")
    client.get("/members/")

    # Written as an admin or a script might: no signal, no service.
    Topic.objects.filter(slug="robotics").update(name="Cobots and robots")
    Topic.objects.create(name="Hydrogen valleys", slug="hydrogen-valleys")

    for url in ("/me/edit/", "/members/"):
        page = client.get(url).content.decode()
        assert "Cobots and robots" in page and "Hydrogen valleys" in page
        assert ">Robotics<" not in page


def test_a_cached_form_is_never_another_persons(client_for, member, colleague):
    robotics = Topic.objects.get(slug="robotics")
    member.expertise.set([robotics])
    # Same values otherwise, so only the key's owner tells the two forms apart.
    colleague.display_name, colleague.job_title = member.display_name, member.job_title
    colleague.save(update_fields=["display_name", "job_title"])

    mine = client_for(member.user).get("/me/edit/").content.decode()
    theirs = client_for(colleague.user).get("/me/edit/").content.decode()

    assert checked(mine, "expertise") == {str(robotics.pk)}
    assert checked(theirs, "expertise") == set()


def test_the_cached_form_follows_the_language(client_for, member):
    client = client_for(member.user)
    english = client.get("/me/edit/").content.decode()
    member.preferred_language = "de"
    member.save(update_fields=["preferred_language"])

    german = client.get("/me/edit/").content.decode()

    assert "Languages I speak" in english
    assert "Languages I speak" not in german
    assert ">Deutsch<" in german or ">Deutsch " in german or "Deutsch" in german


def test_the_directory_filter_keeps_what_was_chosen(client_for, colleague):
    page = client_for(colleague.user).get("/members/?country=AT&topic=robotics").content.decode()

    assert '<option value="AT" selected>' in page
    assert '<option value="robotics" selected>' in page
    assert '<option value="DE" selected>' not in page
    assert '<option value="" selected>Any sector</option>' in page


def test_topic_names_are_escaped_in_the_cached_lists(client_for, member, organiser):
    Topic.objects.create(name='<img src=x onerror="alert(1)">', slug="xss")

    for client, url in (
        (client_for(member.user), "/me/edit/"),
        (client_for(organiser), "/members/"),
    ):
        page = client.get(url).content.decode()
        assert "<img src=x" not in page
        assert "&lt;img src=x" in page


def cached_values_holding(text: str) -> list[str]:
    """The keys of this process's cache whose stored value contains `text`."""
    from django.core.cache import cache

    return [key for key, value in cache._cache.items() if text.encode() in value]


def test_erasing_the_account_deletes_the_cached_form_with_its_text(
    client_for, member, django_capture_on_commit_callbacks
):
    from members.services import account_erase

    member.job_title = "Chief Hydrogen Whisperer"
    member.save(update_fields=["job_title"])
    client = client_for(member.user)
    client.get("/me/edit/")
    client.get("/me/edit/?lang=de", HTTP_ACCEPT_LANGUAGE="de")
    assert cached_values_holding("Chief Hydrogen Whisperer")  # the cache holds their form

    with django_capture_on_commit_callbacks(execute=True):
        account_erase(user=member.user)

    assert cached_values_holding("Chief Hydrogen Whisperer") == []


def test_an_edit_replaces_the_cached_form_rather_than_adding_one(client_for, member):
    client = client_for(member.user)
    client.get("/me/edit/")
    client.post("/me/edit/", edit_form(member, job_title="Welder of hulls"))
    client.get("/me/edit/")
    client.post("/me/edit/", edit_form(member, job_title="Inspector of welds"))
    client.get("/me/edit/")

    assert cached_values_holding("Welder of hulls") == []  # the text they replaced
    assert cached_values_holding("Inspector of welds")
