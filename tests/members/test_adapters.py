"""Account flows through allauth's real views with our adapter and sign-up form:
sign-up, e-mail verification, signing in by e-mail, and the brute-force limits."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user

from members.models import Language, Profile, Topic, User
from tests.factories import PASSWORD, ProfileFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-Long-and-Unusual-pass-42"


def sign_up(client, **overrides):
    data = {
        "email": "ines.duarte@example.org",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "display_name": "Inês Duarte",
        **overrides,
    }
    return client.post("/accounts/signup/", data)


def confirmation_path(message) -> str:
    match = re.search(r"https?://testserver(/accounts/confirm-email/[^\s/]+/)", message.body)
    assert match, f"no confirmation link in:\n{message.body}"
    return match.group(1)


def test_sign_up_creates_an_account_with_a_profile_and_mails_a_confirmation_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, email="Ines.Duarte@Example.org")

    assert response.status_code == 302
    user = User.objects.get(email="ines.duarte@example.org")
    assert user.profile.display_name == "Inês Duarte"
    assert not EmailAddress.objects.get(user=user).verified
    [message] = mailoutbox
    assert message.to == ["ines.duarte@example.org"]
    assert "Confirm" in message.subject
    assert confirmation_path(message).startswith("/accounts/confirm-email/")


def test_sign_up_mail_is_only_queued_once_the_account_is_committed(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sign_up(client)

    assert mailoutbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mailoutbox) == 1


def test_the_link_in_the_mail_verifies_the_address_and_the_member_can_then_sign_in_by_email(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client)
    client.logout()
    path = confirmation_path(mailoutbox[0])

    page = client.get(path)
    assert page.status_code == 200
    assert "ines.duarte@example.org" in page.content.decode()
    assert not EmailAddress.objects.get(email="ines.duarte@example.org").verified

    client.post(path)
    assert EmailAddress.objects.get(email="ines.duarte@example.org").verified

    client.logout()
    response = client.post(
        "/accounts/login/", {"login": "ines.duarte@example.org", "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert get_user(client).email == "ines.duarte@example.org"


def test_full_journey_from_sign_up_to_an_edited_profile(
    client, mailoutbox, django_capture_on_commit_callbacks, organisation
):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client)
    client.post(confirmation_path(mailoutbox[0]))
    client.logout()
    client.post("/accounts/login/", {"login": "ines.duarte@example.org", "password": NEW_PASSWORD})

    response = client.post(
        "/me/edit/",
        {
            "display_name": "Inês M. Duarte",
            "job_title": "Head of automation",
            "country": "PT",
            "timezone": "Europe/Lisbon",
            "bio": "",
            "expertise": [Topic.objects.get(slug="robotics").pk],
            "languages": [Language.objects.get(code="pt").pk],
            "mentoring_stance": "offers",
            "visibility": "members",
        },
    )

    assert response.status_code == 302
    page = client.get("/me/").content.decode()
    assert "Robotics" in page
    assert "Portuguese" in page
    assert "Inês M. Duarte" in page
    assert "Head of automation" in page
    assert "Europe/Lisbon" in page
    assert "Keller Antriebstechnik" not in page  # asked for below, not yet confirmed

    response = client.post(
        "/me/organisation/", {"action": "request", "organisation": organisation.pk}
    )
    assert response.status_code == 302
    page = client.get("/me/organisation/").content.decode()
    assert "Your request to join Keller Antriebstechnik is waiting" in page


def test_sign_up_without_a_name_is_refused_and_creates_nothing(client, mailoutbox):
    response = sign_up(client, display_name="   ")

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not User.objects.exists()
    assert not Profile.objects.exists()
    assert mailoutbox == []


def test_an_address_cannot_be_registered_twice_in_any_letter_case(client, mailoutbox, member):
    response = sign_up(client, email=member.user.email.upper())

    assert response.status_code == 200
    assert "A user is already registered with this email address." in response.content.decode()
    assert User.objects.filter(email__iexact=member.user.email).count() == 1
    assert Profile.objects.count() == 1
    assert mailoutbox == []


def test_signing_in_uses_the_email_address_and_no_username(client, member):
    response = client.get("/accounts/login/")
    assert 'name="login"' in response.content.decode()
    assert 'name="username"' not in response.content.decode()

    response = client.post(
        "/accounts/login/", {"login": member.user.email.upper(), "password": PASSWORD}
    )

    assert response.status_code == 302
    assert get_user(client) == member.user


def test_a_wrong_password_does_not_sign_in(client, member):
    response = client.post("/accounts/login/", {"login": member.user.email, "password": "nope"})

    assert response.status_code == 200
    assert not get_user(client).is_authenticated


def test_after_five_wrong_passwords_even_the_right_one_is_refused_for_a_while(client, member):
    for _ in range(5):
        client.post("/accounts/login/", {"login": member.user.email, "password": "guess"})

    response = client.post("/accounts/login/", {"login": member.user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert not get_user(client).is_authenticated


def test_a_flood_of_login_attempts_from_one_address_gets_http_429(client):
    statuses = [
        client.post(
            "/accounts/login/", {"login": f"guess{i}@example.org", "password": "guess"}
        ).status_code
        for i in range(31)
    ]

    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429


@pytest.mark.parametrize("attempts", [1, 4])
def test_a_few_failed_logins_do_not_lock_the_member_out(client, member, attempts):
    for _ in range(attempts):
        client.post("/accounts/login/", {"login": member.user.email, "password": "typo"})

    response = client.post("/accounts/login/", {"login": member.user.email, "password": PASSWORD})

    assert response.status_code == 302


def test_a_member_signed_up_on_the_command_line_gets_a_profile_on_first_visit(client):
    user = User.objects.create_superuser(email="Root@Example.org", password=PASSWORD)
    client.force_login(user)

    client.get("/")

    assert user.email == "root@example.org"
    assert Profile.objects.get(user=user).display_name == "root"


def test_the_home_page_greets_a_member_by_their_display_name(client):
    profile = ProfileFactory(display_name="Zoë Example")
    client.force_login(profile.user)

    assert "Hello, Zoë Example" in client.get("/").content.decode()
