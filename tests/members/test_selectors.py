"""Who sees whom: the visibility rules of `members.selectors`, checked where members meet
them — the directory page, the API and the profile page."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from members import membership
from members.models import ClusterMembership, Organisation, Profile, User
from tests.factories import (
    ClusterFactory,
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CARD_NAME = re.compile(r'<h3><a href="/members/\d+/">([^<]*)</a></h3>')


def directory_names(client) -> set[str]:
    response = client.get("/members/")
    assert response.status_code == 200
    return {html.unescape(name) for name in CARD_NAME.findall(response.content.decode())}


def api_names(client) -> set[str]:
    response = client.get("/api/v1/members/")
    assert response.status_code == 200
    return {row["display_name"] for row in response.json()["results"]}


LISTINGS = {"directory page": directory_names, "API": api_names}


@pytest.fixture
def world(cluster, other_cluster, organisation, other_organisation, staff):
    """Three people with the three visibilities, and one viewer of every kind."""
    third_cluster = ClusterFactory(name="Aerospace Valley")
    both = OrganisationFactory(name="Bridge GmbH", clusters=[cluster, other_cluster])
    organiser_b = UserFactory()
    ClusterOrganiserFactory(cluster=other_cluster, user=organiser_b)
    organiser_a = UserFactory()
    ClusterOrganiserFactory(cluster=cluster, user=organiser_a)
    people = {
        "cluster": ProfileFactory(
            display_name="Clara Cluster", organisation=organisation, visibility="cluster"
        ),
        "members": ProfileFactory(
            display_name="Mario Members", organisation=other_organisation, visibility="members"
        ),
        "hidden": ProfileFactory(
            display_name="Hilde Hidden", organisation=organisation, visibility="hidden"
        ),
        "bridge": ProfileFactory(
            display_name="Bert Bridge", organisation=both, visibility="cluster"
        ),
    }
    viewers = {
        "same cluster": ProfileFactory(organisation=organisation).user,
        "other cluster": ProfileFactory(organisation=other_organisation).user,
        "third cluster": ProfileFactory(
            organisation=OrganisationFactory(clusters=[third_cluster])
        ).user,
        "no organisation": ProfileFactory().user,
        "asked to join, not confirmed": pending_request(organisation),
        "at a former member": ProfileFactory(
            organisation=OrganisationFactory(name="Gone AG", clusters=[])
        ).user,
        "organiser of the cluster": organiser_a,
        "organiser of another cluster": organiser_b,
        "staff": staff,
        "hidden owner": people["hidden"].user,
    }
    gone = Organisation.objects.get(name="Gone AG")
    ClusterMembership.objects.create(
        cluster=cluster,
        organisation=gone,
        status="former",
        joined_on=timezone.localdate() - timedelta(days=400),
        left_on=timezone.localdate(),
    )
    return {"people": people, "viewers": viewers}


def pending_request(organisation) -> User:
    user = ProfileFactory(display_name="Stranger Claims").user
    membership.affiliation_request(user=user, organisation=organisation)
    return user


# Names listed for each viewer, apart from the viewer's own profile.
EXPECTED_LISTING = {
    "same cluster": {"Clara Cluster", "Mario Members", "Bert Bridge"},
    "other cluster": {"Mario Members", "Bert Bridge"},
    "third cluster": {"Mario Members"},
    # Signed-in visitors: "all members" means confirmed members of a member organisation.
    "no organisation": set(),
    "asked to join, not confirmed": set(),
    "at a former member": set(),
    "organiser of the cluster": {"Clara Cluster", "Mario Members", "Bert Bridge"},
    "organiser of another cluster": {"Mario Members", "Bert Bridge"},
    "staff": {"Clara Cluster", "Mario Members", "Bert Bridge"},
    "hidden owner": {"Clara Cluster", "Mario Members", "Bert Bridge", "Hilde Hidden"},
}


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize("viewer", EXPECTED_LISTING)
def test_directory_lists_exactly_the_profiles_the_viewer_may_see(
    world, client_for, viewer, listing
):
    user = world["viewers"][viewer]
    people = {p.display_name for p in world["people"].values()}

    seen = LISTINGS[listing](client_for(user)) & people

    assert seen == EXPECTED_LISTING[viewer]


# Profile pages: like the listing, except that staff may open hidden profiles.
EXPECTED_PAGES = {
    **EXPECTED_LISTING,
    "staff": {"Clara Cluster", "Mario Members", "Bert Bridge", "Hilde Hidden"},
}


@pytest.mark.parametrize("viewer", EXPECTED_PAGES)
def test_profile_pages_open_only_for_those_who_may_see_them_and_404_for_others(
    world, client_for, viewer
):
    user = world["viewers"][viewer]
    client = client_for(user)

    for profile in world["people"].values():
        page = client.get(f"/members/{profile.pk}/")
        api = client.get(f"/api/v1/members/{profile.pk}/")
        if profile.user == user:
            assert page.status_code == 302
            assert page["Location"] == "/me/"
        elif profile.display_name in EXPECTED_PAGES[viewer]:
            assert page.status_code == 200, profile.display_name
            assert profile.display_name in page.content.decode()
            assert api.status_code == 200
        else:
            assert page.status_code == 404, profile.display_name
            assert api.status_code == 404


def test_a_member_of_another_cluster_gets_404_for_a_cluster_visible_profile(
    client_for, member, outsider
):
    client = client_for(outsider.user)

    assert client.get(f"/members/{member.pk}/").status_code == 404
    assert client.get(f"/api/v1/members/{member.pk}/").status_code == 404
    assert member.display_name not in client.get("/members/").content.decode()


def test_changing_visibility_to_members_makes_the_profile_visible_site_wide(
    client_for, member, outsider
):
    client = client_for(outsider.user)
    assert client.get(f"/members/{member.pk}/").status_code == 404

    Profile.objects.filter(pk=member.pk).update(visibility=Profile.Visibility.MEMBERS)

    assert client.get(f"/members/{member.pk}/").status_code == 200


def test_leaving_the_organisation_removes_the_profile_from_the_former_cluster(
    client_for, member, colleague
):
    client = client_for(colleague.user)
    assert member.display_name in directory_names(client)

    Profile.objects.filter(pk=member.pk).update(organisation=None)

    assert member.display_name not in directory_names(client)
    assert client.get(f"/members/{member.pk}/").status_code == 404


def test_deactivated_accounts_disappear_from_directory_and_profile_pages(
    client_for, member, colleague, staff
):
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])

    for viewer in (colleague.user, staff):
        client = client_for(viewer)
        assert member.display_name not in directory_names(client)
        assert client.get(f"/members/{member.pk}/").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in_and_the_api_refuses_them(client, member):
    for path in ("/members/", f"/members/{member.pk}/", f"/members/{member.pk}/photo/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")

    for path in ("/api/v1/members/", f"/api/v1/members/{member.pk}/", "/api/v1/me/"):
        assert client.get(path).status_code == 401


def test_organisation_page_lists_only_the_colleagues_the_viewer_may_see(
    client_for, organisation, member, outsider
):
    ProfileFactory(display_name="Hannes Hidden", organisation=organisation, visibility="hidden")
    ProfileFactory(display_name="Mia Members", organisation=organisation, visibility="members")

    page = client_for(outsider.user).get(f"/organisations/{organisation.slug}/")

    content = page.content.decode()
    assert page.status_code == 200
    assert "Mia Members" in content
    assert member.display_name not in content
    assert "Hannes Hidden" not in content


def test_viewer_clusters_are_those_in_force_today_with_the_ones_they_organise(
    django_assert_num_queries,
):
    from members.selectors import viewer_clusters

    today = timezone.localdate()
    now, ended, coming, organised = (ClusterFactory() for _ in range(4))
    firm = OrganisationFactory(clusters=[])
    for cluster, joined, left in (
        (now, today - timedelta(days=30), today + timedelta(days=30)),
        (ended, today - timedelta(days=30), today),  # left today: no longer
        (coming, today + timedelta(days=1), None),  # joins tomorrow: not yet
    ):
        ClusterMembership.objects.create(
            cluster=cluster, organisation=firm, joined_on=joined, left_on=left
        )
    person = ProfileFactory(organisation=firm).user
    ClusterOrganiserFactory(cluster=organised, user=person)

    with django_assert_num_queries(1):
        rows = viewer_clusters(user=person)
    assert rows == sorted([(now.pk, False), (organised.pk, True)])
    assert viewer_clusters(user=ProfileFactory(organisation=firm).user) == [(now.pk, False)]
    person.is_active = False
    assert viewer_clusters(user=person) == []
