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
from tests.factories import ClusterFactory, OrganisationFactory, ProfileFactory, TopicFactory
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


def insider(event):
    """A member of an organisation of the event's clusters: the directory shows them the
    profiles of those clusters."""
    organisation = OrganisationFactory(clusters=list(event.clusters.all()))
    return ProfileFactory(display_name="Ingrid Insider", organisation=organisation).user


def names(event, viewer=None, **filters):
    """Whom `viewer` (by default an insider of the event's clusters) finds, but themself."""
    viewer = viewer or insider(event)
    found = marketplace_search(event=event, viewer=viewer, filters=MarketFilters(**filters))
    return [p.user.profile.display_name for p in found if p.user_id != viewer.pk]


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
    assert participant_get_listed(event=day, viewer=insider(day), pk=hidden.pk) is None


def test_the_hidden_profiles_items_are_not_counted_nor_their_topics_offered(day, world):
    viewer = insider(day)
    counts = market_counts(event=day, viewer=viewer)
    assert counts == {"participants": 3, "offers": 2, "requests": 1}
    facets = market_facets(event=day, viewer=viewer)
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
    viewer = insider(day)
    anna = marketplace_search(
        event=day, viewer=viewer, filters=MarketFilters(direction=REQUEST)
    ).get(pk=world["anna"].pk)
    assert [i.title for i in anna.shown_items] == ["Gripper for small parts"]
    MarketItemFactory(participant=world["anna"], direction=OFFER, title="Test bench time")
    everything = marketplace_search(event=day, viewer=viewer, filters=MarketFilters()).get(
        pk=world["anna"].pk
    )
    assert {i.title for i in everything.shown_items} == {
        "Gripper for small parts",
        "Test bench time",
    }


def test_the_viewer_is_left_out_of_their_own_search(day, world):
    found = marketplace_search(
        event=day, viewer=world["anna"].user, filters=MarketFilters(), exclude=world["anna"]
    )
    assert world["anna"] not in list(found)


def test_a_profile_visible_to_all_members_is_listed(day):
    person(day, "Maria Open", visibility=Profile.Visibility.MEMBERS)
    assert names(day) == ["Maria Open"]


def _page_queries(event, count: int, topic) -> int:
    for i in range(count):
        p = person(event, f"Person {i:03d}", kind=["sme", "research", "investor"][i % 3])
        MarketItemFactory(participant=p, direction=OFFER, topics=[topic])
        MarketItemFactory(participant=p, direction=REQUEST, topics=[topic])
    viewer = insider(event)
    with CaptureQueriesContext(connection) as queries:
        found = marketplace_search(
            event=event, viewer=viewer, filters=MarketFilters(topic=topic.pk)
        )
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
    # The viewer's clusters, the participants, their items, the items' topics.
    assert small == large == 4


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


# --- Who is listed to whom: the directory's rules, or the person's choice -----------------


@pytest.fixture
def two_clusters():
    c1, c2 = ClusterFactory(), ClusterFactory()
    return c1, c2, BrokerageEventFactory(clusters=[c1, c2])


def outsider_of(event, cluster, name, *, shown_to_all=False, visibility="cluster"):
    """A participant of `event` whose organisation belongs to `cluster` only."""
    organisation = OrganisationFactory(clusters=[cluster])
    profile = ProfileFactory(display_name=name, organisation=organisation, visibility=visibility)
    return ParticipantFactory(event=event, user=profile.user, shown_to_all=shown_to_all)


def test_a_cluster_profile_is_listed_only_to_its_cluster_unless_shown_to_all(two_clusters):
    c1, c2, event = two_clusters
    owner = outsider_of(event, c1, "Clara Cluster")
    colleague = outsider_of(event, c1, "Cord Colleague").user
    stranger = outsider_of(event, c2, "Sven Stranger").user
    assert "Clara Cluster" in names(event, viewer=colleague)
    assert "Clara Cluster" not in names(event, viewer=stranger)
    assert participant_get_listed(event=event, viewer=stranger, pk=owner.pk) is None
    assert market_counts(event=event, viewer=stranger)["participants"] == 1  # themself

    owner.shown_to_all = True
    owner.save(update_fields=["shown_to_all"])
    assert "Clara Cluster" in names(event, viewer=stranger)
    found = participant_get_listed(event=event, viewer=stranger, pk=owner.pk)
    assert found is not None and found.profile_visible is False
    assert participant_get_listed(event=event, viewer=colleague, pk=owner.pk).profile_visible


def test_someone_without_a_cluster_sees_only_those_shown_to_all(two_clusters):
    c1, _c2, event = two_clusters
    outsider_of(event, c1, "Clara Cluster")
    outsider_of(event, c1, "Maria Members", visibility=Profile.Visibility.MEMBERS)
    outsider_of(event, c1, "Olga Open", shown_to_all=True)
    loner = ParticipantFactory(event=event, user=ProfileFactory(organisation=None).user).user
    assert names(event, viewer=loner) == ["Olga Open"]


def test_shown_to_all_never_lists_a_hidden_profile(two_clusters):
    c1, c2, event = two_clusters
    outsider_of(event, c1, "Hanna Hidden", shown_to_all=True, visibility="hidden")
    stranger = outsider_of(event, c2, "Sven Stranger").user
    assert names(event, viewer=stranger) == []
    assert names(event, viewer=insider(event)) == ["Sven Stranger"]


def test_facets_and_counts_are_those_of_the_viewer(two_clusters):
    c1, c2, event = two_clusters
    robots = TopicFactory(name="Robotics")
    secret = outsider_of(event, c1, "Clara Cluster")
    MarketItemFactory(participant=secret, direction=OFFER, topics=[robots])
    stranger = outsider_of(event, c2, "Sven Stranger").user
    assert market_facets(event=event, viewer=stranger)["topics"] == []
    assert market_counts(event=event, viewer=stranger)["offers"] == 0
    colleague = outsider_of(event, c1, "Cord Colleague").user
    assert [n for _, n in market_facets(event=event, viewer=colleague)["topics"]] == ["Robotics"]


def test_query_count_is_constant_whether_listed_by_cluster_or_by_choice(two_clusters):
    c1, c2, _event = two_clusters
    topic = TopicFactory(name="Automation")
    counts = []
    for size in (6, 40):
        event = BrokerageEventFactory(clusters=[c1, c2])
        viewer = outsider_of(event, c2, "Viewer").user
        for i in range(size):
            p = outsider_of(event, (c1, c2)[i % 2], f"Person {i:03d}", shown_to_all=i % 4 == 0)
            MarketItemFactory(participant=p, direction=OFFER, topics=[topic])
        with CaptureQueriesContext(connection) as queries:
            page = list(
                marketplace_search(event=event, viewer=viewer, filters=MarketFilters(q="person"))
            )
            for p in page:
                _ = p.user.profile.organisation.name
                _ = [t.name for item in p.shown_items for t in item.topics.all()]
        assert len(page) == sum(1 for i in range(size) if i % 2 or i % 4 == 0)
        counts.append(len(queries))
    assert counts[0] == counts[1]
