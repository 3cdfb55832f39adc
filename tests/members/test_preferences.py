"""Which optional messages a member gets, and the unsubscribe links that land on that choice."""

import json

import pytest
from django.core import signing
from django.test import Client

from members import preferences, services
from members.models import MessagePreferences, User
from members.preferences import (
    preferences_update,
    unsubscribe_from_token,
    unsubscribe_token,
    unsubscribe_url,
    users_wanting,
    wants,
)
from tests.factories import ProfileFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def robotics():
    return TopicFactory(name="Robotics")


@pytest.fixture
def hydrogen():
    return TopicFactory(name="Hydrogen")


@pytest.fixture
def batteries():
    return TopicFactory(name="Batteries")


def prefs(user: User) -> MessagePreferences:
    return MessagePreferences.objects.get(user=user)


# --- wants() ---------------------------------------------------------------------------


def test_a_member_who_never_chose_gets_every_optional_message(member, robotics):
    user = member.user

    assert wants(user=user, kind="invitations")
    assert wants(user=user, kind="invitations", topics=[robotics])
    assert wants(user=user, kind="reminders")
    assert not MessagePreferences.objects.exists()  # asking writes nothing


def test_turning_a_kind_off_stops_only_that_kind(member):
    user = member.user

    preferences_update(user=user, invitations=False)

    assert not wants(user=user, kind="invitations")
    assert wants(user=user, kind="reminders")

    preferences_update(user=user, reminders=False, invitations=True)

    assert wants(user=user, kind="invitations")
    assert not wants(user=user, kind="reminders")


def test_transactional_mail_is_wanted_even_with_everything_off(member):
    preferences_update(user=member.user, invitations=False, reminders=False)

    assert wants(user=member.user, kind="transactional")


def test_an_unknown_kind_is_an_error_not_a_silent_yes(member):
    with pytest.raises(ValueError, match="unknown kind"):
        wants(user=member.user, kind="reminder")


def test_chosen_topics_limit_invitations_to_events_about_one_of_them(
    member, robotics, hydrogen, batteries
):
    user = member.user
    preferences_update(user=user, invitation_topics=[robotics, hydrogen])

    assert wants(user=user, kind="invitations", topics=[robotics])
    assert wants(user=user, kind="invitations", topics=[batteries, hydrogen.pk])
    assert not wants(user=user, kind="invitations", topics=[batteries])
    assert not wants(user=user, kind="invitations")  # an event about no topic
    assert wants(user=user, kind="reminders")  # topics are about invitations only


def test_no_chosen_topic_means_invitations_about_every_topic(member, robotics, batteries):
    user = member.user
    preferences_update(user=user, invitation_topics=[robotics])
    preferences_update(user=user, invitation_topics=[])

    assert wants(user=user, kind="invitations", topics=[batteries])


def test_invitations_off_wins_over_matching_topics(member, robotics):
    preferences_update(user=member.user, invitations=False, invitation_topics=[robotics])

    assert not wants(user=member.user, kind="invitations", topics=[robotics])


def test_an_audience_is_filtered_in_one_query_whatever_its_size(
    django_assert_num_queries, robotics, batteries
):
    everyone = [ProfileFactory().user for _ in range(6)]
    default, off, robotics_only, batteries_only, reminders_off, both = everyone
    preferences_update(user=off, invitations=False)
    preferences_update(user=robotics_only, invitation_topics=[robotics])
    preferences_update(user=batteries_only, invitation_topics=[batteries])
    preferences_update(user=reminders_off, reminders=False)
    preferences_update(user=both, invitation_topics=[robotics, batteries])
    audience = User.objects.filter(pk__in=[u.pk for u in everyone])

    with django_assert_num_queries(1):
        invited = set(users_wanting(users=audience, kind="invitations", topics=[robotics]))
    reminded = set(users_wanting(users=audience, kind="reminders"))

    assert invited == {default, robotics_only, reminders_off, both}
    assert reminded == set(everyone) - {reminders_off}
    for user in everyone:  # the single-person answer agrees with the audience filter
        assert wants(user=user, kind="invitations", topics=[robotics]) == (user in invited)


def test_updating_keeps_what_was_not_given(member, robotics):
    user = member.user
    preferences_update(user=user, reminders=False, invitation_topics=[robotics])

    preferences_update(user=user, invitations=False)

    row = prefs(user)
    assert (row.invitations, row.reminders) == (False, False)
    assert list(row.invitation_topics.all()) == [robotics]
    assert MessagePreferences.objects.filter(user=user).count() == 1


# --- the preferences page --------------------------------------------------------------


