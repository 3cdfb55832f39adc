"""Searching and filtering the member directory (page and API share one filter set)."""

import html
import re

import pytest

from members.models import Organisation, Sector, Topic
from tests.factories import OrganisationFactory, ProfileFactory

pytestmark = pytest.mark.django_db

CARD_NAME = re.compile(r'<h3><a href="/members/\d+/">([^<]*)</a></h3>')


@pytest.fixture
def people(cluster):
    """Four people visible to every member, each findable in a different way."""
    robotics = Topic.objects.get(slug="robotics")
    circular = Topic.objects.get(slug="circular-economy")
    energy = Sector.objects.get(slug="energy")
    maritime = Sector.objects.get(slug="maritime")
    lab = OrganisationFactory(
        name="Fraunhofer Testlab", kind=Organisation.Kind.RESEARCH, country="DE", sectors=[energy]
    )
    yard = OrganisationFactory(name="Werft Nord", kind=Organisation.Kind.LARGE_COMPANY)
    return {
        "ada": ProfileFactory(
            display_name="Ada Lindqvist",
            organisation=lab,
            country="SE",
            visibility="members",
            expertise=[robotics],
            mentoring_stance="offers",
        ),
        "ben": ProfileFactory(
            display_name="Ben Okafor",
            organisation=yard,
            country="DE",
            visibility="members",
            interests=[circular],
            sectors=[maritime],
            mentoring_stance="seeks",
        ),
        "chloe": ProfileFactory(
            display_name="Chloé Martin",
            job_title="Robot safety engineer",
            country="FR",
            visibility="members",
        ),
        "dan": ProfileFactory(display_name="Dan Novak", country="CZ", visibility="members"),
    }


@pytest.fixture
def viewer_client(client_for, cluster):
    """A member: "all members" profiles are for people confirmed at a member organisation."""
    viewer = ProfileFactory(
        display_name="Viewer Self",
        visibility="hidden",
        organisation=OrganisationFactory(clusters=[cluster]),
    )
    return client_for(viewer.user)


def found(client, query: str) -> set[str]:
    page = client.get(f"/members/?{query}")
    assert page.status_code == 200
    names = {html.unescape(n) for n in CARD_NAME.findall(page.content.decode())}
    api = client.get(f"/api/v1/members/?{query}")
    assert api.status_code == 200
    assert {row["display_name"] for row in api.json()["results"]} == names, query
    return names - {"Viewer Self"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=lindqvist", {"Ada Lindqvist"}),
        ("q=Testlab", {"Ada Lindqvist"}),
        ("q=robot", {"Ada Lindqvist", "Chloé Martin"}),  # topic name and job title
        ("q=circular", {"Ben Okafor"}),  # a topic among interests
        ("q=++", {"Ada Lindqvist", "Ben Okafor", "Chloé Martin", "Dan Novak"}),
        ("q=nobody-by-that-name", set()),
        ("topic=robotics", {"Ada Lindqvist"}),
        ("topic=circular-economy", {"Ben Okafor"}),
        ("sector=energy", {"Ada Lindqvist"}),  # through the organisation's sectors
        ("sector=maritime", {"Ben Okafor"}),  # through the person's own sectors
        ("country=DE", {"Ben Okafor"}),
        ("organisation_kind=research", {"Ada Lindqvist"}),
        ("organisation_kind=large_company", {"Ben Okafor"}),
        ("mentoring_stance=offers", {"Ada Lindqvist"}),
        ("mentoring_stance=seeks", {"Ben Okafor"}),
        ("country=DE&mentoring_stance=offers", set()),
        ("q=o&country=DE", {"Ben Okafor"}),
    ],
)
def test_search_and_filters_find_the_right_people(people, viewer_client, query, expected):
    assert found(viewer_client, query) == expected


def test_search_never_widens_visibility(people, client_for, member, outsider):
    """A cluster-only profile stays out of another cluster's results, whatever the search."""
    client = client_for(outsider.user)

    assert member.display_name not in client.get("/members/?q=Anna").content.decode()
    assert client.get("/api/v1/members/?q=Anna").json()["results"] == []


def test_an_unknown_topic_in_the_page_filter_shows_nobody_and_explains_why(people, viewer_client):
    page = viewer_client.get("/members/?topic=no-such-topic")

    assert page.status_code == 200
    assert CARD_NAME.findall(page.content.decode()) == []
    assert "Select a valid choice" in page.content.decode()


def test_an_unknown_filter_value_in_the_api_is_a_400(people, viewer_client):
    response = viewer_client.get("/api/v1/members/?mentoring_stance=sometimes")

    assert response.status_code == 400
    assert "mentoring_stance" in response.json()


def test_the_directory_keeps_the_filters_in_the_pagination_links(viewer_client):
    for i in range(30):
        ProfileFactory(
            display_name=f"Offering Mentor {i:02}", visibility="members", mentoring_stance="offers"
        )

    page = viewer_client.get("/members/?mentoring_stance=offers").content.decode()

    assert "30 members found" in page
    assert 'href="?mentoring_stance=offers&amp;page=2"' in page
