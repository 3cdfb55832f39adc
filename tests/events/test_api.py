"""The events API as a cluster website, a CRM integration and a member's script use it."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from events import services
from events.models import Event, Registration, Session, StageRole
from members.api_tokens import api_token_create
from tests.factories import LanguageFactory, ProfileFactory, TopicFactory

Status = Registration.Status
LIST = reverse("events_api:event_list")
MINE = reverse("events_api:my_registrations")


def make_event(cluster, **fields) -> Event:
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=7)
    defaults = {
        "title": "Additive manufacturing webinar",
        "slug": f"event-{Event.objects.count() + 1}",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "status": Event.Status.PUBLISHED,
        "audience": Event.Audience.PUBLIC,
        "timezone": "Europe/Vienna",
    }
    topics = fields.pop("topics", [])
    event = Event.objects.create(**{**defaults, **fields})
    event.clusters.add(cluster)
    event.topics.set(topics)
    return event


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def detail(event) -> str:
    return reverse("events_api:event_detail", kwargs={"pk": event.pk})


def register(event) -> str:
    return reverse("events_api:event_register", kwargs={"pk": event.pk})


def cancel(event) -> str:
    return reverse("events_api:event_cancel", kwargs={"pk": event.pk})


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


# --- Listing and filters ------------------------------------------------------------------


def test_visitors_see_public_events_and_members_their_clusters_events(
    cluster, other_cluster, member, outsider
):
    make_event(cluster, title="Open day")
    make_event(cluster, title="Members breakfast", audience=Event.Audience.MEMBERS)
    make_event(cluster, title="Board retreat", audience=Event.Audience.INVITATION)
    make_event(cluster, title="Draft", status=Event.Status.DRAFT)
    make_event(other_cluster, title="Brittany members", audience=Event.Audience.MEMBERS)

    assert titles(api().get(LIST)) == ["Open day"]
    assert set(titles(api(member.user).get(LIST))) == {"Open day", "Members breakfast"}
    assert set(titles(api(outsider.user).get(LIST))) == {"Open day", "Brittany members"}


def test_filters_narrow_the_list(cluster, other_cluster):
    hydrogen = TopicFactory(name="Hydrogen")
    german = LanguageFactory(code="de", name="German")
    now = timezone.now()
    make_event(
        cluster,
        title="Hydrogen webinar",
        kind=Event.Kind.WEBINAR,
        online_platform="Zoom",
        topics=[hydrogen],
        language=german,
    )
    make_event(
        other_cluster,
        title="Shipyard visit",
        kind=Event.Kind.SITE_VISIT,
        venue_name="Chantier",
        starts_at=now + timedelta(days=40),
        ends_at=now + timedelta(days=40, hours=3),
    )
    make_event(
        cluster,
        title="Last year",
        starts_at=now - timedelta(days=300),
        ends_at=now - timedelta(days=300) + timedelta(hours=1),
        status=Event.Status.COMPLETED,
    )
    client = api()
    assert titles(client.get(LIST, {"kind": "site_visit"})) == ["Shipyard visit"]
    assert titles(client.get(LIST, {"topic": "hydrogen"})) == ["Hydrogen webinar"]
    assert titles(client.get(LIST, {"cluster": other_cluster.slug})) == ["Shipyard visit"]
    assert titles(client.get(LIST, {"online": "true"})) == ["Hydrogen webinar"]
    assert titles(client.get(LIST, {"format": "online"})) == ["Hydrogen webinar"]
    assert titles(client.get(LIST, {"format": "onsite"})) == ["Shipyard visit"]
    assert "Hydrogen webinar" not in titles(client.get(LIST, {"online": "false"}))
    assert titles(client.get(LIST, {"language": "de"})) == ["Hydrogen webinar"]
    assert titles(client.get(LIST, {"q": "shipyard"})) == ["Shipyard visit"]
    assert titles(client.get(LIST, {"upcoming": "false"})) == ["Last year"]
    in_a_month = (now + timedelta(days=30)).date().isoformat()
    assert titles(client.get(LIST, {"date_from": in_a_month})) == ["Shipyard visit"]
    assert titles(client.get(LIST, {"date_to": in_a_month, "upcoming": "true"})) == [
        "Hydrogen webinar"
    ]


def test_a_topic_cluster_or_language_that_names_nothing_matches_no_event(cluster):
    make_event(cluster, title="Open day")
    for name in ("topic", "cluster", "language"):
        assert titles(api().get(LIST, {name: "no-such-thing"})) == [], name


def test_a_bad_filter_value_is_a_400_with_the_field_named(db):
    response = api().get(LIST, {"date_from": "next tuesday", "kind": "party"})
    assert response.status_code == 400
    assert {"date_from", "kind"} <= set(response.json())


def test_the_list_is_paginated(cluster):
    for n in range(27):
        make_event(cluster, title=f"Event {n:02}")
    page = api().get(LIST).json()
    assert page["count"] == 27
    assert len(page["results"]) == 25
    assert page["next"]


def test_each_page_has_its_own_events_and_the_whole_count(cluster):
    for n in range(27):
        make_event(cluster, title=f"Event {n:02}")
    for _ in range(2):  # answered, then from the cache
        first, second = api().get(LIST).json(), api().get(LIST, {"page": 2}).json()
        assert [row["title"] for row in first["results"]] == [f"Event {n:02}" for n in range(25)]
        assert [row["title"] for row in second["results"]] == ["Event 25", "Event 26"]
        assert first["count"] == second["count"] == 27
        assert api().get(LIST, {"page": 3}).status_code == 404


def test_the_list_costs_the_same_queries_for_1_or_30_events(cluster, django_assert_max_num_queries):
    make_event(cluster)
    with django_assert_max_num_queries(6) as one:
        api().get(LIST)
    for _ in range(29):
        make_event(cluster, topics=[TopicFactory()])
    with django_assert_max_num_queries(len(one.captured_queries)):
        api().get(LIST)


# --- Detail --------------------------------------------------------------------------------


def test_detail_has_sessions_and_stage_roles_with_names_and_roles_only(cluster, member):
    event = make_event(cluster, kind=Event.Kind.CONFERENCE, online_url="https://zoom.example/j")
    panel = Session.objects.create(
        event=event,
        title="Panel",
        kind=Session.Kind.PANEL,
        starts_at=event.starts_at,
        ends_at=event.starts_at + timedelta(hours=1),
    )
    StageRole.objects.create(event=event, session=panel, role="moderator", profile=member)
    StageRole.objects.create(
        event=event,
        session=panel,
        role="panellist",
        guest_name="Dr. Ines Ferreira",
        guest_gender="woman",
        guest_gender_consent=True,
    )
    response = api().get(detail(event))
    assert response.status_code == 200
    body = response.json()
    assert [s["title"] for s in body["sessions"]] == ["Panel"]
    assert body["stage_roles"] == [
        {"name": "Anna Keller", "role": "moderator", "session": panel.pk},
        {"name": "Dr. Ines Ferreira", "role": "panellist", "session": panel.pk},
    ]
    text = response.content.decode().lower()
    assert "gender" not in text
    assert "woman" not in text
    assert "zoom.example" not in text
    assert body["calendar_url"].endswith(f"/events/{event.slug}/calendar.ics")


def test_detail_of_an_event_i_may_not_see_is_404(cluster, outsider):
    event = make_event(cluster, audience=Event.Audience.MEMBERS)
    assert api(outsider.user).get(detail(event)).status_code == 404
    assert api().get(detail(event)).status_code == 404


# --- Registering -----------------------------------------------------------------------------


def test_register_answers_201_confirmed_then_200_when_repeated(cluster, member):
    event = make_event(cluster)
    client = api(member.user)
    first = client.post(register(event))
    assert first.status_code == 201
    assert first.json() == {"status": "confirmed", "waitlist_position": None}
    again = client.post(register(event))
    assert again.status_code == 200
    assert again.json() == {"status": "confirmed", "waitlist_position": None}
    assert Registration.objects.filter(event=event, user=member.user).count() == 1


def test_register_when_full_joins_the_waitlist_with_a_place_in_line(cluster, organisation):
    event = make_event(cluster, capacity=1)
    first, second, third = (ProfileFactory(organisation=organisation).user for _ in range(3))
    assert api(first).post(register(event)).json()["status"] == "confirmed"
    assert api(second).post(register(event)).json() == {
        "status": "waitlisted",
        "waitlist_position": 1,
    }
    response = api(third).post(register(event))
    assert response.status_code == 201
    assert response.json() == {"status": "waitlisted", "waitlist_position": 2}
    assert api(second).post(cancel(event)).status_code == 200
    again = api(third).post(register(event))  # asked again: the place in line as it is now
    assert again.status_code == 200
    assert again.json() == {"status": "waitlisted", "waitlist_position": 1}


def test_register_for_an_approval_event_is_pending(cluster, member):
    event = make_event(cluster, approval_required=True)
    response = api(member.user).post(register(event))
    assert response.status_code == 201
    assert response.json()["status"] == "pending"


def test_register_for_a_session_a_malformed_id_is_400_and_another_events_session_409(
    cluster, other_cluster, member
):
    event = make_event(cluster, kind=Event.Kind.CONFERENCE)
    session = Session.objects.create(
        event=event,
        title="Workshop",
        starts_at=event.starts_at,
        ends_at=event.starts_at + timedelta(hours=1),
    )
    elsewhere = make_event(other_cluster)
    foreign = Session.objects.create(
        event=elsewhere,
        title="Other",
        starts_at=elsewhere.starts_at,
        ends_at=elsewhere.starts_at + timedelta(hours=1),
    )
    client = api(member.user)
    for malformed in ("abc", -3, 1.5):
        response = client.post(register(event), {"session": malformed}, format="json")
        assert response.status_code == 400, malformed
        assert "session" in response.json()
    for unknown in (999999, foreign.pk):
        response = client.post(register(event), {"session": unknown}, format="json")
        assert response.status_code == 409, unknown
        assert response.json() == {"detail": "This event has no such session."}
        assert "Retry-After" not in response

    before_event = client.post(register(event), {"session": session.pk}, format="json")
    assert before_event.status_code == 409
    assert "Register for the event" in before_event.json()["detail"]

    assert client.post(register(event)).status_code == 201
    response = client.post(register(event), {"session": session.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "confirmed"
    assert Registration.objects.filter(session=session, user=member.user).exists()


def test_a_refused_registration_is_a_409_with_the_reason(cluster, member):
    event = make_event(cluster, registration_closes_at=timezone.now() - timedelta(hours=1))
    response = api(member.user).post(register(event))
    assert response.status_code == 409
    assert "Retry-After" not in response
    assert response.json() == {"detail": "Registration has closed."}


def test_a_busy_registration_is_a_409_with_retry_after(cluster, member, monkeypatch):
    event = make_event(cluster)

    def busy(**kwargs):
        raise services.RegistrationBusy("Many people are registering right now.")

    monkeypatch.setattr(services, "event_register_outcome", busy)
    response = api(member.user).post(register(event))
    assert response.status_code == 409
    assert response["Retry-After"] == "2"
    assert response.json() == {"detail": "Many people are registering right now."}


def test_visitors_cannot_register(cluster):
    event = make_event(cluster)
    response = api().post(register(event))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert not Registration.objects.exists()


def test_registering_for_an_event_i_may_not_see_is_404(cluster, outsider):
    event = make_event(cluster, audience=Event.Audience.MEMBERS)
    assert api(outsider.user).post(register(event)).status_code == 404


# --- Cancelling and my registrations ------------------------------------------------------------


def test_cancel_frees_the_seat_for_the_next_in_line(cluster, member, colleague):
    event = make_event(cluster, capacity=1)
    api(member.user).post(register(event))
    api(colleague.user).post(register(event))
    response = api(member.user).post(cancel(event))
    assert response.status_code == 200
    assert response.json() == {"status": "cancelled", "waitlist_position": None}
    mine = api(colleague.user).get(MINE).json()["results"]
    assert [(r["event"]["id"], r["status"]) for r in mine] == [(event.pk, "confirmed")]


def test_cancel_without_a_registration_is_a_409(cluster, member):
    event = make_event(cluster)
    response = api(member.user).post(cancel(event))
    assert response.status_code == 409
    assert response.json() == {"detail": "You are not registered for this."}


def test_my_registrations_show_status_place_in_line_and_my_join_link(
    cluster, member, colleague, outsider
):
    webinar = make_event(cluster, online_url="https://zoom.example/j/1", title="Webinar")
    full = make_event(cluster, capacity=1, online_url="https://zoom.example/j/2", title="Full")
    api(outsider.user).post(register(full))
    api(colleague.user).post(register(full))
    api(member.user).post(register(webinar))
    api(member.user).post(register(full))
    mine = api(member.user).get(MINE).json()["results"]
    rows = {r["event"]["title"]: r for r in mine}
    assert rows["Webinar"]["status"] == "confirmed"
    assert rows["Webinar"]["join_url"] == "https://zoom.example/j/1"
    assert rows["Full"]["status"] == "waitlisted"
    assert rows["Full"]["waitlist_position"] == 2
    assert rows["Full"]["join_url"] is None
    assert "gender" not in str(mine).lower()


def test_my_registrations_need_a_sign_in(db):
    response = api().get(MINE)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# --- Token authentication and the schema -----------------------------------------------------


def test_a_token_authenticates_and_a_revoked_one_does_not(cluster, member):
    event = make_event(cluster, audience=Event.Audience.MEMBERS)
    token = api_token_create(user=member.user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert titles(client.get(LIST)) == [event.title]
    assert client.post(register(event)).status_code == 201

    api_token_create(user=member.user)  # replaces the key
    assert client.get(MINE).status_code == 401
    assert client.get(LIST).status_code == 401  # a wrong key is refused even where open


def test_the_openapi_schema_and_its_readable_page_are_served(db, client):
    schema = client.get(reverse("api_schema"))
    assert schema.status_code == 200
    assert b"/api/v1/events/{id}/register/" in schema.content
    docs = client.get(reverse("api_docs"), HTTP_ACCEPT="text/html")
    assert docs.status_code == 200
    assert docs["Content-Type"].startswith("text/html")
    assert b"/api/v1/me/registrations/" in docs.content
    assert b"gender" not in schema.content.lower()
