"""The brokerage API: a participant's agenda and meeting requests, and answering them.

Checked against the schema the site serves (as tests/test_api_schema.py does), with real
tokens, real services and real placement.
"""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from events.models import Registration
from matchmaking.brokerage import services
from matchmaking.brokerage.models import (
    BrokerageSettings,
    Meeting,
    MeetingSeat,
    Participant,
    Slot,
    Table,
)
from members.api_tokens import api_token_create
from members.models import Profile
from tests.factories import ClusterFactory, OrganisationFactory, ProfileFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MeetingFactory,
    ParticipantFactory,
    accepted,
)
from tests.test_api_schema import conforms

pytestmark = pytest.mark.django_db

Status = Meeting.Status
AGENDA = "/api/v1/brokerage/{slug}/agenda/"
REQUESTS = "/api/v1/brokerage/{slug}/requests/"
ACCEPT = "/api/v1/brokerage/{slug}/requests/{id}/accept/"
DECLINE = "/api/v1/brokerage/{slug}/requests/{id}/decline/"


@pytest.fixture
def raw_schema(client) -> dict:
    response = client.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return response.json()


@pytest.fixture
def event(cluster):
    return BrokerageEventFactory(clusters=[cluster], slots=6, tables=3)


@pytest.fixture
def me(event, organisation):
    profile = ProfileFactory(display_name="Anna Keller", organisation=organisation)
    return ParticipantFactory(event=event, user=profile.user)


def _named(event, name: str, **kwargs):
    participant = ParticipantFactory(event=event, **kwargs)
    Profile.objects.filter(user=participant.user).update(display_name=name)
    return participant


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user).key}")
    return client


def _place(meeting: Meeting, slot: Slot, table: Table, *, published: bool = True) -> Meeting:
    meeting.slot, meeting.table = slot, table
    meeting.published_at = meeting.answered_at if published else None
    meeting.save(update_fields=["slot", "table", "published_at"])
    MeetingSeat.objects.bulk_create(
        [
            MeetingSeat(meeting=meeting, participant_id=p, slot=slot)
            for p in (meeting.requester_id, meeting.recipient_id)
        ]  # fmt: skip
    )
    return meeting


def test_the_agenda_lists_my_published_meetings_in_time_order_with_partner_and_room(
    raw_schema, event, me
):
    first, second, third = list(event.meeting_slots.order_by("starts_at"))[:3]
    hall, other_table, online = list(event.meeting_tables.order_by("position"))
    online.online_url = "https://meet.example.org/room-3"
    online.save(update_fields=["online_url"])
    ida = _named(event, "Ida Berg", organisation_kind="research")
    bo = _named(event, "Bo Lind")
    cy = _named(event, "Cy Marsh")
    later = _place(accepted(me, ida), second, hall)
    earlier = _place(accepted(bo, me), first, online)
    _place(accepted(me, cy), third, other_table, published=False)  # a run not yet published
    accepted(cy, ida)  # not mine
    MeetingFactory(requester=ParticipantFactory(event=event), recipient=me)  # pending

    response = token_client(me.user).get(AGENDA.format(slug=event.slug))

    assert response.status_code == 200
    conforms(raw_schema, AGENDA, "GET", response)
    body = response.json()
    assert [m["id"] for m in body] == [earlier.pk, later.pk]
    assert body[0]["partner"]["display_name"] == "Bo Lind"
    assert body[0]["online_url"] == "https://meet.example.org/room-3"
    assert body[1]["online_url"] is None
    assert body[1]["table"] == hall.name
    assert body[1]["partner"] == {
        "id": ida.pk,
        "display_name": "Ida Berg",
        "organisation": ida.user.profile.organisation.name,
        "organisation_kind": "research",
    }
    starts = datetime.fromisoformat(body[0]["starts_at"])
    assert starts.utcoffset() is not None and starts == first.starts_at
    assert body[0]["status"] == "accepted" and body[0]["sequence"] == 0


def test_the_agenda_takes_a_constant_number_of_queries(event, me):
    slots = list(event.meeting_slots.order_by("starts_at"))
    tables = list(event.meeting_tables.all())
    client = token_client(me.user)
    _place(accepted(me, ParticipantFactory(event=event)), slots[0], tables[0])
    with CaptureQueriesContext(connection) as one:
        assert client.get(AGENDA.format(slug=event.slug)).status_code == 200
    for i in range(1, 5):
        _place(accepted(ParticipantFactory(event=event), me), slots[i], tables[i % 3])
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(AGENDA.format(slug=event.slug)).json()) == 5
    assert len(five) == len(one)


