"""Conditional GETs of the events API and the calendar files and feeds: 304 while nothing
the requester sees has changed, a full answer after a registration or an edit, and never one
viewer's tag for another."""

import pytest
from django.urls import reverse

from events import authoring, calendar_services, services
from events.models import Event
from tests.events.factories import EventFactory

pytestmark = pytest.mark.django_db

LIST = reverse("events_api:event_list")


def detail(event: Event) -> str:
    return reverse("events_api:event_detail", args=[event.pk])


@pytest.mark.parametrize("which", ["list", "detail"])
def test_a_matching_etag_gets_304_until_a_registration_or_an_edit(
    client_for, cluster, member, colleague, organiser, which
):
    event = EventFactory(title="Cobots", clusters=[cluster], capacity=10)
    url = LIST if which == "list" else detail(event)
    viewer = client_for(colleague.user)
    first = viewer.get(url)
    assert first.status_code == 200 and first["ETag"]
    assert "Cookie" in first["Vary"]
    again = viewer.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304

    services.event_register(event=event, user=member.user)
    after_registration = viewer.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after_registration.status_code == 200
    assert after_registration["ETag"] != first["ETag"]

    authoring.event_update(event=event, by=organiser, changes={"title": "Cobots in practice"})
    after_edit = viewer.get(url, HTTP_IF_NONE_MATCH=after_registration["ETag"])
    assert after_edit.status_code == 200
    assert "Cobots in practice" in after_edit.content.decode()


def test_one_viewers_tag_does_not_validate_another_viewers_answer(
    client_for, cluster, member, outsider
):
    EventFactory(title="Members' dinner", clusters=[cluster])
    mine = client_for(member.user).get(LIST)
    assert "Members' dinner" in mine.content.decode()
    for other in (client_for(outsider.user), client_for()):
        theirs = other.get(LIST, HTTP_IF_NONE_MATCH=mine["ETag"])
        assert theirs.status_code == 200
        assert "dinner" not in theirs.content.decode()


def test_an_unseen_event_is_404_even_with_a_tag(client_for, cluster, member, outsider):
    event = EventFactory(title="Members' dinner", clusters=[cluster])
    tag = client_for(member.user).get(detail(event))["ETag"]
    response = client_for(outsider.user).get(detail(event), HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 404


def test_a_new_event_on_the_page_changes_the_list_tag(client_for, cluster, member):
    EventFactory(title="Cobots", clusters=[cluster])
    viewer = client_for(member.user)
    tag = viewer.get(LIST)["ETag"]
    EventFactory(title="Shipyard visit", clusters=[cluster])
    response = viewer.get(LIST, HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 200
    assert "Shipyard visit" in response.content.decode()


def test_the_calendar_file_is_304_until_a_session_changes(client_for, cluster, member, organiser):
    event = EventFactory(title="Days", clusters=[cluster], audience=Event.Audience.PUBLIC)
    url = reverse("events:calendar", args=[event.slug])
    visitor = client_for()
    first = visitor.get(url)
    assert first.status_code == 200
    assert visitor.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    authoring.session_create(
        event=event,
        by=organiser,
        fields={"title": "Opening", "starts_at": event.starts_at, "ends_at": event.ends_at},
    )
    changed = visitor.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert "Opening" in changed.content.decode()


def test_a_members_only_calendar_file_is_404_for_an_outsider_even_with_the_tag(
    client_for, cluster, member, outsider
):
    event = EventFactory(title="Members' dinner", clusters=[cluster])
    url = reverse("events:calendar", args=[event.slug])
    tag = client_for(member.user).get(url)["ETag"]
    assert client_for(outsider.user).get(url, HTTP_IF_NONE_MATCH=tag).status_code == 404


def test_the_personal_feed_is_304_until_the_owner_registers_or_an_event_moves(
    client_for, cluster, member, organiser
):
    first_event = EventFactory(title="Cobots", clusters=[cluster], capacity=10)
    second_event = EventFactory(title="Welding", clusters=[cluster], capacity=10)
    services.event_register(event=first_event, user=member.user)
    feed = calendar_services.calendar_feed_ensure(user=member.user)
    url = reverse("events:feed_personal", args=[feed.token])
    app = client_for()  # a calendar app: no session, the token is the credential
    first = app.get(url)
    assert first.status_code == 200 and "Cobots" in first.content.decode()
    assert app.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    services.event_register(event=second_event, user=member.user)
    registered = app.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert registered.status_code == 200 and "Welding" in registered.content.decode()

    authoring.event_update(event=first_event, by=organiser, changes={"title": "Cobots today"})
    moved = app.get(url, HTTP_IF_NONE_MATCH=registered["ETag"])
    assert moved.status_code == 200 and "Cobots today" in moved.content.decode()


def test_a_reset_feed_token_is_404_even_with_the_old_tag(client_for, cluster, member):
    services.event_register(event=EventFactory(clusters=[cluster]), user=member.user)
    old = calendar_services.calendar_feed_ensure(user=member.user)
    url = reverse("events:feed_personal", args=[old.token])
    tag = client_for().get(url)["ETag"]
    calendar_services.calendar_feed_reset(user=member.user)
    assert client_for().get(url, HTTP_IF_NONE_MATCH=tag).status_code == 404


def test_the_cluster_feed_is_304_until_a_public_event_is_added(client_for, cluster, organiser):
    EventFactory(title="Open day", clusters=[cluster], audience=Event.Audience.PUBLIC)
    url = reverse("events:feed_cluster", args=[cluster.slug])
    app = client_for()
    first = app.get(url)
    assert first.status_code == 200 and "Open day" in first.content.decode()
    assert app.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    EventFactory(title="Robot fair", clusters=[cluster], audience=Event.Audience.PUBLIC)
    added = app.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert added.status_code == 200 and "Robot fair" in added.content.decode()


@pytest.mark.parametrize("page", ["0", "-1", "last", "x"])
def test_odd_page_numbers_of_the_list_get_the_paginators_answer_not_a_500(client_for, page):
    EventFactory(audience=Event.Audience.PUBLIC)
    response = client_for().get(LIST, {"page": page})
    assert response.status_code in (200, 404)
