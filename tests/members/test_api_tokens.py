"""API tokens as a member and an operator handle them: the page and the command."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.api_tokens import api_token_create, api_token_revoke
from members.services import account_erase
from tests.factories import PASSWORD

PAGE = reverse("members:api_token")
ME = reverse("members_api:me")


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(ME).status_code == 200


def test_the_command_prints_a_working_key_and_a_second_run_replaces_it(member):
    out = io.StringIO()
    call_command("create_api_token", member.user.email.upper(), stdout=out)
    first = out.getvalue().strip()
    assert works(first)

    out = io.StringIO()
    call_command("create_api_token", member.user.email, stdout=out)
    second = out.getvalue().strip()
    assert second != first
    assert works(second)
    assert not works(first)


def test_the_command_refuses_an_unknown_address(db):
    with pytest.raises(CommandError, match="No account"):
        call_command("create_api_token", "nobody@example.org", stdout=io.StringIO())


def test_the_command_refuses_an_inactive_account(member):
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])
    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", member.user.email, stdout=io.StringIO())
    assert not Token.objects.exists()


def test_revoking_stops_the_key(member):
    token = api_token_create(user=member.user)
    assert api_token_revoke(user=member.user) is True
    assert not works(token.key)
    assert api_token_revoke(user=member.user) is False


def test_a_member_creates_sees_once_and_revokes_a_token_on_the_page(member, client_for):
    client = client_for(member.user)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert b"You have no token" in page.content

    # Making a key asks for the password again; allauth then makes it and shows the page.
    asked = client.post(PAGE, {"action": "create"})
    assert asked["Location"].startswith(reverse("account_reauthenticate"))
    created = client.post(asked["Location"], {"password": PASSWORD})
    assert created.status_code == 200
    key = Token.objects.get(user=member.user).key
    assert key.encode() in created.content
    assert created["Cache-Control"] == "no-store"
    assert works(key)
    assert key.encode() not in client.get(PAGE).content  # shown once

    revoked = client.post(PAGE, {"action": "revoke"})
    assert revoked.status_code == 302
    assert not Token.objects.filter(user=member.user).exists()
    assert not works(key)


def test_the_token_page_needs_a_sign_in(db, client_for):
    client = client_for(None)
    assert client.get(PAGE).status_code == 302
    assert client.post(PAGE, {"action": "create"}).status_code == 302
    assert not Token.objects.exists()


def test_a_token_of_an_erased_account_is_gone(member):
    token = api_token_create(user=member.user)
    account_erase(user=member.user)
    assert not works(token.key)
