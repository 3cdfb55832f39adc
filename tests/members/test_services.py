"""Writes to members data: topics, organiser roles, profiles, export and erasure."""

import pytest
from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied, ValidationError

from members import personal_data, services
from members.models import ClusterOrganiser, GenderIdentity, Profile, Topic, User
from tests.factories import (
    ClusterOrganiserFactory,
    GenderIdentityFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def registries(monkeypatch):
    """Empty export/erasure registries, so other apps can be stood in for by real functions."""
    monkeypatch.setattr(personal_data, "_exporters", {})
    monkeypatch.setattr(personal_data, "_erasers", {})


# --- topics --------------------------------------------------------------------------


def test_an_organiser_extends_the_topic_list(organiser):
    topic = services.topic_create(
        name="  Hydrogen\tvalleys ", description=" Electrolysers ", created_by=organiser
    )

    assert (topic.name, topic.slug, topic.description) == (
        "Hydrogen valleys",
        "hydrogen-valleys",
        "Electrolysers",
    )
    assert topic.created_by == organiser


@pytest.mark.parametrize("who", ["member", "organiser of nothing any more", "staff"])
def test_only_organisers_and_staff_extend_the_topic_list(who, member, organiser, cluster, staff):
    if who == "member":
        user = member.user
    elif who == "organiser of nothing any more":
        ClusterOrganiser.objects.filter(user=organiser).delete()
        user = organiser
    else:
        user = staff

    if who == "staff":
        assert services.topic_create(name="Staff topic", created_by=user).pk
    else:
        with pytest.raises(PermissionDenied):
            services.topic_create(name="Sneaky topic", created_by=user)
        assert not Topic.objects.filter(name="Sneaky topic").exists()


def test_a_deactivated_organiser_cannot_extend_the_topic_list(organiser):
    organiser.is_active = False
    organiser.save(update_fields=["is_active"])

    with pytest.raises(PermissionDenied):
        services.topic_create(name="Ghost topic", created_by=organiser)


@pytest.mark.parametrize("name", ["robotics", "  ROBOTICS  ", "Robotics"])
def test_a_topic_that_exists_in_any_letter_case_is_refused(organiser, name):
    with pytest.raises(ValidationError) as error:
        services.topic_create(name=name, created_by=organiser)

    assert "already exists" in str(error.value.message_dict["name"])


def test_a_blank_topic_name_is_refused(organiser):
    with pytest.raises(ValidationError) as error:
        services.topic_create(name=" \t ", created_by=organiser)

    assert "name" in error.value.message_dict


def test_a_new_topic_whose_slug_is_taken_gets_a_unique_one(organiser):
    topic = services.topic_create(name="Robotics!", created_by=organiser)

    assert topic.slug.startswith("robotics-")
    assert Topic.objects.filter(slug__startswith="robotics").count() == 2


# --- organiser roles -----------------------------------------------------------------


def test_an_organiser_grants_the_role_once_however_often_asked(organiser, cluster, member):
    first = services.organiser_grant(cluster=cluster, user=member.user, granted_by=organiser)
    again = services.organiser_grant(cluster=cluster, user=member.user, granted_by=organiser)

    assert first == again
    assert ClusterOrganiser.objects.filter(cluster=cluster, user=member.user).count() == 1


def test_a_member_cannot_grant_the_organiser_role(member, colleague, cluster):
    with pytest.raises(PermissionDenied):
        services.organiser_grant(cluster=cluster, user=member.user, granted_by=colleague.user)

    assert not ClusterOrganiser.objects.exists()


def test_an_organiser_cannot_grant_the_role_for_another_cluster(organiser, other_cluster, member):
    with pytest.raises(PermissionDenied):
        services.organiser_grant(cluster=other_cluster, user=member.user, granted_by=organiser)

    assert not ClusterOrganiser.objects.filter(cluster=other_cluster).exists()


def test_staff_grant_the_role_for_any_cluster(staff, other_cluster, member):
    services.organiser_grant(cluster=other_cluster, user=member.user, granted_by=staff)

    assert ClusterOrganiser.objects.filter(cluster=other_cluster, user=member.user).exists()


def test_only_organisers_of_the_cluster_revoke_the_role(organiser, cluster, member):
    ClusterOrganiserFactory(cluster=cluster, user=member.user)
    outsider = UserFactory()

    with pytest.raises(PermissionDenied):
        services.organiser_revoke(cluster=cluster, user=member.user, revoked_by=outsider)
    services.organiser_revoke(cluster=cluster, user=member.user, revoked_by=organiser)

    assert not ClusterOrganiser.objects.filter(user=member.user).exists()


# --- profiles ------------------------------------------------------------------------


def test_profile_create_needs_a_name_and_never_makes_a_second_profile(db):
    user = UserFactory()

    with pytest.raises(ValidationError):
        services.profile_create(user=user, display_name="   ")
    first = services.profile_create(user=user, display_name="  Jo  ")
    second = services.profile_create(user=user, display_name="Someone else")

    assert first == second
    assert Profile.objects.get(user=user).display_name == "Jo"


def test_profile_update_refuses_fields_that_are_not_editable(member):
    with pytest.raises(ValueError, match="user"):
        services.profile_update(profile=member, changes={"user": UserFactory()})


@pytest.mark.parametrize(
    "changes",
    [
        {"display_name": ""},
        {"visibility": "everyone"},
        {"mentoring_stance": "maybe"},
        {"bio": "x" * 2001},
    ],
)
def test_profile_update_validates_and_saves_nothing_when_invalid(member, changes):
    with pytest.raises(ValidationError):
        services.profile_update(profile=member, changes={"job_title": "Changed", **changes})

    member.refresh_from_db()
    assert member.job_title == ""


def test_profile_update_sets_many_to_many_lists(member):
    robotics = Topic.objects.get(slug="robotics")

    services.profile_update(profile=member, changes={"expertise": [robotics], "interests": []})

    assert list(member.expertise.all()) == [robotics]
    assert list(member.interests.all()) == []


def test_profile_ensure_creates_a_profile_named_after_the_person(db):
    named = UserFactory(first_name="Kari", last_name="Nordmann")
    unnamed = UserFactory(email="solo.person@example.org")

    assert services.profile_ensure(user=named).display_name == "Kari Nordmann"
    assert services.profile_ensure(user=unnamed).display_name == "solo.person"
    assert services.profile_ensure(user=named) == Profile.objects.get(user=named)


# --- export and erasure --------------------------------------------------------------


def test_export_includes_what_other_apps_register(member, registries):
    personal_data.register_exporter("registrations", lambda user: [f"event of {user.pk}"])

    data = services.personal_data_export(user=member.user)

    assert data["registrations"] == [f"event of {member.user.pk}"]


def test_erasure_runs_what_other_apps_register(member, registries):
    erased = []
    personal_data.register_eraser("registrations", lambda user: erased.append(user.pk))

    services.account_erase(user=member.user)

    assert erased == [member.user.pk]


def test_erasure_is_all_or_nothing(member, registries):
    GenderIdentityFactory(user=member.user, gender="man")

    def broken(user):
        raise RuntimeError("disk full")

    personal_data.register_eraser("registrations", broken)

    with pytest.raises(RuntimeError):
        services.account_erase(user=member.user)

    member.user.refresh_from_db()
    assert member.user.is_active
    assert Profile.objects.filter(pk=member.pk).exists()
    assert GenderIdentity.objects.filter(user=member.user).exists()


def test_erasure_keeps_an_anonymous_inactive_row_for_counts(member, staff):
    user = member.user
    user.first_name, user.last_name = "Anna", "Keller"
    user.save(update_fields=["first_name", "last_name"])
    other = ProfileFactory().user

    services.account_erase(user=user)
    services.account_erase(user=other)
    services.account_erase(user=staff)

    user.refresh_from_db()
    staff.refresh_from_db()
    assert (user.first_name, user.last_name, user.is_active) == ("", "", False)
    assert "anna" not in user.email.lower() and "keller" not in user.email.lower()
    assert not staff.is_staff and not staff.is_superuser
    assert User.objects.filter(erased_at__isnull=False).count() == 3
    assert not EmailAddress.objects.filter(user__in=[user, other, staff]).exists()
