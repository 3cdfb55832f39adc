"""A participant's pages of a brokerage day, as they use them."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from events.models import Registration
from matchmaking.brokerage.models import MarketItem, Meeting, Participant
from tests.events.factories import RegistrationFactory
from tests.factories import (
    ClusterFactory,
    ClusterOrganiserFactory,
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


def person(event, name, *, kind="sme", visibility="cluster"):
    organisation = OrganisationFactory(kind=kind, clusters=list(event.clusters.all()))
    profile = ProfileFactory(display_name=name, organisation=organisation, visibility=visibility)
    return ParticipantFactory(event=event, user=profile.user, organisation_kind=kind)


def url(event, tail=""):
    return f"/networking/{event.slug}/{tail}"


@pytest.fixture
def day():
    return BrokerageEventFactory()


@pytest.fixture
def anna(day):
    return person(day, "Anna Keller")


@pytest.fixture
def luc(day):
    return person(day, "Luc Martin", kind="research")


def seat_without_participant(event, name="Sam Seat"):
    organisation = OrganisationFactory(clusters=list(event.clusters.all()))
    profile = ProfileFactory(display_name=name, organisation=organisation)
    RegistrationFactory(event=event, user=profile.user)
    return profile.user


def member_without_seat(event, name="Nora Noseat"):
    organisation = OrganisationFactory(clusters=list(event.clusters.all()))
    return ProfileFactory(display_name=name, organisation=organisation).user


# --- who may see what ------------------------------------------------------------------


def test_a_member_without_a_seat_is_told_why_and_refused_the_marketplace(day, client_for):
    client = client_for(member_without_seat(day))
    home = client.get(url(day))
    assert home.status_code == 200
    assert "confirmed seat" in home.content.decode()
    assert day.get_absolute_url() in home.content.decode()
    for tail in ("marketplace/", "me/", "offers/", "requests/", "suggestions/", "agenda/"):
        assert client.get(url(day, tail)).status_code == 403, tail


def test_someone_on_the_waitlist_has_no_seat(day, client_for):
    user = member_without_seat(day)
    RegistrationFactory(
        event=day, user=user, status=Registration.Status.WAITLISTED, waitlist_position=1
    )
    assert client_for(user).get(url(day, "marketplace/")).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(day):
    from django.test import Client

    response = Client().get(url(day, "marketplace/"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"] or "login" in response["Location"]


def test_a_seat_holder_joins_from_the_hub(day, client_for):
    user = seat_without_participant(day)
    client = client_for(user)
    home = client.get(url(day))
    assert "Join the marketplace" in home.content.decode()
    assert client.get(url(day, "offers/")).status_code == 302  # join first
    response = client.post(url(day, "join/"))
    assert response.status_code == 302
    assert Participant.objects.filter(event=day, user=user).exists()
    assert client.get(url(day, "offers/")).status_code == 200


def test_a_managing_organiser_browses_but_has_no_participation(day, anna, client_for):
    organiser = ProfileFactory(display_name="Olga Organiser").user
    ClusterOrganiserFactory(cluster=day.clusters.first(), user=organiser)
    client = client_for(organiser)
    page = client.get(url(day, "marketplace/"))
    assert page.status_code == 200
    assert "Anna Keller" in page.content.decode()
    assert "Ask to meet" not in page.content.decode()
    assert client.get(url(day, f"people/{anna.pk}/")).status_code == 200
    assert client.get(url(day, "agenda/")).status_code == 403


def test_a_non_brokerage_or_invisible_event_is_not_found(client_for, anna):
    from tests.events.factories import EventFactory

    webinar = EventFactory(clusters=list(anna.event.clusters.all()))
    client = client_for(anna.user)
    assert client.get(url(webinar)).status_code == 404
    stranger_day = BrokerageEventFactory()  # members-only, another cluster
    assert client.get(url(stranger_day, "marketplace/")).status_code == 404


def test_hidden_profile_card_is_not_found(day, anna, client_for):
    hidden = person(day, "Hilde Hidden", visibility="hidden")
    client = client_for(anna.user)
    assert "Hilde Hidden" not in client.get(url(day, "marketplace/")).content.decode()
    assert client.get(url(day, f"people/{hidden.pk}/")).status_code == 404
    assert client.get(url(day, f"people/{hidden.pk}/meet/")).status_code == 404


def test_another_events_participant_is_not_found(day, anna, client_for):
    elsewhere = person(BrokerageEventFactory(clusters=list(day.clusters.all())), "Otto Other")
    client = client_for(anna.user)
    assert client.get(url(day, f"people/{elsewhere.pk}/")).status_code == 404


# --- the marketplace -------------------------------------------------------------------


def test_filters_on_the_page_narrow_the_cards(day, anna, luc, client_for):
    robots = TopicFactory(name="Robotics")
    MarketItemFactory(participant=luc, direction="offer", title="Soft grippers", topics=[robots])
    person(day, "Greta Fonds", kind="investor")
    client = client_for(anna.user)
    page = client.get(url(day, "marketplace/")).content.decode()
    assert "Luc Martin" in page and "Greta Fonds" in page
    assert "Anna Keller</a>" not in page  # not their own card
    narrowed = client.get(url(day, "marketplace/"), {"kind": "research"}).content.decode()
    assert "Luc Martin" in narrowed and "Greta Fonds" not in narrowed
    by_topic = client.get(url(day, "marketplace/"), {"topic": robots.pk}).content.decode()
    assert "Soft grippers" in by_topic and "Greta Fonds" not in by_topic
    by_words = client.get(url(day, "marketplace/"), {"q": "fonds"}).content.decode()
    assert "Greta Fonds" in by_words and "Luc Martin" not in by_words


def test_marketplace_is_paginated(day, anna, client_for):
    for i in range(25):
        person(day, f"Person {i:02d}")
    client = client_for(anna.user)
    first = client.get(url(day, "marketplace/")).content.decode()
    assert "Person 19" in first and "Person 20" not in first
    second = client.get(url(day, "marketplace/"), {"page": 2}).content.decode()
    assert "Person 20" in second and "Person 24" in second


# --- my offers and requests ------------------------------------------------------------


def test_publishing_an_offer_shows_it_to_others(day, anna, luc, client_for):
    robots = TopicFactory(name="Robotics")
    response = client_for(anna.user).post(
        url(day, "offers/"),
        {
            "direction": "offer",
            "type": "technology",
            "title": "Servo drives",
            "description": "Compact drives.",
            "topics": [robots.pk],
        },
    )
    assert response.status_code == 302
    item = MarketItem.objects.get(participant=anna)
    assert item.title == "Servo drives" and list(item.topics.all()) == [robots]
    page = client_for(luc.user).get(url(day, "marketplace/")).content.decode()
    assert "Servo drives" in page


def test_a_bad_item_writes_nothing(day, anna, client_for):
    response = client_for(anna.user).post(
        url(day, "offers/"), {"direction": "offer", "type": "nonsense", "title": ""}
    )
    assert response.status_code == 400
    assert not MarketItem.objects.exists()


def test_profile_suggestions_are_offered_and_can_be_added(day, client_for):
    robots = TopicFactory(name="Robotics")
    organisation = OrganisationFactory(clusters=list(day.clusters.all()))
    profile = ProfileFactory(organisation=organisation, expertise=[robots])
    me = ParticipantFactory(event=day, user=profile.user)
    page = client_for(me.user).get(url(day, "offers/")).content.decode()
    assert "Suggestions from your profile" in page and "Robotics" in page


def test_editing_and_deleting_only_my_own_items(day, anna, luc, client_for):
    mine = MarketItemFactory(participant=anna, title="Old title")
    theirs = MarketItemFactory(participant=luc)
    client = client_for(anna.user)
    assert client.get(url(day, f"offers/{theirs.pk}/")).status_code == 404
    assert client.post(url(day, f"offers/{theirs.pk}/delete/")).status_code == 404
    response = client.post(
        url(day, f"offers/{mine.pk}/"),
        {"direction": "request", "type": "expertise", "title": "New title"},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.title, mine.direction) == ("New title", "request")
    assert client.post(url(day, f"offers/{mine.pk}/delete/")).status_code == 302
    assert not MarketItem.objects.filter(pk=mine.pk).exists()
    assert MarketItem.objects.filter(pk=theirs.pk).exists()


def test_profile_edit_saves_cap_kind_headline_and_blocks(day, anna, client_for):
    block = day.meeting_blocks.get()
    response = client_for(anna.user).post(
        url(day, "me/"),
        {
            "headline": "Drives for robots",
            "organisation_kind": "large_company",
            "max_meetings": 5,
            "blocks": [block.pk],
        },
    )
    assert response.status_code == 302
    anna.refresh_from_db()
    assert (anna.headline, anna.organisation_kind, anna.max_meetings) == (
        "Drives for robots",
        "large_company",
        5,
    )


def test_profile_edit_rejects_a_cap_out_of_range(day, anna, client_for):
    response = client_for(anna.user).post(
        url(day, "me/"), {"headline": "x", "organisation_kind": "sme", "max_meetings": 500}
    )
    assert response.status_code == 400
    anna.refresh_from_db()
    assert anna.max_meetings == 12


# --- requests, answers, agenda ---------------------------------------------------------


def test_asking_to_meet_with_a_proposed_slot_and_accepting_it_places_the_meeting(
    day, anna, luc, client_for
):
    slot = day.meeting_slots.order_by("starts_at")[1]
    response = client_for(anna.user).post(
        url(day, f"people/{luc.pk}/meet/"), {"message": "Let us talk drives.", "slot": slot.pk}
    )
    assert response.status_code == 302
    meeting = Meeting.objects.get(requester=anna, recipient=luc)
    assert meeting.status == Meeting.Status.PENDING and meeting.slot == slot

    luc_client = client_for(luc.user)
    requests_page = luc_client.get(url(day, "requests/")).content.decode()
    assert "Let us talk drives." in requests_page and "Anna Keller" in requests_page
    response = luc_client.post(
        f"/networking/meeting/{meeting.pk}/answer/",
        {"action": "accept", "slot": slot.pk, "from": "requests"},
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.ACCEPTED
    assert meeting.slot == slot and meeting.table is not None
    agenda = client_for(anna.user).get(url(day, "agenda/")).content.decode()
    assert "Luc Martin" in agenda and meeting.table.name in agenda


def test_accepting_on_the_meeting_page_with_a_chosen_time(day, anna, luc, client_for):
    meeting = MeetingFactory(requester=anna, recipient=luc)
    client = client_for(luc.user)
    page = client.get(f"/networking/meeting/{meeting.pk}/").content.decode()
    assert "Choose a time you are both free" in page
    slot = day.meeting_slots.order_by("starts_at")[3]
    client.post(f"/networking/meeting/{meeting.pk}/answer/", {"action": "accept", "slot": slot.pk})
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.ACCEPTED and meeting.slot == slot


def test_decline_and_withdraw(day, anna, luc, client_for):
    received = MeetingFactory(requester=luc, recipient=anna)
    client = client_for(anna.user)
    client.post(f"/networking/meeting/{received.pk}/answer/", {"action": "decline"})
    received.refresh_from_db()
    assert received.status == Meeting.Status.DECLINED
    sent = MeetingFactory(requester=anna, recipient=person(day, "Third Person"))
    client.post(f"/networking/meeting/{sent.pk}/answer/", {"action": "withdraw"})
    sent.refresh_from_db()
    assert sent.status == Meeting.Status.WITHDRAWN


def test_the_requester_cannot_accept_their_own_request(day, anna, luc, client_for):
    meeting = MeetingFactory(requester=anna, recipient=luc)
    client_for(anna.user).post(f"/networking/meeting/{meeting.pk}/answer/", {"action": "accept"})
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.PENDING


def test_a_meeting_page_is_not_found_for_anyone_but_its_two_sides(day, anna, luc, client_for):
    meeting = MeetingFactory(requester=anna, recipient=luc)
    organiser = ProfileFactory().user
    ClusterOrganiserFactory(cluster=day.clusters.first(), user=organiser)
    for user in (person(day, "Third Person").user, organiser):
        client = client_for(user)
        assert client.get(f"/networking/meeting/{meeting.pk}/").status_code == 404
        assert (
            client.post(
                f"/networking/meeting/{meeting.pk}/answer/", {"action": "decline"}
            ).status_code
            == 404
        )
        assert client.post(f"/networking/meeting/{meeting.pk}/cancel/").status_code == 404
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.PENDING
    assert client_for(anna.user).get(f"/networking/meeting/{meeting.pk}/").status_code == 200


def test_cancelling_from_the_agenda(day, anna, luc, client_for):
    slot = day.meeting_slots.order_by("starts_at")[0]
    meeting = accepted(
        anna, luc, slot=slot, table=day.meeting_tables.first(), published_at=timezone.now()
    )
    client = client_for(luc.user)
    assert "Anna Keller" in client.get(url(day, "agenda/")).content.decode()
    client.post(f"/networking/meeting/{meeting.pk}/cancel/", {"from": "agenda"})
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.CANCELLED
    assert "Anna Keller" not in client.get(url(day, "agenda/")).content.decode()


def test_agenda_shows_my_zone_and_the_events(day, anna, luc, client_for):
    anna.user.profile.timezone = "America/New_York"
    anna.user.profile.save(update_fields=["timezone"])
    slot = day.meeting_slots.order_by("starts_at")[0]
    accepted(anna, luc, slot=slot, table=day.meeting_tables.first(), published_at=timezone.now())
    page = client_for(anna.user).get(url(day, "agenda/")).content.decode()
    assert "America/New_York" in page and "Europe/Vienna" in page


def test_printable_agenda_and_calendar_file(day, anna, luc, client_for):
    slot = day.meeting_slots.order_by("starts_at")[0]
    accepted(anna, luc, slot=slot, table=day.meeting_tables.first(), published_at=timezone.now())
    client = client_for(anna.user)
    sheet = client.get(url(day, "agenda/print/")).content.decode()
    assert "Luc Martin" in sheet and "brokerage-agenda.css" in sheet
    calendar = client.get(url(day, "agenda.ics"))
    assert calendar.status_code == 200
    assert calendar["Content-Type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in calendar.content


def test_feedback_after_the_slot(day, anna, luc, client_for):
    slot = day.meeting_slots.order_by("starts_at")[0]
    meeting = accepted(anna, luc, slot=slot, published_at=timezone.now())
    client = client_for(anna.user)
    assert "After the meeting" not in client.get(meeting.get_absolute_url()).content.decode()
    type(slot).objects.filter(pk=slot.pk).update(
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() - timedelta(minutes=40),
    )
    assert "After the meeting" in client.get(meeting.get_absolute_url()).content.decode()
    response = client.post(
        f"/networking/meeting/{meeting.pk}/feedback/", {"held": "yes", "follow_up": "yes"}
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert (meeting.requester_held, meeting.requester_follow_up) == (True, True)
    assert meeting.recipient_held is None


def test_suggestions_page_shows_people_with_their_reasons(day, anna, luc, client_for):
    robots = TopicFactory(name="Robotics")
    MarketItemFactory(participant=anna, direction="request", topics=[robots])
    MarketItemFactory(participant=luc, direction="offer", topics=[robots])
    page = client_for(anna.user).get(url(day, "suggestions/")).content.decode()
    assert "Luc Martin" in page
    assert "Luc Martin offers Robotics, which you are looking for" in page


def test_a_closed_marketplace_takes_no_new_requests(day, anna, luc, client_for):
    day.brokerage.marketplace_open = False
    day.brokerage.save(update_fields=["marketplace_open"])
    client = client_for(anna.user)
    assert "Ask to meet" not in client.get(url(day, "marketplace/")).content.decode()
    response = client.post(url(day, f"people/{luc.pk}/meet/"), {"message": "Hello"})
    assert response.status_code == 400
    assert not Meeting.objects.exists()


def test_event_page_links_seat_holders_to_the_hub(day, anna, client_for):
    hub = url(day)
    assert hub in client_for(anna.user).get(day.get_absolute_url()).content.decode()
    outsider = member_without_seat(day)
    assert hub not in client_for(outsider).get(day.get_absolute_url()).content.decode()


# --- who is shown to whom (directory rules or the person's choice) ----------------------


@pytest.fixture
def cross_cluster():
    """A day of two clusters; Clara (cluster 1) shows her profile to her cluster only,
    Sven is of cluster 2."""
    c1, c2 = ClusterFactory(), ClusterFactory()
    event = BrokerageEventFactory(clusters=[c1, c2])

    def of(cluster, name, **profile):
        organisation = OrganisationFactory(name=f"{name} GmbH", clusters=[cluster])
        user = ProfileFactory(display_name=name, organisation=organisation, **profile).user
        return ParticipantFactory(event=event, user=user)

    clara = of(c1, "Clara Cluster", visibility="cluster", job_title="Secret CTO")
    return event, clara, of(c2, "Sven Stranger"), of(c1, "Cord Colleague")


def test_a_cluster_profile_is_not_found_by_another_clusters_participant(cross_cluster, client_for):
    event, clara, sven, cord = cross_cluster
    stranger = client_for(sven.user)
    assert stranger.get(url(event, f"people/{clara.pk}/")).status_code == 404
    assert stranger.get(url(event, f"people/{clara.pk}/meet/")).status_code == 404
    assert "Clara Cluster" not in stranger.get(url(event, "marketplace/")).content.decode()
    assert "Clara Cluster" not in stranger.get(url(event, "marketplace/?q=clara")).content.decode()
    colleague_page = client_for(cord.user).get(url(event, f"people/{clara.pk}/"))
    assert colleague_page.status_code == 200 and "Secret CTO" in colleague_page.content.decode()


def test_a_card_shown_to_all_shows_the_brokerage_data_but_not_the_profile(
    cross_cluster, client_for
):
    event, clara, sven, _cord = cross_cluster
    robots = TopicFactory(name="Robotics")
    profile = clara.user.profile
    profile.interests.add(TopicFactory(name="Underwater basket weaving"))
    Participant.objects.filter(pk=clara.pk).update(shown_to_all=True, headline="Grippers")
    MarketItemFactory(participant=clara, direction="offer", title="Gripper tests", topics=[robots])
    stranger = client_for(sven.user)
    page = stranger.get(url(event, f"people/{clara.pk}/"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Clara Cluster" in text and "Clara Cluster GmbH" in text
    assert "Grippers" in text and "Gripper tests" in text
    assert "Secret CTO" not in text and "Underwater basket weaving" not in text
    market = stranger.get(url(event, "marketplace/")).content.decode()
    assert "Clara Cluster" in market and "Secret CTO" not in market
    assert stranger.get(url(event, f"people/{clara.pk}/meet/")).status_code == 200


def test_joining_with_the_choice_to_be_shown_to_all(day, client_for):
    user = seat_without_participant(day)
    client = client_for(user)
    hub = client.get(url(day)).content.decode()
    assert "Show my card to every participant of this day" in hub
    assert "offers and requests" in hub  # says what the card shows
    client.post(url(day, "join/"), {"shown_to_all": "on"})
    assert Participant.objects.get(event=day, user=user).shown_to_all is True

    other = seat_without_participant(day, name="Otto Other")
    client_for(other).post(url(day, "join/"))
    assert Participant.objects.get(event=day, user=other).shown_to_all is False


def test_the_choice_can_be_changed_on_my_participation_page(day, anna, client_for):
    client = client_for(anna.user)
    form = client.get(url(day, "me/")).content.decode()
    assert 'name="shown_to_all"' in form and "job title" in form
    data = {"headline": "", "organisation_kind": "sme", "max_meetings": 6}
    client.post(url(day, "me/"), {**data, "shown_to_all": "on"})
    anna.refresh_from_db()
    assert anna.shown_to_all is True
    client.post(url(day, "me/"), data)
    anna.refresh_from_db()
    assert anna.shown_to_all is False


# --- a meeting needs a seat ------------------------------------------------------------


def test_someone_who_left_the_event_no_longer_sees_or_acts_on_their_meeting(
    day, anna, luc, client_for
):
    table = day.meeting_tables.first()
    type(table).objects.filter(pk=table.pk).update(online_url="https://meet.example/room-7")
    meeting = accepted(
        anna,
        luc,
        slot=day.meeting_slots.order_by("starts_at")[0],
        table=table,
        published_at=timezone.now(),
    )
    client = client_for(luc.user)
    assert "room-7" in client.get(meeting.get_absolute_url()).content.decode()
    Registration.objects.filter(event=day, user=luc.user).update(
        status=Registration.Status.CANCELLED
    )
    page = client.get(meeting.get_absolute_url())
    assert page.status_code == 404 and "room-7" not in page.content.decode()
    base = f"/networking/meeting/{meeting.pk}/"
    assert client.post(f"{base}answer/", {"action": "decline"}).status_code == 404
    assert client.post(f"{base}cancel/").status_code == 404
    assert client.post(f"{base}feedback/", {"held": "yes"}).status_code == 404
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.ACCEPTED and meeting.recipient_held is None


# --- times in the event's zone, named ----------------------------------------------------


def test_proposed_times_and_blocks_are_in_the_events_zone_and_name_it(day, anna, luc, client_for):
    anna.user.profile.timezone = "America/New_York"
    anna.user.profile.save(update_fields=["timezone"])
    client = client_for(anna.user)
    slot = day.meeting_slots.order_by("starts_at")[0]
    starts = timezone.localtime(slot.starts_at, ZoneInfo(day.timezone))
    form = client.get(url(day, f"people/{luc.pk}/meet/")).content.decode()
    assert f"{starts:%H:%M}" in form and f", {day.timezone}" in form
    day.meeting_blocks.update(name="Morning")
    me = client.get(url(day, "me/")).content.decode()
    assert f"Morning ({starts:%a} {starts.day} " in me and f", {day.timezone})" in me
