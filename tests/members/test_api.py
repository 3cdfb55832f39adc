"""The read-only REST API of members data."""

import pytest

from members.models import Topic
from tests.factories import GenderIdentityFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

PROFILE_FIELDS = {
    "id",
    "url",
    "display_name",
    "organisation",
    "job_title",
    "country",
    "languages",
    "expertise",
    "interests",
    "bio",
    "mentoring_stance",
}


def test_member_rows_carry_exactly_the_public_profile_fields(client_for, member, colleague):
    GenderIdentityFactory(user=member.user, gender="woman")
    member.expertise.set([Topic.objects.get(slug="robotics")])

    rows = client_for(colleague.user).get("/api/v1/members/").json()["results"]

    [row] = [r for r in rows if r["id"] == member.pk]
    assert set(row) == PROFILE_FIELDS
    assert row["url"] == f"/members/{member.pk}/"
    assert row["organisation"] == "keller-antriebstechnik"
    assert row["expertise"] == ["robotics"]


def test_me_returns_the_callers_own_profile_and_creates_it_if_missing(client_for, member):
    assert client_for(member.user).get("/api/v1/me/").json()["display_name"] == "Anna Keller"
    newcomer = UserFactory(email="new.comer@example.org")
    assert client_for(newcomer).get("/api/v1/me/").json()["display_name"] == "new.comer"


def test_the_member_list_is_paged_by_25(client_for, colleague):
    for i in range(30):
        ProfileFactory(display_name=f"Person {i:02}", visibility="members")
    client = client_for(colleague.user)

    first = client.get("/api/v1/members/").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 31
    assert len(first["results"]) == 25
    assert len(second["results"]) == 6
    assert second["next"] is None


def test_the_api_is_read_only(client_for, member):
    client = client_for(member.user)

    assert client.post("/api/v1/members/", {"display_name": "x"}).status_code == 405
    assert client.patch(f"/api/v1/members/{member.pk}/", {}, "application/json").status_code == 405
    assert client.delete("/api/v1/me/").status_code == 405
    assert client.post("/api/v1/topics/", {"name": "x"}).status_code == 405


def test_topics_organisations_and_clusters_are_listed(client_for, member, cluster, organisation):
    client = client_for(member.user)

    topics = client.get("/api/v1/topics/").json()
    organisations = client.get("/api/v1/organisations/?q=keller").json()["results"]
    clusters = client.get("/api/v1/clusters/").json()["results"]

    assert {"slug": "robotics", "name": "Robotics", "description": ""} in topics
    assert organisations == [
        {
            "slug": "keller-antriebstechnik",
            "name": "Keller Antriebstechnik",
            "kind": "sme",
            "country": "AT",
            "region": "",
            "website": "",
            "sectors": [],
            "clusters": [cluster.slug],
        }
    ]
    assert [c["slug"] for c in clusters] == [cluster.slug]


def test_a_topic_or_sector_that_names_nothing_finds_nobody(client_for, member, colleague):
    member.expertise.set([Topic.objects.get(slug="robotics")])
    client = client_for(colleague.user)

    assert [r["id"] for r in client.get("/api/v1/members/?topic=robotics").json()["results"]] == [
        member.pk
    ]
    for query in ("topic=no-such-topic", "sector=no-such-sector"):
        response = client.get(f"/api/v1/members/?{query}")
        assert response.status_code == 200, query
        assert response.json()["results"] == [], query
