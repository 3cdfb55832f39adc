"""The marketplace's browse and search: what a participant finds, and what they never see."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Registration
from matchmaking.brokerage.marketplace import (
    MarketFilters,
    market_counts,
    market_facets,
    marketplace_search,
    participant_get_listed,
)
from matchmaking.brokerage.models import MarketItem
from members.models import Organisation, Profile
from tests.factories import OrganisationFactory, ProfileFactory, TopicFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MarketItemFactory,
    ParticipantFactory,
)

pytestmark = pytest.mark.django_db

OFFER, REQUEST = MarketItem.Direction.OFFER, MarketItem.Direction.REQUEST


def person(event, name, *, kind="sme", country="AT", visibility="cluster", org_name=None):
    named = {"name": org_name} if org_name else {}
    organisation = OrganisationFactory(
        **named,
        kind=kind,
        country=country,
        clusters=list(event.clusters.all()),
    )
    profile = ProfileFactory(display_name=name, organisation=organisation, visibility=visibility)
    return ParticipantFactory(event=event, user=profile.user, organisation_kind=kind)


def names(event, **filters):
    found = marketplace_search(event=event, filters=MarketFilters(**filters))
    return [p.user.profile.display_name for p in found]


@pytest.fixture
def day():
    return BrokerageEventFactory()


@pytest.fixture
def world(day):
    """Four participants: an Austrian SME, a French research lab, a German investor and
    a hidden Austrian SME, with offers and requests on two topics."""
    robots, hydrogen = TopicFactory(name="Robotics"), TopicFactory(name="Hydrogen")
    anna = person(day, "Anna Keller", kind="sme", country="AT", org_name="Keller Antriebe")
    lab = person(day, "Luc Martin", kind="research", country="FR", org_name="Lab Brest")
    fund = person(day, "Greta Fonds", kind="investor", country="DE", org_name="Alpen Capital")
    hidden = person(day, "Hilde Hidden", kind="sme", country="AT", visibility="hidden")
    MarketItemFactory(
        participant=anna,
        direction=REQUEST,
        type="technology",
        title="Gripper for small parts",
        topics=[robots],
    )
    MarketItemFactory(
        participant=lab,
        direction=OFFER,
        type="research_project",
        title="Soft grippers research",
        description="Our lab builds compliant grippers.",
        topics=[robots],
    )
    MarketItemFactory(
        participant=fund, direction=OFFER, type="investment", title="Seed funding", topics=[]
    )
    MarketItemFactory(
        participant=hidden,
        direction=OFFER,
        type="technology",
        title="Secret gripper",
        topics=[robots, hydrogen],
    )
    return {
        "anna": anna,
        "lab": lab,
        "fund": fund,
        "hidden": hidden,
        "robots": robots,
        "hydrogen": hydrogen,
    }


def test_everyone_listed_by_name_except_the_hidden_profile(day, world):
    assert names(day) == ["Anna Keller", "Greta Fonds", "Luc Martin"]


def test_each_filter_narrows_the_results(day, world):
    assert names(day, kind=Organisation.Kind.RESEARCH) == ["Luc Martin"]
    assert names(day, country="DE") == ["Greta Fonds"]
    assert names(day, topic=world["robots"].pk) == ["Anna Keller", "Luc Martin"]
    assert names(day, topic=world["robots"].pk, direction=OFFER) == ["Luc Martin"]
    assert names(day, item_type="investment") == ["Greta Fonds"]
    assert names(day, direction=REQUEST) == ["Anna Keller"]
    assert names(day, kind="sme", country="FR") == []


def test_free_text_finds_names_organisations_headlines_and_item_words(day, world):
    assert names(day, q="keller") == ["Anna Keller"]  # name and organisation
    assert names(day, q="alpen") == ["Greta Fonds"]  # organisation
    assert names(day, q="compliant") == ["Luc Martin"]  # an item's text
    assert names(day, q="gripper") == ["Anna Keller", "Luc Martin"]  # items' titles


def test_hidden_profile_never_found_whatever_the_filter(day, world):
    hidden = world["hidden"]
    for filters in (
        {"q": "Hilde"},
        {"q": "Secret"},
        {"topic": world["hydrogen"].pk},
        {"kind": "sme", "country": "AT"},
    ):
        assert "Hilde Hidden" not in names(day, **filters)
    assert participant_get_listed(event=day, pk=hidden.pk) is None


def test_the_hidden_profiles_items_are_not_counted_nor_their_topics_offered(day, world):
    counts = market_counts(event=day)
    assert counts == {"participants": 3, "offers": 2, "requests": 1}
    facets = market_facets(event=day)
    assert [name for _, name in facets["topics"]] == ["Robotics"]  # hydrogen: hidden's only
    assert facets["countries"] == ["AT", "DE", "FR"]


def test_someone_who_cancelled_their_registration_leaves_the_marketplace(day, world):
    Registration.objects.filter(event=day, user=world["lab"].user).update(
        status=Registration.Status.CANCELLED
    )
    assert names(day) == ["Anna Keller", "Greta Fonds"]


def test_another_events_participants_are_not_listed(day, world):
    other_day = BrokerageEventFactory(clusters=list(day.clusters.all()))
    person(other_day, "Otto Other")
    assert "Otto Other" not in names(day)
    assert names(other_day) == ["Otto Other"]


def test_cards_show_only_items_matching_the_item_filters(day, world):
    anna = marketplace_search(event=day, filters=MarketFilters(direction=REQUEST)).get(
        pk=world["anna"].pk
    )
    assert [i.title for i in anna.shown_items] == ["Gripper for small parts"]
    MarketItemFactory(participant=world["anna"], direction=OFFER, title="Test bench time")
    everything = marketplace_search(event=day, filters=MarketFilters()).get(pk=world["anna"].pk)
    assert {i.title for i in everything.shown_items} == {
        "Gripper for small parts",
        "Test bench time",
    }


def test_the_viewer_is_left_out_of_their_own_search(day, world):
    found = marketplace_search(event=day, filters=MarketFilters(), exclude=world["anna"])
    assert world["anna"] not in list(found)


def test_a_profile_visible_to_all_members_is_listed(day):
    person(day, "Maria Open", visibility=Profile.Visibility.MEMBERS)
    assert names(day) == ["Maria Open"]


def _page_queries(event, count: int, topic) -> int:
    for i in range(count):
        p = person(event, f"Person {i:03d}", kind=["sme", "research", "investor"][i % 3])
        MarketItemFactory(participant=p, direction=OFFER, topics=[topic])
        MarketItemFactory(participant=p, direction=REQUEST, topics=[topic])
    with CaptureQueriesContext(connection) as queries:
        found = marketplace_search(event=event, filters=MarketFilters(topic=topic.pk))
        page = list(found[:60])
        for p in page:
            _ = p.user.profile.organisation.name
            for item in p.shown_items:
                _ = [t.name for t in item.topics.all()]
    assert len(page) == count
    return len(queries)


def test_query_count_does_not_grow_with_the_number_of_participants():
    topic = TopicFactory(name="Automation")
    small = _page_queries(BrokerageEventFactory(), 10, topic)
    large = _page_queries(BrokerageEventFactory(), 60, topic)
    assert small == large == 3


def test_marketplace_page_query_count_is_the_same_for_10_and_60_participants(client_for):
    topic = TopicFactory(name="Automation")
    counts = []
    for size in (10, 60):
        event = BrokerageEventFactory()
        viewer = person(event, "Viewer Person")
        for i in range(size):
            p = person(event, f"Person {i:03d}", kind=["sme", "research"][i % 2])
            MarketItemFactory(participant=p, direction=OFFER, topics=[topic])
        client = client_for(viewer.user)
        url = f"/networking/{event.slug}/marketplace/"
        client.get(url)  # warm caches (session, site)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"direction": "offer"})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
