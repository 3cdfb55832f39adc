"""'People you should meet': who is suggested, in which order, and why."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from matchmaking import explanations
from matchmaking.brokerage.models import MarketItem, Meeting
from matchmaking.brokerage.recommend import recommendations_for
from members.models import Organisation
from tests.factories import (
    ClusterFactory,
    LanguageFactory,
    OrganisationFactory,
    ProfileFactory,
    TopicFactory,
)
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MarketItemFactory,
    MeetingFactory,
    ParticipantFactory,
    accepted,
)

pytestmark = pytest.mark.django_db

OFFER, REQUEST = MarketItem.Direction.OFFER, MarketItem.Direction.REQUEST


def person(event, name, *, kind="sme", visibility="cluster", max_meetings=12, **profile):
    organisation = OrganisationFactory(kind=kind, clusters=list(event.clusters.all()))
    made = ProfileFactory(
        display_name=name, organisation=organisation, visibility=visibility, **profile
    )
    return ParticipantFactory(
        event=event, user=made.user, organisation_kind=kind, max_meetings=max_meetings
    )


def who(recommendations) -> list[str]:
    return [r.participant.user.profile.display_name for r in recommendations]


def worded(recommendation) -> list[str]:
    return [explanations.render(reason) for reason in recommendation.reasons]


@pytest.fixture
def day():
    return BrokerageEventFactory()


@pytest.fixture
def robots():
    return TopicFactory(name="Robotics")


@pytest.fixture
def me(day, robots):
    anna = person(day, "Anna Keller", kind="sme")
    MarketItemFactory(
        participant=anna, direction=REQUEST, type="technology", title="Grippers", topics=[robots]
    )
    return anna


def test_someone_offering_what_i_request_comes_first_with_the_reason(day, me, robots):
    lab = person(day, "Luc Martin", kind="research")
    MarketItemFactory(participant=lab, direction=OFFER, type="technology", topics=[robots])
    person(day, "Petra Peer", kind="research")  # a complementary kind only

    found = recommendations_for(participant=me)

    assert who(found) == ["Luc Martin", "Petra Peer"]
    assert found[0].score > found[1].score
    reasons = worded(found[0])
    assert reasons[0] == "Luc Martin offers Robotics, which you are looking for"
    assert "Organisations that complement each other: university / research and SME" in reasons
    assert worded(found[1]) == [
        "Organisations that complement each other: university / research and SME"
    ]


def test_someone_looking_for_what_i_offer_is_suggested_too(day, me, robots):
    MarketItemFactory(participant=me, direction=OFFER, type="expertise", topics=[robots])
    buyer = person(day, "Bernd Buyer", kind="sme")
    MarketItemFactory(participant=buyer, direction=REQUEST, type="expertise", topics=[robots])

    found = recommendations_for(participant=me)

    assert who(found) == ["Bernd Buyer"]
    assert "Bernd Buyer is looking for Robotics, which you offer" in worded(found[0])


def test_profile_expertise_and_interests_and_a_common_language_count(day, robots):
    english = LanguageFactory(code="en", name="English")
    me = person(day, "Anna Keller", interests=[robots], languages=[english])
    expert = person(day, "Eva Expert", expertise=[robots], languages=[english])
    person(day, "Lena Language", languages=[english])  # a language alone is no reason

    found = recommendations_for(participant=me)

    assert who(found) == ["Eva Expert"]
    assert worded(found[0]) == [
        "Eva Expert has expertise in Robotics, which interests you",
        "You both speak English",
    ]
    assert found[0].participant == expert


def test_reasons_are_worded_in_the_readers_language(day, me, robots):
    lab = person(day, "Luc Martin", kind="research")
    MarketItemFactory(participant=lab, direction=OFFER, type="technology", topics=[robots])
    found = recommendations_for(participant=me)
    reason = found[0].reasons[-1]
    assert reason["msg"].startswith("Organisations that complement")
    assert reason["args"]["theirs"] == {"kind": "research"}
    with translation.override("de"):
        german = explanations.render(reason)
        german_kind = str(Organisation.Kind.RESEARCH.label)
    assert german_kind != "University / research"
    assert german_kind in german


def test_hidden_profiles_and_myself_are_never_suggested(day, me, robots):
    hidden = person(day, "Hilde Hidden", kind="research", visibility="hidden")
    MarketItemFactory(participant=hidden, direction=OFFER, topics=[robots])
    assert who(recommendations_for(participant=me)) == []


def test_colleagues_from_my_own_organisation_are_not_suggested(day, me, robots):
    colleague_profile = ProfileFactory(
        display_name="Clara Colleague", organisation=me.user.profile.organisation
    )
    colleague = ParticipantFactory(event=day, user=colleague_profile.user, organisation_kind="sme")
    MarketItemFactory(participant=colleague, direction=OFFER, topics=[robots])
    outsider = person(day, "Otto Outside", kind="research")
    MarketItemFactory(participant=outsider, direction=OFFER, topics=[robots])

    assert who(recommendations_for(participant=me)) == ["Otto Outside"]


def test_people_i_already_meet_or_asked_are_left_out(day, me, robots):
    names = ["Asked Person", "Accepted Person", "Declined Person", "Withdrawn Person"]
    people = [person(day, name, kind="research") for name in names]
    for p in people:
        MarketItemFactory(participant=p, direction=OFFER, topics=[robots])
    MeetingFactory(requester=me, recipient=people[0])
    accepted(people[1], me)
    MeetingFactory(requester=me, recipient=people[2], status=Meeting.Status.DECLINED)
    MeetingFactory(requester=me, recipient=people[3], status=Meeting.Status.WITHDRAWN)

    assert who(recommendations_for(participant=me)) == ["Withdrawn Person"]


def test_people_at_their_maximum_of_meetings_are_left_out(day, me, robots):
    busy = person(day, "Busy Person", kind="research", max_meetings=1)
    free = person(day, "Free Person", kind="research", max_meetings=1)
    for p in (busy, free):
        MarketItemFactory(participant=p, direction=OFFER, topics=[robots])
    accepted(busy, person(day, "Someone Else"))
    # A request `free` received does not fill their agenda until they accept it.
    MeetingFactory(requester=person(day, "Another One"), recipient=free)

    assert "Busy Person" not in who(recommendations_for(participant=me))
    assert "Free Person" in who(recommendations_for(participant=me))


def _queries(size: int, robots) -> int:
    event = BrokerageEventFactory()
    me = person(event, "Anna Keller", interests=[robots])
    MarketItemFactory(participant=me, direction=REQUEST, topics=[robots])
    for i in range(size):
        p = person(event, f"Person {i:03d}", kind=["sme", "research"][i % 2], expertise=[robots])
        MarketItemFactory(participant=p, direction=OFFER, topics=[robots])
    with CaptureQueriesContext(connection) as queries:
        found = recommendations_for(participant=me)
        for r in found:
            _ = r.participant.user.profile.organisation.name
    assert len(found) == min(size, 20)
    return len(queries)


def test_query_count_does_not_grow_with_the_event(robots):
    assert _queries(8, robots) == _queries(40, robots)


def test_only_people_listed_to_me_are_suggested_and_only_on_what_they_show(robots):
    c1, c2 = ClusterFactory(), ClusterFactory()
    event = BrokerageEventFactory(clusters=[c1, c2])

    def of(cluster, name, *, shown_to_all=False, **profile):
        organisation = OrganisationFactory(kind="research", clusters=[cluster])
        made = ProfileFactory(display_name=name, organisation=organisation, **profile)
        return ParticipantFactory(
            event=event, user=made.user, organisation_kind="sme", shown_to_all=shown_to_all
        )

    me = of(c2, "Sven Stranger", interests=[robots])
    MarketItemFactory(participant=me, direction=REQUEST, topics=[robots])
    # Of cluster 1, profile for their cluster only: neither is listed to me by the directory.
    secret = of(c1, "Clara Cluster", visibility="cluster")
    MarketItemFactory(participant=secret, direction=OFFER, topics=[robots])
    # Shown to all, but their expertise is of the profile I may not see.
    shown = of(c1, "Olga Open", visibility="cluster", shown_to_all=True, expertise=[robots])

    assert who(recommendations_for(participant=me)) == []  # Olga: profile fit only
    MarketItemFactory(participant=shown, direction=OFFER, type="technology", topics=[robots])
    found = recommendations_for(participant=me)
    assert who(found) == ["Olga Open"]
    assert all("expertise" not in text for text in worded(found[0]))
