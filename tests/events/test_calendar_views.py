"""Calendar downloads and feeds as a member, a visitor and a calendar app fetch them."""

from datetime import timedelta

import pytest
import vobject
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events import services
from events.models import CalendarFeed, Event, Registration, Session

Status = Registration.Status


def make_event(cluster, **fields) -> Event:
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=7)
    defaults = {
        "title": "Hydrogen valleys webinar",
        "slug": f"event-{Event.objects.count() + 1}",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "status": Event.Status.PUBLISHED,
        "audience": Event.Audience.PUBLIC,
        "timezone": "Europe/Vienna",
    }
    event = Event.objects.create(**{**defaults, **fields})
    event.clusters.add(cluster)
    return event


def parsed(response):
    """The response as a calendar app gets it, parsed by vobject (not icalendar)."""
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return vobject.readOne(response.content.decode("utf-8"), transform=False)


def uids(calendar) -> set[str]:
    return {vevent.uid.value for vevent in calendar.contents.get("vevent", [])}


def feed_url(token: str) -> str:
    return reverse("events:feed_personal", kwargs={"token": token})


# --- An event's file --------------------------------------------------------------------


def test_anyone_downloads_a_public_event_without_its_join_link(cluster, client_for):
    event = make_event(cluster, online_platform="Zoom", online_url="https://zoom.example/j/1")
    Session.objects.create(
        event=event,
        title="Q&A",
        starts_at=event.starts_at,
        ends_at=event.starts_at + timedelta(minutes=30),
    )
    response = client_for(None).get(reverse("events:calendar", kwargs={"slug": event.slug}))
    calendar = parsed(response)
    assert calendar.method.value == "PUBLISH"
    assert len(uids(calendar)) == 2
    assert b"zoom.example" not in response.content
    assert "vtimezone" in calendar.contents


def test_a_members_only_event_file_is_hidden_from_other_clusters_and_visitors(
    cluster, member, outsider, client_for
):
    event = make_event(cluster, audience=Event.Audience.MEMBERS)
    url = reverse("events:calendar", kwargs={"slug": event.slug})
    assert client_for(outsider.user).get(url).status_code == 404
    assert client_for(None).get(url).status_code == 404
    assert parsed(client_for(member.user).get(url))
    assert "private" in client_for(member.user).get(url)["Cache-Control"]


def test_a_draft_event_file_is_404(cluster, member, client_for):
    event = make_event(cluster, status=Event.Status.DRAFT)
    url = reverse("events:calendar", kwargs={"slug": event.slug})
    assert client_for(member.user).get(url).status_code == 404


# --- My invitation ----------------------------------------------------------------------


def test_my_invitation_is_a_request_with_the_join_link_then_a_cancel(cluster, member, client_for):
    event = make_event(cluster, online_platform="Zoom", online_url="https://zoom.example/j/2")
    client = client_for(member.user)
    url = reverse("events:invitation", kwargs={"slug": event.slug})
    assert client.get(url).status_code == 404  # not registered

    registration = services.event_register(event=event, user=member.user)
    response = client.get(url)
    calendar = parsed(response)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.attendee.value == f"mailto:{member.user.email}"
    assert b"zoom.example/j/2" in response.content
    assert response["Cache-Control"] == "private, no-store"

    services.registration_cancel(registration=registration, by=member.user)
    response = client.get(url)
    calendar = parsed(response)
    assert calendar.method.value == "CANCEL"
    assert calendar.vevent.status.value == "CANCELLED"
    assert b"zoom.example" not in response.content


def test_the_invitation_needs_a_sign_in_and_is_only_ever_my_own(
    cluster, member, colleague, client_for
):
    event = make_event(cluster)
    services.event_register(event=event, user=member.user)
    url = reverse("events:invitation", kwargs={"slug": event.slug})
    assert client_for(None).get(url).status_code == 302
    assert client_for(colleague.user).get(url).status_code == 404


# --- Feeds ------------------------------------------------------------------------------


def test_my_feed_lists_my_active_registrations_without_a_sign_in(
    cluster, member, colleague, client_for
):
    confirmed = make_event(cluster)
    full = make_event(cluster, capacity=1)
    services.event_register(event=full, user=colleague.user)
    left = make_event(cluster)
    others = make_event(cluster)
    services.event_register(event=confirmed, user=member.user)
    services.event_register(event=full, user=member.user)  # waitlisted
    services.registration_cancel(
        registration=services.event_register(event=left, user=member.user), by=member.user
    )
    services.event_register(event=others, user=colleague.user)
    feed = CalendarFeed.objects.create(user=member.user)

    calendar = parsed(client_for(None).get(feed_url(feed.token)))
    assert uids(calendar) == {
        f"event-{confirmed.uid}@127.0.0.1",
        f"event-{full.uid}@127.0.0.1",
    }
    statuses = {v.uid.value: v.status.value for v in calendar.contents["vevent"]}
    assert statuses[f"event-{full.uid}@127.0.0.1"] == "TENTATIVE"