def test_people_without_a_seat_get_404_and_anonymous_callers_401(
    raw_schema, event, me, member, organiser, staff
):
    cancelled = ParticipantFactory(event=event, registration=Registration.Status.CANCELLED)
    for user in (member.user, organiser, staff, cancelled.user):
        client = token_client(user)
        for template in (AGENDA, REQUESTS):
            response = client.get(template.format(slug=event.slug))
            assert response.status_code == 404, (user, template)
            conforms(raw_schema, template, "GET", response)
    anonymous = APIClient().get(AGENDA.format(slug=event.slug))
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    # Not a brokerage event, or none at all: the same 404.
    client = token_client(me.user)
    assert client.get(AGENDA.format(slug="no-such-day")).status_code == 404


def test_requests_are_mine_received_and_sent_filtered_and_paginated(raw_schema, event, me):
    others = [ParticipantFactory(event=event) for _ in range(4)]
    received = [MeetingFactory(requester=p, recipient=me) for p in others[:3]]
    sent = MeetingFactory(requester=me, recipient=others[3], status=Status.DECLINED)
    MeetingFactory(requester=others[0], recipient=others[1])  # not mine
    client = token_client(me.user)
    url = REQUESTS.format(slug=event.slug)

    everything = client.get(url)
    assert everything.status_code == 200
    conforms(raw_schema, REQUESTS, "GET", everything)
    body = everything.json()
    assert body["count"] == 4
    assert {r["id"] for r in body["results"]} == {m.pk for m in [*received, sent]}

    mine = client.get(url, {"direction": "received"}).json()["results"]
    assert {r["id"] for r in mine} == {m.pk for m in received}
    assert {r["direction"] for r in mine} == {"received"}
    assert all(r["expires_at"] and r["slot"] is None for r in mine)
    declined = client.get(url, {"status": "declined"}).json()["results"]
    assert [(r["id"], r["direction"]) for r in declined] == [(sent.pk, "sent")]

    bad = client.get(url, {"direction": "sideways"})
    assert bad.status_code == 400 and "direction" in bad.json()
    conforms(raw_schema, REQUESTS, "GET", bad)
    past_the_end = client.get(url, {"page": 9})
    assert past_the_end.status_code == 404
    conforms(raw_schema, REQUESTS, "GET", past_the_end)


def test_accepting_through_the_api_places_the_meeting_in_pick_mode(raw_schema, event, me):
    asker = ParticipantFactory(event=event)
    slot = event.meeting_slots.order_by("starts_at")[2]
    meeting = services.meeting_request(
        event=event, requester=asker, recipient=me, message="Shall we?", slot=slot
    )
    client = token_client(me.user)

    response = client.post(ACCEPT.format(slug=event.slug, id=meeting.pk), {}, format="json")

    assert response.status_code == 200, response.json()
    conforms(raw_schema, ACCEPT, "POST", response)
    body = response.json()
    assert body["status"] == "accepted" and body["slot"]["id"] == slot.pk
    assert body["table"]
    meeting.refresh_from_db()
    assert meeting.status == Status.ACCEPTED and meeting.slot == slot and meeting.table_id
    assert MeetingSeat.objects.filter(meeting=meeting).count() == 2
    agenda = client.get(AGENDA.format(slug=event.slug)).json()
    assert [m["id"] for m in agenda] == [meeting.pk]

    again = client.post(ACCEPT.format(slug=event.slug, id=meeting.pk), {}, format="json")
    assert again.status_code == 409 and again.json()["detail"]
    conforms(raw_schema, ACCEPT, "POST", again)


def test_only_the_recipient_answers_a_request_others_get_404(raw_schema, event, me):
    asker = ParticipantFactory(event=event)
    stranger = ParticipantFactory(event=event)
    meeting = MeetingFactory(requester=asker, recipient=me)
    for user in (asker.user, stranger.user):
        response = token_client(user).post(
            DECLINE.format(slug=event.slug, id=meeting.pk), {}, format="json"
        )
        assert response.status_code == 404
        conforms(raw_schema, DECLINE, "POST", response)
    meeting.refresh_from_db()
    assert meeting.status == Status.PENDING

    declined = token_client(me.user).post(
        DECLINE.format(slug=event.slug, id=meeting.pk), {}, format="json"
    )
    assert declined.status_code == 200
    conforms(raw_schema, DECLINE, "POST", declined)
    assert declined.json()["status"] == "declined"


