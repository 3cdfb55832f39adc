"""The members pages: own profile, editing it, photos, gender, data export, account
deletion, the directory's paging and cost, and the organisers' cluster page."""

import io
import json
import random
import re
from datetime import UTC, datetime

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from members.models import (
    ClusterOrganiser,
    GenderIdentity,
    Language,
    Profile,
    Sector,
    Topic,
    User,
)
from tests.factories import (
    PASSWORD,
    ClusterOrganiserFactory,
    GenderIdentityFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CARD = 'class="card profile-card"'


def edit_data(profile: Profile, **overrides) -> dict:
    """A complete, valid profile-edit form as a browser would post it."""
    data = {
        "display_name": profile.display_name,
        "organisation": profile.organisation_id or "",
        "job_title": profile.job_title,
        "country": profile.country.code or "",
        "timezone": profile.timezone,
        "bio": profile.bio,
        "mentoring_stance": profile.mentoring_stance,
        "visibility": profile.visibility,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def webp_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="WEBP")
    return buffer.getvalue()


# --- own profile and editing it -----------------------------------------------------


def test_editing_the_profile_changes_what_the_member_sees_on_their_page(client_for, member):
    client = client_for(member.user)
    robotics = Topic.objects.get(slug="robotics")
    funding = Topic.objects.get(slug="funding")
    energy = Sector.objects.get(slug="energy")

    response = client.post(
        "/me/edit/",
        edit_data(
            member,
            display_name="Anna K. Keller",
            job_title="CTO",
            country="AT",
            timezone="Europe/Vienna",
            bio="Drives and gears.",
            languages=[lang.pk for lang in Language.objects.filter(code__in=["de", "en"])],
            sectors=[energy.pk],
            expertise=[robotics.pk],
            interests=[funding.pk],
            mentoring_stance="offers",
            visibility="members",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == "/me/"
    page = client.get("/me/").content.decode()
    for text in (
        "Anna K. Keller",
        "CTO",
        "Drives and gears.",
        "Robotics",
        "Funding &amp; EU programmes",
        "English, German",
        "Energy",
        "Times shown in Europe/Vienna",
        "All members of this site",
        "Your profile is saved.",
    ):
        assert text in page, text
    member.refresh_from_db()
    assert member.timezone == "Europe/Vienna"
    assert member.mentoring_stance == "offers"
    assert list(member.expertise.all()) == [robotics]


def test_the_edit_form_shows_the_current_values(client_for, member):
    page = client_for(member.user).get("/me/edit/").content.decode()

    assert 'value="Anna Keller"' in page
    assert 'enctype="multipart/form-data"' in page


def test_an_empty_name_is_refused_with_a_message_and_nothing_is_saved(client_for, member):
    response = client_for(member.user).post(
        "/me/edit/", edit_data(member, display_name="  ", job_title="Changed")
    )

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Anna Keller"
    assert member.job_title == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus_Mons", "Select a valid choice"),
        ("visibility", "everyone", "Select a valid choice"),
        ("mentoring_stance", "always", "Select a valid choice"),
        ("expertise", ["999999"], "Select a valid choice"),
        ("bio", "x" * 2001, "Ensure this value has at most 2000 characters"),
    ],
)
def test_invalid_choices_are_refused_with_a_message(client_for, member, field, value, message):
    response = client_for(member.user).post(
        "/me/edit/", edit_data(member, job_title="Changed", **{field: value})
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    member.refresh_from_db()
    assert member.job_title == ""


def test_a_photo_upload_is_stored_under_a_random_name_and_shown_to_colleagues(
    client_for, member, colleague, png, settings
):
    response = client_for(member.user).post(
        "/me/edit/", edit_data(member, photo=upload("Anna Keller passport.PNG", png))
    )

    assert response.status_code == 302
    member.refresh_from_db()
    # Stored re-encoded (members.photos), never the uploaded bytes.
    assert re.fullmatch(r"profile-photos/[0-9a-f]{32}\.jpg", member.photo.name)
    stored = (settings.MEDIA_ROOT / member.photo.name).read_bytes()
    assert stored != png
    assert Image.open(io.BytesIO(stored)).format == "JPEG"

    photo = client_for(colleague.user).get(f"/members/{member.pk}/photo/")
    assert photo.status_code == 200
    assert b"".join(photo.streaming_content) == stored
    assert photo["Cache-Control"] == "private, max-age=3600"


def test_a_photo_is_not_served_to_someone_who_may_not_see_the_profile(
    client_for, member, outsider, png
):
    client_for(member.user).post("/me/edit/", edit_data(member, photo=upload("me.png", png)))

    assert client_for(outsider.user).get(f"/members/{member.pk}/photo/").status_code == 404
    assert client_for().get(f"/members/{member.pk}/photo/").status_code == 302


def test_a_profile_without_photo_answers_404_for_the_photo(client_for, member, colleague):
    assert client_for(colleague.user).get(f"/members/{member.pk}/photo/").status_code == 404


def test_replacing_a_photo_deletes_the_old_file(
    client_for, member, png, settings, django_capture_on_commit_callbacks
):
    client = client_for(member.user)
    client.post("/me/edit/", edit_data(member, photo=upload("one.png", png)))
    member.refresh_from_db()
    old = settings.MEDIA_ROOT / member.photo.name

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/me/edit/", edit_data(member, photo=upload("two.webp", webp_bytes(), "image/webp"))
        )

    member.refresh_from_db()
    assert member.photo.name.endswith(".jpg")
    assert settings.MEDIA_ROOT / member.photo.name != old
    assert not old.exists()
    assert (settings.MEDIA_ROOT / member.photo.name).exists()


def test_saving_the_form_without_a_new_file_keeps_the_photo(client_for, member, png):
    client = client_for(member.user)
    client.post("/me/edit/", edit_data(member, photo=upload("one.png", png)))
    member.refresh_from_db()
    name = member.photo.name

    response = client.post("/me/edit/", edit_data(member, job_title="Engineer"))

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.photo.name == name
    assert member.job_title == "Engineer"


def test_a_member_can_remove_their_photo(client_for, member, png):
    client = client_for(member.user)
    client.post("/me/edit/", edit_data(member, photo=upload("one.png", png)))

    response = client.post("/me/edit/", edit_data(member, **{"photo-clear": "on"}))

    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.photo


def test_an_oversize_photo_is_refused_with_its_size_and_the_limit(client_for, member, settings):
    settings.PROFILE_PHOTO_MAX_BYTES = 1024 * 1024
    buffer = io.BytesIO()
    noise = random.Random(7).randbytes(700 * 700 * 3)  # noise does not compress
    Image.frombytes("RGB", (700, 700), noise).save(buffer, format="PNG")
    big = buffer.getvalue()
    assert len(big) > settings.PROFILE_PHOTO_MAX_BYTES

    response = client_for(member.user).post(
        "/me/edit/", edit_data(member, job_title="Changed", photo=upload("big.png", big))
    )

    assert response.status_code == 400
    assert "the limit is 1.0 MB" in response.content.decode()
    member.refresh_from_db()
    assert not member.photo
    assert member.job_title == ""
    assert not (settings.MEDIA_ROOT / "profile-photos").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cv.png", b"%PDF-1.4 this is not an image", "Upload a valid image"),
        ("photo.gif", None, "File extension “gif” is not allowed"),
    ],
)
def test_a_file_that_is_not_an_accepted_image_is_refused(
    client_for, member, settings, name, content, message
):
    if content is None:
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buffer, format="GIF")
        content = buffer.getvalue()

    response = client_for(member.user).post(
        "/me/edit/", edit_data(member, photo=upload(name, content))
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    member.refresh_from_db()
    assert not member.photo


# --- gender --------------------------------------------------------------------------


def test_the_owner_sets_their_gender_and_sees_it_on_their_own_page(client_for, member):
    client = client_for(member.user)

    response = client.post(
        "/me/gender/",
        {"gender": "self_described", "self_description": "genderfluid", "statistics_consent": "on"},
    )

    assert response.status_code == 302
    page = client.get("/me/").content.decode()
    assert "genderfluid" in page
    record = GenderIdentity.objects.get(user=member.user)
    assert record.statistics_consent is True


def test_self_describing_without_words_is_refused(client_for, member):
    response = client_for(member.user).post(
        "/me/gender/", {"gender": "self_described", "self_description": " "}
    )

    assert response.status_code == 400
    assert "Describe your gender, or choose another option." in response.content.decode()
    assert not GenderIdentity.objects.exists()


def test_the_gender_form_starts_from_the_owners_saved_choice(client_for, member):
    GenderIdentityFactory(user=member.user, gender="non_binary", statistics_consent=False)

    page = client_for(member.user).get("/me/gender/").content.decode()

    assert re.search(r'value="non_binary"[^>]*checked', page)


# --- data export ---------------------------------------------------------------------


def test_data_export_is_a_json_download_of_everything_about_the_member(
    client_for, member, cluster, outsider
):
    GenderIdentityFactory(user=member.user, gender="woman", statistics_consent=True)
    ClusterOrganiserFactory(cluster=cluster, user=member.user)
    member.expertise.set([Topic.objects.get(slug="robotics")])
    GenderIdentityFactory(
        user=outsider.user, gender="self_described", self_description="Outsider-words"
    )

    response = client_for(member.user).get("/me/data.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="clusterhub-my-data-\d{8}\.json"', response["Content-Disposition"]
    )
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["account"]["email"] == member.user.email
    assert data["account"]["email_addresses"] == [
        {"email": member.user.email, "verified": True, "primary": True}
    ]
    assert data["profile"]["display_name"] == "Anna Keller"
    assert data["profile"]["organisation"] == "Keller Antriebstechnik"
    assert data["profile"]["expertise"] == ["Robotics"]
    assert data["gender"]["gender"] == "woman"
    assert data["gender"]["statistics_consent"] is True
    assert data["organiser_of"] == [cluster.name]
    text = response.content.decode()
    for foreign in (outsider.display_name, outsider.user.email, "Outsider-words"):
        assert foreign not in text


def test_data_export_of_a_member_who_never_filled_anything_in(client_for):
    user = UserFactory()

    data = json.loads(client_for(user).get("/me/data.json").content)

    assert data["account"]["email"] == user.email
    assert data["gender"] is None
    assert data["organiser_of"] == []


def test_data_export_needs_sign_in(client):
    assert client.get("/me/data.json").status_code == 302


# --- account deletion ----------------------------------------------------------------


def test_a_wrong_password_deletes_nothing(client_for, member):
    client = client_for(member.user)

    response = client.post("/me/delete/", {"password": "not-my-password"})

    assert response.status_code == 400
    assert "That is not your password." in response.content.decode()
    assert Profile.objects.filter(pk=member.pk).exists()
    assert get_user(client).is_authenticated


def test_deleting_the_account_erases_personal_data_and_signs_out(
    client_for, member, colleague, cluster
):
    GenderIdentityFactory(user=member.user, gender="woman")
    ClusterOrganiserFactory(cluster=cluster, user=member.user)
    email, user_pk = member.user.email, member.user.pk
    client = client_for(member.user)
    viewer = client_for(colleague.user)
    assert "Anna Keller" in viewer.get("/members/").content.decode()

    response = client.post("/me/delete/", {"password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not get_user(client).is_authenticated
    user = User.objects.get(pk=user_pk)
    assert not user.is_active
    assert user.email.endswith("@invalid.invalid")
    assert email not in user.email
    assert user.erased_at is not None
    assert not user.has_usable_password()
    assert not Profile.objects.filter(user=user).exists()
    assert not GenderIdentity.objects.filter(user=user).exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not ClusterOrganiser.objects.filter(user=user).exists()

    fresh = client_for()
    login = fresh.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert login.status_code == 200
    assert not get_user(fresh).is_authenticated

    assert "Anna Keller" not in viewer.get("/members/").content.decode()
    assert member.pk not in [r["id"] for r in viewer.get("/api/v1/members/").json()["results"]]
    assert viewer.get(f"/members/{member.pk}/").status_code == 404


def signed_in_browser(user) -> Client:
    """A client signed in through the real login form, as a browser would be."""
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_deleting_the_account_signs_out_every_other_device_too(member):
    laptop, phone = signed_in_browser(member.user), signed_in_browser(member.user)
    assert phone.get("/me/").status_code == 200

    laptop.post("/me/delete/", {"password": PASSWORD})

    response = phone.get("/me/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_deleting_the_account_removes_the_photo_file(
    client_for, member, png, settings, django_capture_on_commit_callbacks
):
    client = client_for(member.user)
    client.post("/me/edit/", edit_data(member, photo=upload("me.png", png)))
    member.refresh_from_db()
    path = settings.MEDIA_ROOT / member.photo.name
    assert path.exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/me/delete/", {"password": PASSWORD})

    assert not path.exists()


def test_the_address_of_a_deleted_account_can_sign_up_again(
    client_for, member, mailoutbox, django_capture_on_commit_callbacks
):
    email = member.user.email
    client_for(member.user).post("/me/delete/", {"password": PASSWORD})

    with django_capture_on_commit_callbacks(execute=True):
        client_for().post(
            "/accounts/signup/",
            {
                "email": email,
                "password1": "a-Long-and-Unusual-pass-42",
                "password2": "a-Long-and-Unusual-pass-42",
                "display_name": "Anna Again",
            },
        )

    assert User.objects.get(email=email).profile.display_name == "Anna Again"


# --- directory paging and cost -------------------------------------------------------


def test_the_directory_shows_24_people_per_page(client_for, cluster):
    viewer = ClusterOrganiserFactory(cluster=cluster).user  # a member without a profile
    for i in range(30):
        ProfileFactory(display_name=f"Person {i:02}", visibility="members")
    client = client_for(viewer)

    first = client.get("/members/").content.decode()
    second = client.get("/members/?page=2").content.decode()
    beyond = client.get("/members/?page=99").content.decode()

    assert "30 members found" in first
    assert first.count(CARD) == 24
    assert "Page 1 of 2" in first
    assert "Person 00" in first and "Person 23" in first and "Person 24" not in first
    assert second.count(CARD) == 6
    assert "Person 24" in second and "Person 29" in second
    assert beyond.count(CARD) == 6  # past the end: the last page


def _directory_world(count: int, organisation, start: int = 0):
    robotics = Topic.objects.get(slug="robotics")
    leadership = Topic.objects.get(slug="leadership")
    for i in range(start, start + count):
        ProfileFactory(
            display_name=f"Person {i:02}",
            organisation=organisation,
            visibility="members" if i % 2 else "cluster",
            expertise=[robotics, leadership],
            interests=[leadership],
            languages=list(Language.objects.filter(code__in=["de", "fr"])),
        )


def test_the_directory_query_count_does_not_grow_with_its_rows(
    settings, client_for, colleague, organisation, django_assert_max_num_queries
):
    settings.PAGE_CACHE = False  # every request renders the page
    client = client_for(colleague.user)
    _directory_world(5, organisation)
    client.get("/members/")  # warm up per-process caches (content types, sessions)

    with CaptureQueriesContext(connection) as few:
        page = client.get("/members/")
    assert page.content.decode().count(CARD) == 6

    _directory_world(25, organisation, start=5)
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        page = client.get("/members/?q=Person")
    assert page.content.decode().count(CARD) == 24

    assert len(many) == len(few)


def test_the_api_query_count_does_not_grow_with_its_rows(
    client_for, colleague, organisation, django_assert_max_num_queries
):
    client = client_for(colleague.user)
    _directory_world(5, organisation)
    client.get("/api/v1/members/")

    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/v1/members/").json()["results"]) == 6

    _directory_world(25, organisation, start=5)
    with django_assert_max_num_queries(len(few)):
        assert len(client.get("/api/v1/members/").json()["results"]) == 25


def test_the_cluster_page_for_organisers_does_not_grow_with_its_members(
    client_for, organiser, organisation, cluster, django_assert_max_num_queries
):
    client = client_for(organiser)
    _directory_world(3, organisation)
    client.get(f"/clusters/{cluster.slug}/manage/")

    with CaptureQueriesContext(connection) as few:
        client.get(f"/clusters/{cluster.slug}/manage/")

    _directory_world(30, organisation, start=3)
    with django_assert_max_num_queries(len(few)):
        page = client.get(f"/clusters/{cluster.slug}/manage/").content.decode()
    assert "<strong>33</strong> members" in page


# --- organisers' cluster page (roles) ------------------------------------------------


def test_an_organiser_opens_their_own_cluster_page_with_its_members(
    client_for, organiser, cluster, member
):
    page = client_for(organiser).get(f"/clusters/{cluster.slug}/manage/")

    assert page.status_code == 200
    content = page.content.decode()
    assert f"Manage {cluster.name}" in content
    assert member.display_name in content
    assert member.user.email in content


def test_an_organiser_of_one_cluster_gets_404_on_another_clusters_page(
    client_for, organiser, other_cluster
):
    client = client_for(organiser)

    assert client.get(f"/clusters/{other_cluster.slug}/manage/").status_code == 404
    response = client.post(
        f"/clusters/{other_cluster.slug}/manage/", {"action": "add_topic", "name": "Sneaky"}
    )
    assert response.status_code == 404
    assert not Topic.objects.filter(name="Sneaky").exists()


def test_a_plain_member_gets_404_on_every_cluster_page(client_for, member, cluster, other_cluster):
    client = client_for(member.user)

    for slug in (cluster.slug, other_cluster.slug, "no-such-cluster"):
        assert client.get(f"/clusters/{slug}/manage/").status_code == 404
    assert client.get(f"/clusters/{cluster.slug}/").status_code == 200


def test_staff_can_open_every_cluster_page(client_for, staff, cluster, other_cluster):
    client = client_for(staff)

    for slug in (cluster.slug, other_cluster.slug):
        assert client.get(f"/clusters/{slug}/manage/").status_code == 200


def test_the_manage_link_shows_only_to_those_who_may_manage(client_for, organiser, member, cluster):
    link = f'href="/clusters/{cluster.slug}/manage/"'

    assert link in client_for(organiser).get(f"/clusters/{cluster.slug}/").content.decode()
    assert link not in client_for(member.user).get(f"/clusters/{cluster.slug}/").content.decode()


def test_an_organiser_adds_a_topic_everyone_can_then_use(client_for, organiser, cluster, member):
    response = client_for(organiser).post(
        f"/clusters/{cluster.slug}/manage/",
        {"action": "add_topic", "name": "  Hydrogen   valleys ", "description": "H2"},
    )

    assert response.status_code == 302
    topic = Topic.objects.get(name="Hydrogen valleys")
    assert topic.slug == "hydrogen-valleys"
    assert topic.created_by == organiser
    assert "Hydrogen valleys" in client_for(member.user).get("/me/edit/").content.decode()
    slugs = [t["slug"] for t in client_for(member.user).get("/api/v1/topics/").json()]
    assert "hydrogen-valleys" in slugs


def test_a_duplicate_topic_name_is_refused_with_a_message(client_for, organiser, cluster):
    before = Topic.objects.count()

    response = client_for(organiser).post(
        f"/clusters/{cluster.slug}/manage/", {"action": "add_topic", "name": "ROBOTICS"}
    )

    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Topic.objects.count() == before


def test_an_organiser_adds_another_organiser_by_email(client_for, organiser, cluster, member):
    client = client_for(organiser)

    response = client.post(
        f"/clusters/{cluster.slug}/manage/",
        {"action": "add_organiser", "email": f"  {member.user.email.upper()} "},
        follow=True,
    )

    assert f"{member.user.email} is now an organiser." in response.content.decode()
    assert client_for(member.user).get(f"/clusters/{cluster.slug}/manage/").status_code == 200


def test_adding_an_unknown_address_as_organiser_says_so(client_for, organiser, cluster):
    response = client_for(organiser).post(
        f"/clusters/{cluster.slug}/manage/",
        {"action": "add_organiser", "email": "stranger@example.org"},
        follow=True,
    )

    assert "No active member has the address stranger@example.org." in response.content.decode()
    assert ClusterOrganiser.objects.filter(cluster=cluster).count() == 1


def test_joined_dates_on_the_cluster_page_are_in_the_organisers_time_zone(
    client_for, organiser, member, cluster
):
    Profile.objects.filter(pk=member.pk).update(created_at=datetime(2024, 3, 10, 3, 30, tzinfo=UTC))
    client = client_for(organiser)

    in_brussels = client.get(f"/clusters/{cluster.slug}/manage/").content.decode()
    Profile.objects.filter(user=organiser).update(timezone="America/New_York")
    in_new_york = client.get(f"/clusters/{cluster.slug}/manage/").content.decode()

    assert "<td>10 Mar 2024</td>" in in_brussels
    assert "<td>9 Mar 2024</td>" in in_new_york


# --- other pages ---------------------------------------------------------------------


def test_organisation_list_searches_by_name_and_filters_by_kind(client_for, member, organisation):
    client = client_for(member.user)

    assert organisation.name in client.get("/organisations/?q=keller").content.decode()
    assert organisation.name not in client.get("/organisations/?q=zzz").content.decode()
    assert organisation.name not in client.get("/organisations/?kind=research").content.decode()
    assert organisation.name in client.get("/organisations/?kind=bogus").content.decode()


def test_unknown_organisation_and_cluster_pages_are_404(client_for, member):
    client = client_for(member.user)

    assert client.get("/organisations/no-such-org/").status_code == 404
    assert client.get("/clusters/no-such-cluster/").status_code == 404