def test_the_preferences_page_shows_the_defaults_and_saves_a_choice(
    client_for, member, robotics, hydrogen
):
    client = client_for(member.user)

    page = client.get("/me/messages/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="invitations"' in html
    assert 'name="reminders"' in html
    assert "Robotics" in html
    form = page.context["form"]
    assert (form.initial["invitations"], form.initial["reminders"]) == (True, True)

    response = client.post(
        "/me/messages/", {"invitations": "on", "invitation_topics": [robotics.pk, hydrogen.pk]}
    )

    assert response.status_code == 302
    assert response["Location"] == "/me/messages/"
    row = prefs(member.user)
    assert (row.invitations, row.reminders) == (True, False)  # unticked = off
    assert set(row.invitation_topics.all()) == {robotics, hydrogen}
    again = client.get("/me/messages/").context["form"]
    assert again.initial["reminders"] is False
    assert set(again.initial["invitation_topics"]) == {robotics, hydrogen}


def test_the_preferences_page_needs_sign_in(client):
    response = client.get("/me/messages/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_my_profile_links_to_the_preferences_page(client_for, member):
    assert 'href="/me/messages/"' in client_for(member.user).get("/me/").content.decode()


# --- unsubscribe links -----------------------------------------------------------------


def test_a_token_names_its_member_and_kind(member):
    token = unsubscribe_token(user=member.user, kind="reminders")

    assert unsubscribe_from_token(token) == (member.user, "reminders")
    assert "/" not in token


def test_the_unsubscribe_url_is_absolute(settings, member):
    settings.SITE_URL = "https://events.cluster.example"

    url = unsubscribe_url(user=member.user, kind="invitations")

    assert url.startswith("https://events.cluster.example/unsubscribe/")
    assert url.endswith("/")


def test_transactional_mail_has_no_unsubscribe_token(member):
    with pytest.raises(ValueError):
        unsubscribe_token(user=member.user, kind="transactional")


def test_opening_an_unsubscribe_link_asks_and_changes_nothing(client, member):
    token = unsubscribe_token(user=member.user, kind="invitations")

    response = client.get(f"/unsubscribe/{token}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Stop receiving invitations" in html
    assert 'method="post"' in html
    assert response["Referrer-Policy"] == "no-referrer"
    assert wants(user=member.user, kind="invitations")
    assert not MessagePreferences.objects.exists()


def test_the_button_unsubscribes_without_sign_in_and_links_to_the_preferences(member):
    client = Client(enforce_csrf_checks=True)
    token = unsubscribe_token(user=member.user, kind="reminders")

    response = client.post(f"/unsubscribe/{token}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "no longer receive reminders" in html
    assert 'href="/me/messages/"' in html
    assert not wants(user=member.user, kind="reminders")
    assert wants(user=member.user, kind="invitations")


def test_a_mail_clients_one_click_post_unsubscribes_without_a_csrf_token(member):
    """RFC 8058: the client POSTs `List-Unsubscribe=One-Click` with no cookies or token."""
    client = Client(enforce_csrf_checks=True)
    token = unsubscribe_token(user=member.user, kind="invitations")

    response = client.post(
        f"/unsubscribe/{token}/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert not wants(user=member.user, kind="invitations")
    assert wants(user=member.user, kind="reminders")

    again = client.post(f"/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"})

    assert again.status_code == 200  # multipart works too, and twice is harmless
    assert not wants(user=member.user, kind="invitations")


def test_other_views_still_demand_a_csrf_token(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)

    assert client.post("/me/messages/", {"invitations": "on"}).status_code == 403


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: "not-a-token", id="garbage"),
        pytest.param(
            lambda user: unsubscribe_token(user=user, kind="invitations")[:-2] + "xx",
            id="tampered signature",
        ),
        pytest.param(
            lambda user: signing.Signer(salt="something.else").sign_object(
                {"u": user.pk, "k": "invitations"}, compress=True
            ),
            id="signed for another purpose",
        ),
        pytest.param(
            lambda user: signing.Signer(salt=preferences.UNSUBSCRIBE_SALT).sign_object(
                {"u": user.pk, "k": "transactional"}
            ),
            id="a kind that cannot be turned off",
        ),
    ],
)
def test_a_bad_or_forged_token_is_404_and_changes_nothing(client, member, make_token):
    token = make_token(member.user)

    assert client.get(f"/unsubscribe/{token}/").status_code == 404
    assert client.post(f"/unsubscribe/{token}/").status_code == 404
    assert (
        client.post(f"/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"}).status_code == 404
    )
    assert not MessagePreferences.objects.exists()


def test_a_token_of_an_erased_account_is_404(client, member):
    token = unsubscribe_token(user=member.user, kind="invitations")
    services.account_erase(user=member.user)

    assert client.get(f"/unsubscribe/{token}/").status_code == 404


# --- personal data ---------------------------------------------------------------------


def test_the_data_export_includes_the_preferences(member, robotics):
    assert services.personal_data_export(user=member.user)["message_preferences"] is None

    preferences_update(user=member.user, reminders=False, invitation_topics=[robotics])
    exported = services.personal_data_export(user=member.user)["message_preferences"]

    assert exported["invitations"] is True
    assert exported["reminders"] is False
    assert exported["invitation_topics"] == ["Robotics"]
    json.dumps(exported)  # it goes into the JSON download


def test_erasing_the_account_deletes_the_preferences(member, colleague, robotics):
    preferences_update(user=member.user, invitations=False, invitation_topics=[robotics])
    preferences_update(user=colleague.user, reminders=False)

    services.account_erase(user=member.user)

    assert not MessagePreferences.objects.filter(user=member.user).exists()
    assert MessagePreferences.objects.filter(user=colleague.user).exists()