def test_a_body_with_an_unknown_field_or_a_bad_slot_is_refused_and_changes_nothing(
    raw_schema, event, me
):
    meeting = MeetingFactory(requester=ParticipantFactory(event=event), recipient=me)
    client = token_client(me.user)
    url = ACCEPT.format(slug=event.slug, id=meeting.pk)

    unknown = client.post(url, {"table": 1}, format="json")
    assert unknown.status_code == 400 and "table" in unknown.json()
    conforms(raw_schema, ACCEPT, "POST", unknown)
    foreign_slot = BrokerageEventFactory().meeting_slots.first()
    elsewhere = client.post(url, {"slot": foreign_slot.pk}, format="json")
    assert elsewhere.status_code == 409
    form = client.post(url, "slot=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    conforms(raw_schema, ACCEPT, "POST", form)
    meeting.refresh_from_db()
    assert meeting.status == Status.PENDING and meeting.slot_id is None


def test_sending_a_request_through_the_api(raw_schema, event, me):
    BrokerageSettings.objects.filter(event=event).update(
        scheduling=BrokerageSettings.Scheduling.SCHEDULER
    )
    wanted = _named(event, "Ida Berg")
    hidden = ParticipantFactory(event=event)
    Profile.objects.filter(user=hidden.user).update(visibility=Profile.Visibility.HIDDEN)
    client = token_client(me.user)
    url = REQUESTS.format(slug=event.slug)

    created = client.post(url, {"recipient": wanted.pk, "message": "Hello!"}, format="json")

    assert created.status_code == 201, created.json()
    conforms(raw_schema, REQUESTS, "POST", created)
    body = created.json()
    assert body["direction"] == "sent" and body["status"] == "pending"
    assert body["partner"]["display_name"] == "Ida Berg"
    meeting = Meeting.objects.get(pk=body["id"])
    assert (meeting.requester, meeting.recipient, meeting.message) == (me, wanted, "Hello!")

    twice = client.post(url, {"recipient": wanted.pk}, format="json")
    assert twice.status_code == 409  # one live request per pair
    conforms(raw_schema, REQUESTS, "POST", twice)
    for recipient in (hidden.pk, me.pk, 10**12):
        refused = client.post(url, {"recipient": recipient}, format="json")
        assert refused.status_code == 409, recipient
    control = client.post(url, {"recipient": wanted.pk, "message": "a\x00b"}, format="json")
    assert control.status_code == 400 and "message" in str(control.json())
    huge = client.post(url, {"recipient": 2**64}, format="json")
    assert huge.status_code == 400
    assert Meeting.objects.filter(event=event).count() == 1


def test_the_schema_lists_the_brokerage_operations(raw_schema):
    paths = raw_schema["paths"]
    assert set(paths[AGENDA]) == {"get"}
    assert set(paths[REQUESTS]) == {"get", "post"}
    assert set(paths[ACCEPT]) == {"post"} and set(paths[DECLINE]) == {"post"}
    listed = {p["name"] for p in paths[REQUESTS]["get"]["parameters"]}
    assert {"slug", "direction", "status", "page"} <= listed
    for template in (ACCEPT, DECLINE):
        assert {"200", "400", "401", "403", "404", "409", "415", "429"} <= set(
            paths[template]["post"]["responses"]
        )


def test_a_request_reaches_only_someone_listed_to_the_requester(event, me):
    """A cluster-only profile of another cluster is "no such participant" through the API
    too, until that person shows their card to every participant of the day."""
    other_cluster = ClusterFactory()
    event.clusters.add(other_cluster)
    elsewhere = OrganisationFactory(clusters=[other_cluster])
    clara = ParticipantFactory(
        event=event,
        user=ProfileFactory(organisation=elsewhere, visibility=Profile.Visibility.CLUSTER).user,
    )
    client = token_client(me.user)
    url = REQUESTS.format(slug=event.slug)
    refused = client.post(url, {"recipient": clara.pk}, format="json")
    assert refused.status_code == 409
    assert not Meeting.objects.filter(event=event).exists()

    Participant.objects.filter(pk=clara.pk).update(shown_to_all=True)
    assert client.post(url, {"recipient": clara.pk}, format="json").status_code == 201
