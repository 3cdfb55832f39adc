"""Every door where a password (or a mailed key standing in for one) is typed, played as a
guesser: after the limit of ACCOUNT_RATE_LIMITS even the right one is refused, the limit
holds per account or per IP as configured, and it cools off.

The admin has no password form of its own: `/admin/login/` is allauth's sign-in, so an
account locked there is locked for the admin too. The counters live in the test settings'
real cache (locmem), emptied around every test by `tests/conftest.py::_empty_cache`.
"""

import time
from urllib.parse import urlencode

import pytest
from allauth.account.forms import default_token_generator
from django.contrib.auth import get_user
from django.test import Client
from django.utils.http import int_to_base36

from members.models import User
from tests.factories import PASSWORD, StaffFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-Long-and-Unusual-pass-42"
TOO_MANY_LOGINS = "Too many failed login attempts"
GUESSER_IP, OTHER_IP = "203.0.113.7", "198.51.100.23"


def from_ip(ip: str = GUESSER_IP) -> Client:
    return Client(REMOTE_ADDR=ip)


def sign_in(client: Client, email: str, password: str, *, next_url: str = ""):
    path = "/accounts/login/" + (f"?{urlencode({'next': next_url})}" if next_url else "")
    return client.post(path, {"login": email, "password": password})


def signed_in(client: Client) -> bool:
    return get_user(client).is_authenticated


def lock_out(email: str, *, ip: str = GUESSER_IP) -> None:
    """Five wrong passwords for the address on allauth's sign-in: its per-account limit."""
    guesser = from_ip(ip)
    for attempt in range(5):
        assert sign_in(guesser, email, f"guess-{attempt}").status_code == 200
    assert not signed_in(guesser)


# --- the admin's login is allauth's ------------------------------------------------------