def test_an_unknown_feed_token_is_404(db, client_for):
    assert client_for(None).get(feed_url("not-a-token")).status_code == 404


def test_resetting_the_token_retires_the_old_address(member, client_for):
    client = client_for(member.user)
    client.post(reverse("events:feeds"))
    old = CalendarFeed.objects.get(user=member.user).token
    assert client.get(feed_url(old)).status_code == 200

    response = client.post(reverse("events:feeds"))
    assert response.status_code == 302
    new = CalendarFeed.objects.get(user=member.user).token
    assert new != old
    assert client.get(feed_url(old)).status_code == 404
    assert client.get(feed_url(new)).status_code == 200


def test_the_feeds_page_shows_my_webcal_address_and_the_cluster_feeds(cluster, member, client_for):
    client = client_for(member.user)
    page = client.get(reverse("events:feeds"))
    assert page.status_code == 200
    assert b"webcal://testserver/events/feeds/cluster/mechatronics-ua.ics" in page.content
    assert b"/events/feeds/me/" not in page.content  # no address until asked for

    client.post(reverse("events:feeds"))
    token = CalendarFeed.objects.get(user=member.user).token
    page = client.get(reverse("events:feeds"))
    assert f"webcal://testserver/events/feeds/me/{token}.ics".encode() in page.content


def test_the_feeds_page_needs_a_sign_in(db, client_for):
    assert client_for(None).get(reverse("events:feeds")).status_code == 302
    assert client_for(None).post(reverse("events:feeds")).status_code == 302
    assert not CalendarFeed.objects.exists()


@pytest.mark.parametrize("audience", [Event.Audience.MEMBERS, Event.Audience.INVITATION])
def test_a_cluster_feed_shows_only_its_public_published_events(
    cluster, other_cluster, client_for, audience
):
    public = make_event(cluster, online_url="https://zoom.example/j/3")
    cancelled = make_event(cluster, status=Event.Status.CANCELLED)
    make_event(cluster, audience=audience)
    make_event(cluster, status=Event.Status.DRAFT)
    make_event(other_cluster)
    url = reverse("events:feed_cluster", kwargs={"cluster_slug": cluster.slug})
    response = client_for(None).get(url)
    calendar = parsed(response)
    assert uids(calendar) == {
        f"event-{public.uid}@127.0.0.1",
        f"event-{cancelled.uid}@127.0.0.1",
    }
    assert calendar.contents["x-wr-calname"][0].value == cluster.name
    assert b"zoom.example" not in response.content


def test_an_unknown_cluster_feed_is_404(db, client_for):
    url = reverse("events:feed_cluster", kwargs={"cluster_slug": "nope"})
    assert client_for(None).get(url).status_code == 404


# --- Robust text and bounded queries -----------------------------------------------------


def test_an_event_whose_title_holds_a_line_break_still_downloads(cluster, client_for):
    """The calendar name line made this a 500."""
    event = make_event(cluster, title="Hydrogen\nvalleys\r\nwebinar\x07")
    response = client_for(None).get(reverse("events:calendar", kwargs={"slug": event.slug}))
    calendar = parsed(response)
    assert calendar.contents["x-wr-calname"][0].value == "Hydrogen valleys webinar"
    assert calendar.vevent.summary.value == "Hydrogen valleys webinar"
    page = client_for(None).get(event.get_absolute_url())
    assert page.status_code == 200


def test_a_feeds_query_count_does_not_grow_with_its_events(cluster, member, organiser, client_for):
    feed = CalendarFeed.objects.create(user=member.user)
    cluster_url = reverse("events:feed_cluster", kwargs={"cluster_slug": cluster.slug})

    def counts() -> tuple[int, int]:
        found = []
        for url in (cluster_url, feed_url(feed.token)):
            with CaptureQueriesContext(connection) as queries:
                assert client_for(None).get(url).status_code == 200
            found.append(len(queries.captured_queries))
        return found[0], found[1]

    def add(n: int) -> None:
        for _ in range(n):
            event = make_event(cluster, kind=Event.Kind.TRAINING)
            for day in range(2):
                Session.objects.create(
                    event=event,
                    kind=Session.Kind.WORKSHOP,
                    title=f"Day {day + 1}",
                    starts_at=event.starts_at + timedelta(minutes=30 * day),
                    ends_at=event.starts_at + timedelta(minutes=30 * day + 20),
                )
            services.event_register(event=event, user=member.user)

    add(2)
    few = counts()
    add(6)
    many = counts()
    assert many == few
