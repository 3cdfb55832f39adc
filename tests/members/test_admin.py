"""What staff can do in the admin with members data."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user

from members.models import GenderIdentity, Profile, User
from tests.factories import GenderIdentityFactory

pytestmark = pytest.mark.django_db


def test_staff_erase_an_account_from_the_user_list(client_for, staff, member):
    GenderIdentityFactory(user=member.user, gender="man")

    response = client_for(staff).post(
        "/admin/members/user/",
        {"action": "erase_personal_data", "_selected_action": [member.user.pk]},
        follow=True,
    )

    assert "Erased 1 account(s)." in response.content.decode()
    member.user.refresh_from_db()
    assert not member.user.is_active
    assert member.user.email.endswith("@invalid.invalid")
    assert not Profile.objects.filter(user=member.user).exists()
    assert not GenderIdentity.objects.filter(user=member.user).exists()
    assert not EmailAddress.objects.filter(user=member.user).exists()


def test_staff_cannot_add_or_edit_anyones_gender(client_for, staff, member):
    record = GenderIdentityFactory(user=member.user, gender="non_binary")
    client = client_for(staff)

    assert client.get("/admin/members/genderidentity/add/").status_code == 403
    page = client.get(f"/admin/members/genderidentity/{record.pk}/change/")
    assert page.status_code == 200
    assert 'name="gender"' not in page.content.decode()
    client.post(
        f"/admin/members/genderidentity/{record.pk}/change/",
        {"gender": "man", "statistics_consent": "on"},
    )
    record.refresh_from_db()
    assert record.gender == "non_binary"


def test_staff_find_people_by_display_name(client_for, staff, member):
    page = client_for(staff).get("/admin/members/user/?q=anna+keller").content.decode()

    assert member.user.email in page


NEW_PASSWORD = "a-Long-and-Unusual-pass-42"
ADD_USER = {
    "password1": NEW_PASSWORD,
    "password2": NEW_PASSWORD,
    "organiser_roles-TOTAL_FORMS": "0",
    "organiser_roles-INITIAL_FORMS": "0",
}


def sign_in(client, email: str) -> bool:
    client.post("/accounts/login/", {"login": email, "password": NEW_PASSWORD})
    return get_user(client).is_authenticated


def test_an_account_staff_create_in_the_admin_can_sign_in(client_for, staff):
    response = client_for(staff).post(
        "/admin/members/user/add/", {"email": "new.person@example.org", **ADD_USER}
    )

    assert response.status_code == 302
    assert sign_in(client_for(), "new.person@example.org")


def test_an_address_typed_with_capitals_in_the_admin_can_still_sign_in(client_for, staff):
    client_for(staff).post(
        "/admin/members/user/add/", {"email": "New.Person@Example.org", **ADD_USER}
    )

    assert sign_in(client_for(), "new.person@example.org")


def test_the_admin_refuses_a_second_account_for_the_same_address_in_capitals(
    client_for, staff, member
):
    response = client_for(staff).post(
        "/admin/members/user/add/", {"email": member.user.email.upper(), **ADD_USER}
    )

    assert response.status_code == 200
    assert User.objects.filter(email__iexact=member.user.email).count() == 1