def test_the_admin_login_sends_to_allauths_login_keeping_next(client, staff):
    response = client.get("/admin/login/?next=/admin/members/user/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fmembers%2Fuser%2F"
    # Without `next`, back to the admin's index, as the admin's own login did.
    assert client.get("/admin/login/")["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_staff_signing_in_at_the_accounts_login_reach_the_admin_page_they_asked_for(client, staff):
    asked = client.get("/admin/members/user/", follow=True)
    assert asked.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2Fmembers%2Fuser%2F"
    assert b'name="password"' in asked.content

    response = sign_in(client, staff.email, PASSWORD, next_url="/admin/members/user/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/members/user/"
    assert client.get("/admin/members/user/").status_code == 200
    # Signed in, the admin's login leads straight back into the admin.
    assert client.get("/admin/login/", follow=True).redirect_chain[-1] == ("/admin/", 302)


def test_fifty_wrong_passwords_and_then_the_right_one_on_the_admin_login_never_sign_in(staff):
    """The outside tester's attack: the admin's login no longer takes a password at all."""
    attacker = from_ip()
    assert b'name="password"' not in attacker.get("/admin/login/").content
    for attempt in range(50):
        response = attacker.post(
            "/admin/login/?next=/admin/", {"username": staff.email, "password": f"guess-{attempt}"}
        )
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")

    attacker.post("/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD})

    assert not signed_in(attacker)
    assert attacker.get("/admin/").status_code == 302


def test_a_staff_account_locked_on_the_sign_in_is_locked_for_the_admin_too(staff):
    lock_out(staff.email)
    attacker = from_ip()

    login_page = attacker.get("/admin/", follow=True)
    assert login_page.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    response = sign_in(attacker, staff.email, PASSWORD, next_url="/admin/")

    assert response.status_code == 200
    assert TOO_MANY_LOGINS in response.content.decode()
    assert not signed_in(attacker)
    assert attacker.get("/admin/").status_code == 302


def test_the_lock_is_per_account_other_staff_from_the_same_ip_still_get_in(staff):
    other = StaffFactory(email="second.admin@example.org")
    lock_out(staff.email)

    colleague = from_ip()
    response = sign_in(colleague, other.email, PASSWORD, next_url="/admin/")

    assert response.status_code == 302
    assert colleague.get("/admin/").status_code == 200


def test_one_ip_guessing_across_accounts_is_stopped_while_other_ips_still_get_in(staff):
    guesser = from_ip()
    for n in range(10):  # one wrong password for each of ten addresses: no account locks
        sign_in(guesser, f"someone{n}@example.org", "guess")

    response = sign_in(guesser, staff.email, PASSWORD, next_url="/admin/")
    assert TOO_MANY_LOGINS in response.content.decode()
    assert not signed_in(guesser)

    elsewhere = from_ip(OTHER_IP)
    assert sign_in(elsewhere, staff.email, PASSWORD, next_url="/admin/").status_code == 302
    assert elsewhere.get("/admin/").status_code == 200


def test_a_signed_in_member_without_admin_access_sees_the_admins_refusal_not_a_loop(member):
    client = from_ip()

    response = client.post(
        "/accounts/login/?next=/admin/",
        {"login": member.user.email, "password": PASSWORD},
        follow=True,
    )

    assert signed_in(client)
    assert [url for url, _ in response.redirect_chain] == ["/admin/", "/admin/login/?next=/admin/"]
    assert response.status_code == 403
    assert "but are not authorized to access this page" in response.content.decode()
    assert b'name="password"' not in response.content

    # "Login to a different account": signs out, then allauth's sign-in, back to the admin.
    page = response.content.decode()
    assert 'action="/accounts/logout/"' in page
    assert 'name="next" value="/accounts/login/?next=%2Fadmin%2F"' in page
    switch = client.post("/accounts/logout/", {"next": "/accounts/login/?next=%2Fadmin%2F"})
    assert switch["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    assert not signed_in(client)


def test_the_admins_password_change_is_allauths_limited_page(staff, client_for):
    client = client_for(staff)

    response = client.post(
        "/admin/password_change/",
        {"old_password": "guess", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/change/"
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)


# --- signed-in pages that ask for the password again -------------------------------------


def change_password(client: Client, old: str):
    return client.post(
        "/accounts/password/change/",
        {"oldpassword": old, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


def test_change_password_refuses_even_the_right_password_after_five_tries(
    member, colleague, client_for
):
    borrowed = client_for(member.user)
    for attempt in range(5):
        assert change_password(borrowed, f"guess-{attempt}").status_code == 200

    assert change_password(borrowed, PASSWORD).status_code == 429
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)

    # Per account: someone else changes theirs as usual.
    assert change_password(client_for(colleague.user), PASSWORD).status_code == 302
    colleague.user.refresh_from_db()
    assert colleague.user.check_password(NEW_PASSWORD)


def test_reauthenticate_refuses_even_the_right_password_after_five_tries(
    member, colleague, client_for
):
    borrowed = client_for(member.user)
    for attempt in range(5):
        response = borrowed.post("/accounts/reauthenticate/", {"password": f"guess-{attempt}"})
        assert response.status_code == 200

    assert borrowed.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 429

    other = client_for(colleague.user)
    assert other.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302


def test_deleting_the_account_refuses_even_the_right_password_after_five_tries(
    member, colleague, client_for
):
    borrowed = client_for(member.user)
    for attempt in range(5):
        response = borrowed.post("/me/delete/", {"password": f"guess-{attempt}"})
        assert response.status_code == 400
        assert "That is not your password." in response.content.decode()

    response = borrowed.post("/me/delete/", {"password": PASSWORD})

    assert response.status_code == 429
    assert "Too many password attempts" in response.content.decode()
    assert User.objects.filter(pk=member.user.pk, is_active=True).exists()

    # Per account: someone else deletes theirs as usual.
    assert client_for(colleague.user).post("/me/delete/", {"password": PASSWORD}).status_code == 302
    assert not User.objects.filter(pk=colleague.user.pk, is_active=True).exists()


def test_the_delete_page_and_allauths_reauthentication_share_one_budget(member, client_for):
    borrowed = client_for(member.user)
    for attempt in range(5):
        borrowed.post("/accounts/reauthenticate/", {"password": f"guess-{attempt}"})

    assert borrowed.post("/me/delete/", {"password": PASSWORD}).status_code == 429
    assert User.objects.filter(pk=member.user.pk, is_active=True).exists()


def test_wrong_passwords_on_the_delete_page_lock_the_sign_in_too(member, client_for):
    """The delete page checks the password through allauth: the same per-account limit."""
    borrowed = client_for(member.user)
    for attempt in range(5):
        borrowed.post("/me/delete/", {"password": f"guess-{attempt}"})

    response = sign_in(from_ip(OTHER_IP), member.user.email, PASSWORD)

    assert response.status_code == 200
    assert TOO_MANY_LOGINS in response.content.decode()


# --- mailed keys and new accounts, per IP ------------------------------------------------


def test_password_reset_mails_stop_after_five_for_one_address(member, colleague):
    client = from_ip()
    for _ in range(5):
        response = client.post("/accounts/password/reset/", {"email": member.user.email})
        assert response.status_code == 302

    assert client.post("/accounts/password/reset/", {"email": member.user.email}).status_code == 429
    # Per address: another person's reset from the same IP still goes out.
    assert (
        client.post("/accounts/password/reset/", {"email": colleague.user.email}).status_code == 302
    )


def test_a_valid_reset_key_is_refused_from_an_ip_that_tried_twenty_keys(member):
    user = member.user
    path = f"/accounts/password/reset/key/{int_to_base36(user.pk)}-"
    guesser = from_ip()
    for attempt in range(20):
        guesser.post(f"{path}guess{attempt}/", {"password1": "x", "password2": "x"})

    key_page = guesser.get(f"{path}{default_token_generator.make_token(user)}/", follow=True)
    set_password_path = key_page.redirect_chain[-1][0]  # the key moves into the session
    assert set_password_path.endswith("-set-password/")
    new = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    assert guesser.post(set_password_path, new).status_code == 429
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    # The owner of the mail, from their own IP, still sets a new password.
    owner = from_ip(OTHER_IP)
    owner.get(f"{path}{default_token_generator.make_token(user)}/", follow=True)
    assert owner.post(set_password_path, new).status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_sign_up_stops_after_twenty_attempts_from_one_ip(db):
    account = {
        "email": "ines.duarte@example.org",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "display_name": "Inês Duarte",
    }
    flooder = from_ip()
    for _ in range(20):
        assert flooder.post("/accounts/signup/", {}).status_code == 200

    assert flooder.post("/accounts/signup/", account).status_code == 429
    assert not User.objects.filter(email=account["email"]).exists()

    assert from_ip(OTHER_IP).post("/accounts/signup/", account).status_code == 302
    assert User.objects.filter(email=account["email"]).exists()


# --- every password door cools off after five minutes, not before ------------------------


@pytest.fixture
def clock(monkeypatch):
    """Moves the clock of the rate limiter (and of the cache's expiry) forward."""
    real_time, offset = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


DOORS = {
    # door: (whether the guesser holds a session, one try of a password -> status code)
    "sign-in": (False, lambda client, user, pw: sign_in(client, user.email, pw).status_code),
    "change password": (True, lambda client, user, pw: change_password(client, pw).status_code),
    "reauthenticate": (
        True,
        lambda client, user, pw: (
            client.post("/accounts/reauthenticate/", {"password": pw}).status_code
        ),
    ),
    "delete account": (
        True,
        lambda client, user, pw: client.post("/me/delete/", {"password": pw}).status_code,
    ),
}


@pytest.mark.parametrize("door", DOORS)
def test_five_wrong_passwords_close_the_door_for_five_minutes(door, member, clock):
    with_session, try_password = DOORS[door]
    client = from_ip()
    if with_session:
        client.force_login(member.user)
    for attempt in range(5):
        assert try_password(client, member.user, f"guess-{attempt}") != 302

    clock(4 * 60 + 50)
    assert try_password(client, member.user, PASSWORD) != 302  # still closed
    clock(15)
    assert try_password(client, member.user, PASSWORD) == 302  # open again


# --- a new password locks out API tokens made under the old one ---------------------------


def test_changing_the_password_revokes_the_api_token(member, client_for):
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=member.user).key
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/registrations/").status_code == 200

    assert change_password(client_for(member.user), PASSWORD).status_code == 302

    assert not Token.objects.filter(user=member.user).exists()
    refused = api.get("/api/v1/me/registrations/")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Token"


def test_a_password_set_by_staff_in_the_admin_revokes_the_api_token(member, client_for):
    from rest_framework.authtoken.models import Token

    Token.objects.create(user=member.user)
    admin = StaffFactory(is_superuser=True)

    response = client_for(admin).post(
        f"/admin/members/user/{member.user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password(NEW_PASSWORD)
    assert not Token.objects.filter(user=member.user).exists()


def test_a_hash_upgrade_at_sign_in_keeps_the_api_token(member, settings):
    from rest_framework.authtoken.models import Token

    Token.objects.create(user=member.user)
    # A stronger hasher first: signing in re-hashes the password, which is no new password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    assert sign_in(from_ip(), member.user.email, PASSWORD).status_code == 302

    member.user.refresh_from_db()
    assert member.user.password.startswith("pbkdf2_sha256$")
    assert Token.objects.filter(user=member.user).exists()


def test_making_an_api_key_asks_for_the_password_again(member, client_for):
    from rest_framework.authtoken.models import Token

    # A session of unknown age (a borrowed laptop): the password first.
    borrowed = client_for(member.user)
    asked = borrowed.post("/me/api-token/")
    assert asked.status_code == 302
    assert asked["Location"].startswith("/accounts/reauthenticate/")
    assert not Token.objects.filter(user=member.user).exists()
    assert borrowed.get("/me/api-token/").status_code == 200  # looking needs nothing
    Token.objects.create(user=member.user)
    assert borrowed.post("/me/api-token/", {"action": "revoke"}).status_code == 302
    assert not Token.objects.filter(user=member.user).exists()  # revoking needs nothing

    # The password confirmed on allauth's page (under its limit): allauth carries on with
    # the request it held back, and the key is made and shown once.
    made = borrowed.post(asked["Location"], {"password": PASSWORD})
    assert made.status_code == 200
    assert Token.objects.get(user=member.user).key in made.content.decode()
    # For the next minutes, without asking again (allauth's REAUTHENTICATION_TIMEOUT).
    assert borrowed.post("/me/api-token/").status_code == 200
