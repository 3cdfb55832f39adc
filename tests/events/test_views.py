"""The event pages as members see them: finding events, reading them, registering in one click."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events import services
from events.models import Event, Registration, Session, StageRole
from members.models import Language
from tests.events.factories import (
    EventFactory,
    RegistrationFactory,
    SessionFactory,
    StageRoleFactory,
)
from tests.factories import ClusterFactory, ProfileFactory, TopicFactory

pytestmark = pytest.mark.django_db
Status = Registration.Status


def titles(response) -> list[str]:
    return [event.title for event in response.context["page_obj"].object_list]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def page(response) -> str:
    return response.content.decode()


# --- the list ------------------------------------------------------------------------------


def test_the_list_filters_by_kind_topic_cluster_language_and_format(
    client_for, cluster, other_cluster, member
):
    robotics = TopicFactory(name="Robotics test topic")
    german = Language.objects.get_or_create(code="de", defaults={"name": "German"})[0]
    EventFactory(
        title="Cobots webinar",
        clusters=[cluster],
        topics=[robotics],
        online_platform="Zoom",
        language=german,
    )
    EventFactory(
        title="Shipyard visit",
        kind=Event.Kind.SITE_VISIT,
        clusters=[cluster, other_cluster],
        venue_name="Chantiers Le Goff",
        audience=Event.Audience.PUBLIC,
    )
    client = client_for(member.user)
    url = reverse("events:list")

    assert titles(client.get(url, {"kind": "site_visit"})) == ["Shipyard visit"]
    assert titles(client.get(url, {"topic": robotics.slug})) == ["Cobots webinar"]
    assert titles(client.get(url, {"cluster": other_cluster.slug})) == ["Shipyard visit"]
    assert titles(client.get(url, {"language": "de"})) == ["Cobots webinar"]
    assert titles(client.get(url, {"format": "online"})) == ["Cobots webinar"]
    assert titles(client.get(url, {"format": "onsite"})) == ["Shipyard visit"]
    assert titles(client.get(url)) == ["Cobots webinar", "Shipyard visit"]


def test_the_list_search_looks_in_titles_summaries_and_descriptions(client_for, cluster, member):
    EventFactory(title="Hydrogen day", clusters=[cluster])
    EventFactory(
        title="Lean morning", description="Value stream mapping for SMEs", clusters=[cluster]
    )
    client = client_for(member.user)

    assert titles(client.get(reverse("events:list"), {"q": "hydrogen"})) == ["Hydrogen day"]
    assert titles(client.get(reverse("events:list"), {"q": "stream MAPPING"})) == ["Lean morning"]


def test_the_list_date_range_keeps_events_running_within_it(client_for, cluster, member):
    base = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=30)
    EventFactory(title="In range", clusters=[cluster], starts_at=base)
    EventFactory(title="Too late", clusters=[cluster], starts_at=base + timedelta(days=10))
    EventFactory(title="Too early", clusters=[cluster], starts_at=base - timedelta(days=10))
    day = timezone.localdate(base)

    response = client_for(member.user).get(
        reverse("events:list"),
        {"date_from": (day - timedelta(days=1)).isoformat(), "date_to": day.isoformat()},
    )

    assert titles(response) == ["In range"]


def test_the_list_shows_upcoming_events_by_default_and_past_ones_on_request(
    client_for, cluster, member
):
    now = timezone.now()
    EventFactory(title="Next week", clusters=[cluster])
    EventFactory(
        title="Last month",
        clusters=[cluster],
        starts_at=now - timedelta(days=30),
        status=Event.Status.COMPLETED,
    )
    EventFactory(title="Last year", clusters=[cluster], starts_at=now - timedelta(days=365))
    client = client_for(member.user)

    assert titles(client.get(reverse("events:list"))) == ["Next week"]
    assert titles(client.get(reverse("events:list"), {"when": "past"})) == [
        "Last month",
        "Last year",
    ]


def test_the_list_shows_twenty_events_a_page(client_for, cluster, member):
    start = timezone.now() + timedelta(days=1)
    for i in range(21):
        EventFactory(clusters=[cluster], starts_at=start + timedelta(hours=i))
    client = client_for(member.user)

    assert len(titles(client.get(reverse("events:list")))) == 20
    assert len(titles(client.get(reverse("events:list"), {"page": 2}))) == 1


def test_every_page_number_shows_the_page_the_paginator_means_with_the_right_count(
    client_for, cluster, member
):
    start = timezone.now() + timedelta(days=1)
    for i in range(45):
        EventFactory(
            clusters=[cluster], title=f"Event {i:02}", starts_at=start + timedelta(hours=i)
        )
    client = client_for(member.user)
    pages = {
        "1": [f"Event {i:02}" for i in range(20)],
        "3": [f"Event {i:02}" for i in range(40, 45)],
        "99": [f"Event {i:02}" for i in range(40, 45)],  # past the end: the last page
        "0": [f"Event {i:02}" for i in range(40, 45)],
        "two": [f"Event {i:02}" for i in range(20)],  # not a number: the first
    }
    for _ in range(2):  # rendered, then from the cache (no context then: read the page)
        for number, expected in pages.items():
            page = client.get(reverse("events:list"), {"page": number}).content.decode()
            assert re.findall(r'event-card">\s*<h3><a href="[^"]*">([^<]*)</a>', page) == expected
            assert "45 events found" in page, number


def test_an_invalid_filter_value_shows_no_results_rather_than_an_error(client_for, cluster, member):
    EventFactory(clusters=[cluster])

    response = client_for(member.user).get(reverse("events:list"), {"date_from": "not-a-date"})

    assert response.status_code == 200
    assert titles(response) == []


# --- who sees what ---------------------------------------------------------------------


def test_a_members_only_event_is_not_found_by_a_member_of_another_cluster(
    client_for, cluster, outsider
):
    event = EventFactory(title="Members only", clusters=[cluster])
    client = client_for(outsider.user)

    assert client.get(event.get_absolute_url()).status_code == 404
    assert "Members only" not in page(client.get(reverse("events:list")))
    assert client.get(reverse("events:timetable", args=[event.slug])).status_code == 404


def test_a_public_event_is_visible_to_anonymous_visitors_and_members_only_ones_are_not(
    client, cluster
):
    public = EventFactory(title="Open day", clusters=[cluster], audience=Event.Audience.PUBLIC)
    members_only = EventFactory(title="Board meeting", clusters=[cluster])

    assert titles(client.get(reverse("events:list"))) == ["Open day"]
    assert client.get(public.get_absolute_url()).status_code == 200
    assert client.get(members_only.get_absolute_url()).status_code == 404


def test_a_draft_is_seen_only_by_the_organisers_who_get_a_link_to_their_dashboard(
    client_for, cluster, member, organiser
):
    draft = EventFactory(title="Draft event", clusters=[cluster], status=Event.Status.DRAFT)
    published = EventFactory(title="Published event", clusters=[cluster])
    dashboard = f'href="/events/{draft.slug}/manage/"'

    assert client_for(member.user).get(draft.get_absolute_url()).status_code == 404
    assert titles(client_for(member.user).get(reverse("events:list"))) == ["Published event"]
    response = client_for(organiser).get(draft.get_absolute_url())
    assert response.status_code == 200
    assert dashboard in page(response)
    assert f"/events/{published.slug}/manage/" not in page(
        client_for(member.user).get(published.get_absolute_url())
    )


# --- the event page --------------------------------------------------------------------


def test_the_join_link_is_shown_only_to_confirmed_participants(
    client_for, cluster, organisation, member, colleague
):
    join = "https://meet.example.org/j/secret-room-42"
    event = EventFactory(clusters=[cluster], capacity=1, online_platform="Jitsi", online_url=join)
    waitlisted = ProfileFactory(organisation=organisation).user
    assert services.event_register(event=event, user=member.user).status == Status.CONFIRMED
    assert services.event_register(event=event, user=waitlisted).status == Status.WAITLISTED

    assert join in page(client_for(member.user).get(event.get_absolute_url()))
    assert join not in page(client_for(waitlisted).get(event.get_absolute_url()))
    assert join not in page(client_for(colleague.user).get(event.get_absolute_url()))
    event.audience = Event.Audience.PUBLIC
    event.save(update_fields=["audience"])
    assert join not in page(client_for(None).get(event.get_absolute_url()))


def test_recording_and_materials_appear_once_the_event_is_over(client_for, cluster, member):
    now = timezone.now()
    links = {
        "recording_url": "https://video.example.org/rec-1",
        "materials_url": "https://files.example.org/slides-1",
    }
    upcoming = EventFactory(clusters=[cluster], **links)
    over = EventFactory(clusters=[cluster], starts_at=now - timedelta(days=2), **links)
    client = client_for(member.user)

    assert links["recording_url"] not in page(client.get(upcoming.get_absolute_url()))
    after = page(client.get(over.get_absolute_url()))
    assert links["recording_url"] in after
    assert links["materials_url"] in after


def test_speakers_show_name_role_and_organisation_and_never_a_gender(
    client_for, cluster, organisation, member
):
    event = EventFactory(clusters=[cluster])
    speaker = ProfileFactory(display_name="Dora Speaker", organisation=organisation)
    StageRoleFactory(event=event, profile=speaker, guest_name="", role=StageRole.Role.MODERATOR)
    StageRoleFactory(
        event=event,
        guest_name="Gwen Guest",
        guest_organisation="TU Wien",
        role=StageRole.Role.PANELLIST,
        guest_gender="woman",
        guest_gender_consent=True,
    )

    html = page(client_for(member.user).get(event.get_absolute_url()))

    assert "Dora Speaker" in html
    assert organisation.name in html
    assert "Moderator" in html
    assert "Gwen Guest" in html
    assert "TU Wien" in html
    assert "Panellist" in html
    assert "woman" not in html.lower()


def test_the_description_is_rendered_as_markdown_without_scripts(client_for, cluster, member):
    event = EventFactory(
        clusters=[cluster],
        description="**Bring** a [laptop](https://example.org/kit).\n\n<script>alert(1)</script>",
    )

    html = page(client_for(member.user).get(event.get_absolute_url()))

    assert "<strong>Bring</strong>" in html
    assert 'href="https://example.org/kit"' in html
    assert "<script>alert(1)" not in html


def test_the_page_shows_capacity_seats_left_and_the_viewers_status(
    client_for, cluster, organisation, member
):
    event = EventFactory(clusters=[cluster], capacity=3)
    services.event_register(event=event, user=member.user)

    html = page(client_for(member.user).get(event.get_absolute_url()))

    assert "3 seats" in html
    assert "2 seats left" in html
    assert "<strong>Confirmed</strong>" in html


def test_times_are_shown_in_the_viewers_zone_with_the_events_zone_stated_across_dst(
    client_for, cluster, member
):
    """Europe switches to summer time on 28 March 2027; Lisbon and Vienna stay an hour apart."""
    member.timezone = "Europe/Lisbon"
    member.save(update_fields=["timezone"])
    before = EventFactory(
        clusters=[cluster],
        starts_at=datetime(2027, 3, 27, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 27, 15, 0, tzinfo=UTC),
    )
    after = EventFactory(
        clusters=[cluster],
        starts_at=datetime(2027, 3, 28, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 15, 0, tzinfo=UTC),
    )
    client = client_for(member.user)

    winter = " ".join(page(client.get(before.get_absolute_url())).split())
    summer = " ".join(page(client.get(after.get_absolute_url())).split())

    assert "Saturday 27 March 2027, 13:00–15:00</time> your time (Europe/Lisbon)" in winter
    assert "· 14:00–16:00 in Europe/Vienna, where it happens" in winter
    assert "Sunday 28 March 2027, 14:00–16:00</time> your time (Europe/Lisbon)" in summer
    assert "· 15:00–17:00 in Europe/Vienna, where it happens" in summer


def test_anonymous_visitors_see_the_events_own_zone_only(client, cluster):
    event = EventFactory(
        clusters=[cluster],
        audience=Event.Audience.PUBLIC,
        starts_at=datetime(2027, 3, 28, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 15, 0, tzinfo=UTC),
    )

    html = " ".join(page(client.get(event.get_absolute_url())).split())

    assert "Sunday 28 March 2027, 15:00–17:00</time> (Europe/Vienna)" in html
    assert "your time" not in html


def test_add_to_calendar_links_carry_the_utc_times(client_for, cluster, member):
    event = EventFactory(
        clusters=[cluster],
        starts_at=datetime(2027, 3, 28, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 15, 0, tzinfo=UTC),
    )

    html = page(client_for(member.user).get(event.get_absolute_url()))

    assert f'href="/events/{event.slug}/calendar.ics"' in html
    assert "calendar.google.com" in html
    assert "dates=20270328T130000Z%2F20270328T150000Z" in html
    assert "outlook.live.com" in html
    assert "startdt=2027-03-28T13%3A00%3A00Z" in html


# --- one-click registration -------------------------------------------------------------


def test_one_click_registers_and_confirms_by_mail(
    client_for, cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(title="Cobots", clusters=[cluster], capacity=10)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(member.user).post(reverse("events:register", args=[event.slug]))

    assert response.status_code == 302
    assert response["Location"] == event.get_absolute_url()
    assert Registration.objects.get(event=event, user=member.user).status == Status.CONFIRMED
    assert messages_of(response) == ["You are registered for “Cobots”."]
    assert [m.to for m in mailoutbox] == [[member.user.email]]


def test_registering_for_a_full_event_joins_the_waitlist_with_its_number(
    client_for, cluster, organisation, member
):
    event = EventFactory(clusters=[cluster], capacity=1)
    first, second = (ProfileFactory(organisation=organisation).user for _ in range(2))
    services.event_register(event=event, user=first)
    services.event_register(event=event, user=second)

    response = client_for(member.user).post(reverse("events:register", args=[event.slug]))

    assert Registration.objects.get(event=event, user=member.user).status == Status.WAITLISTED
    assert messages_of(response) == ["The event is full: you are number 2 on the waitlist."]
    detail = page(client_for(member.user).get(event.get_absolute_url()))
    assert "number 2 on the waitlist" in detail
    assert "Leave the waitlist" in detail


def test_an_event_needing_approval_says_it_awaits_the_organisers(client_for, cluster, member):
    event = EventFactory(title="Closed circle", clusters=[cluster], approval_required=True)

    response = client_for(member.user).post(reverse("events:register", args=[event.slug]))

    assert Registration.objects.get(event=event, user=member.user).status == Status.PENDING
    assert messages_of(response)[0].startswith("Awaiting the organisers' approval")


def test_cancelling_frees_the_seat_for_the_next_in_line_who_is_told(
    client_for,
    cluster,
    organisation,
    member,
    colleague,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    event = EventFactory(title="Tiny workshop", clusters=[cluster], capacity=1)
    services.event_register(event=event, user=member.user)
    services.event_register(event=event, user=colleague.user)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(member.user).post(reverse("events:cancel", args=[event.slug]))

    assert response.status_code == 302
    assert messages_of(response) == ["Your registration is cancelled."]
    assert Registration.objects.get(event=event, user=member.user).status == Status.CANCELLED
    promoted = Registration.objects.get(event=event, user=colleague.user)
    assert promoted.status == Status.CONFIRMED
    assert promoted.waitlist_position is None
    assert colleague.user.email in [address for m in mailoutbox for address in m.to]


def test_a_refused_registration_says_why_and_goes_back_to_the_event(client_for, cluster, member):
    event = EventFactory(
        clusters=[cluster], registration_closes_at=timezone.now() - timedelta(hours=1)
    )

    response = client_for(member.user).post(reverse("events:register", args=[event.slug]))

    assert response.status_code == 302
    assert response["Location"] == event.get_absolute_url()
    assert messages_of(response) == ["Registration has closed."]
    assert not Registration.objects.filter(event=event).exists()


def test_a_busy_capacity_lock_asks_to_try_again(client_for, cluster, member, monkeypatch):
    """SQLite cannot make a lock wait run out in a unit test: the service's answer is forced."""
    event = EventFactory(clusters=[cluster])

    def busy(**kwargs):
        raise services.RegistrationBusy("busy")

    monkeypatch.setattr(services, "event_register", busy)
    response = client_for(member.user).post(reverse("events:register", args=[event.slug]))

    assert response.status_code == 302
    assert "try again" in messages_of(response)[0]


def test_cancelling_without_a_registration_says_so(client_for, cluster, member):
    event = EventFactory(clusters=[cluster])

    response = client_for(member.user).post(reverse("events:cancel", args=[event.slug]))

    assert response.status_code == 302
    assert messages_of(response) == ["You were not registered."]


def test_anonymous_visitors_are_sent_to_sign_in_and_back_to_the_event(client, cluster):
    event = EventFactory(clusters=[cluster], audience=Event.Audience.PUBLIC)

    response = client.post(reverse("events:register", args=[event.slug]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert f"next=/events/{event.slug}/" in response["Location"]
    assert not Registration.objects.exists()


def test_registration_happens_by_post_only(client_for, cluster, member):
    event = EventFactory(clusters=[cluster])

    response = client_for(member.user).get(reverse("events:register", args=[event.slug]))

    assert response.status_code == 405
    assert not Registration.objects.exists()


def test_nobody_registers_for_an_event_they_cannot_see(client_for, cluster, outsider):
    event = EventFactory(clusters=[cluster])

    response = client_for(outsider.user).post(reverse("events:register", args=[event.slug]))

    assert response.status_code == 404
    assert not Registration.objects.exists()


# --- conference sessions ----------------------------------------------------------------


@pytest.fixture
def conference(cluster):
    start = (timezone.now() + timedelta(days=20)).replace(hour=8, minute=0, second=0)
    return EventFactory(
        title="Mechatronics Days",
        kind=Event.Kind.CONFERENCE,
        clusters=[cluster],
        starts_at=start,
        ends_at=start + timedelta(hours=10),
    )


def test_a_session_needs_a_seat_at_the_event_first(client_for, conference, member):
    talk = SessionFactory(event=conference)

    response = client_for(member.user).post(
        reverse("events:session_register", args=[conference.slug, talk.pk])
    )

    assert response.status_code == 302
    assert response["Location"] == f"{conference.get_absolute_url()}#session-{talk.pk}"
    assert messages_of(response) == ["Register for the event before choosing its sessions."]


def test_an_overlapping_session_is_refused_with_a_clear_message(client_for, conference, member):
    first = SessionFactory(event=conference, title="Digital twins", track="A")
    clash = SessionFactory(
        event=conference,
        title="Cobots on the line",
        track="B",
        starts_at=first.starts_at + timedelta(minutes=15),
    )
    client = client_for(member.user)
    client.post(reverse("events:register", args=[conference.slug]))

    client.post(reverse("events:session_register", args=[conference.slug, first.pk]))
    response = client.post(reverse("events:session_register", args=[conference.slug, clash.pk]))

    assert messages_of(response)[-1] == (
        "This session overlaps “Digital twins”, which you are registered for."
    )
    assert Registration.objects.filter(user=member.user, session=first).exists()
    assert not Registration.objects.filter(user=member.user, session=clash).exists()


def test_a_session_place_can_be_cancelled_and_freed_for_the_next(
    client_for, conference, member, colleague
):
    workshop = SessionFactory(event=conference, title="Hands-on PLC", capacity=1)
    for user in (member.user, colleague.user):
        services.event_register(event=conference, user=user)
        services.event_register(event=conference, user=user, session=workshop)

    response = client_for(member.user).post(
        reverse("events:session_cancel", args=[conference.slug, workshop.pk])
    )

    assert messages_of(response) == ["Your place in “Hands-on PLC” is cancelled."]
    assert Registration.objects.get(user=colleague.user, session=workshop).status == (
        Status.CONFIRMED
    )


def test_the_event_page_lists_sessions_with_register_buttons_for_participants(
    client_for, conference, member
):
    talk = SessionFactory(event=conference, title="Vision systems", room="Hall 2")
    services.event_register(event=conference, user=member.user)

    html = page(client_for(member.user).get(conference.get_absolute_url()))

    assert "Vision systems" in html
    assert "Hall 2" in html
    assert reverse("events:session_register", args=[conference.slug, talk.pk]) in html


def test_the_timetable_groups_sessions_by_day_in_the_events_zone_with_tracks_as_columns(
    client_for, cluster, member
):
    conference = EventFactory(
        kind=Event.Kind.CONFERENCE,
        clusters=[cluster],
        timezone="Europe/Vienna",
        starts_at=datetime(2027, 3, 27, 7, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 22, 30, tzinfo=UTC),
    )
    SessionFactory(
        event=conference,
        title="Opening keynote",
        kind=Session.Kind.KEYNOTE,
        starts_at=datetime(2027, 3, 27, 7, 0, tzinfo=UTC),
    )
    SessionFactory(
        event=conference,
        title="Robots",
        track="Automation",
        room="A1",
        starts_at=datetime(2027, 3, 27, 8, 0, tzinfo=UTC),
    )
    SessionFactory(
        event=conference,
        title="Sensors",
        track="Data",
        room="B2",
        starts_at=datetime(2027, 3, 27, 8, 0, tzinfo=UTC),
    )
    # 23:15 UTC on 27 March is 00:15 on 28 March in Vienna: the second day.
    SessionFactory(
        event=conference,
        title="Midnight networking",
        starts_at=datetime(2027, 3, 27, 23, 15, tzinfo=UTC),
    )
    SessionFactory(
        event=conference,
        title="Day two opening",
        starts_at=datetime(2027, 3, 28, 8, 0, tzinfo=UTC),
    )

    response = client_for(member.user).get(reverse("events:timetable", args=[conference.slug]))

    days = response.context["days"]
    assert [str(day.date) for day in days] == ["2027-03-27", "2027-03-28"]
    assert days[0].tracks == ["Automation", "Data"]
    html = " ".join(page(response).split())
    assert '<th scope="col">Automation</th><th scope="col">Data</th>' in html
    assert "· A1" in html  # the room, as the organiser named it
    assert "Times are those of Europe/Vienna" in html
    assert ">08:00</time>" in html  # the keynote, 07:00 UTC in winter time (UTC+1)
    assert ">00:15</time>" in html
    assert ">10:00</time>" in html  # day two, 08:00 UTC in summer time (UTC+2)
    assert [s.title for row in days[1].rows for s in row.plenary] == [
        "Midnight networking",
        "Day two opening",
    ]


# --- my events ----------------------------------------------------------------------------


def test_my_events_lists_registered_waiting_and_attended_events(
    client_for, cluster, organisation, member
):
    now = timezone.now()
    EventFactory(title="Someone else's", clusters=[cluster])
    confirmed = EventFactory(title="Seat held", clusters=[cluster])
    full = EventFactory(title="Full house", clusters=[cluster], capacity=1)
    pending = EventFactory(title="By approval", clusters=[cluster], approval_required=True)
    past = EventFactory(title="Last spring", clusters=[cluster], starts_at=now - timedelta(days=60))
    cancelled = EventFactory(title="Changed my mind", clusters=[cluster])
    services.event_register(event=confirmed, user=member.user)
    services.event_register(event=full, user=ProfileFactory(organisation=organisation).user)
    services.event_register(event=full, user=member.user)
    services.event_register(event=pending, user=member.user)
    RegistrationFactory(event=past, user=member.user, status=Status.ATTENDED)
    RegistrationFactory(event=cancelled, user=member.user, status=Status.CANCELLED)

    response = client_for(member.user).get(reverse("events:my_events"))

    mine = response.context["mine"]
    assert [r.event.title for r in mine.registered] == ["Seat held"]
    assert sorted(r.event.title for r in mine.waiting) == ["By approval", "Full house"]
    assert [r.event.title for r in mine.attended] == ["Last spring"]
    html = page(response)
    assert "number 1 on the waitlist" in html
    assert "Changed my mind" not in html
    assert "Someone else" not in html


def test_my_events_needs_a_signed_in_member(client):
    response = client.get(reverse("events:my_events"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- constant query counts ----------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def many_events(n: int, clusters, user) -> None:
    start = timezone.now() + timedelta(days=1)
    topics = [TopicFactory(name=f"Count topic {i}") for i in range(2)]
    for i in range(n):
        event = EventFactory(
            clusters=clusters, topics=topics, starts_at=start + timedelta(hours=i), capacity=5
        )
        RegistrationFactory(event=event, user=user)


def test_the_event_list_issues_the_same_number_of_queries_for_1_or_50_events(
    client_for, cluster, member
):
    client = client_for(member.user)
    extra = ClusterFactory()
    many_events(1, [cluster, extra], member.user)
    one = count_queries(client, reverse("events:list"))
    many_events(49, [cluster, extra], member.user)
    fifty = count_queries(client, reverse("events:list"))

    assert one == fifty


def test_my_events_issues_the_same_number_of_queries_for_1_or_50_registrations(
    client_for, cluster, member
):
    client = client_for(member.user)
    many_events(1, [cluster], member.user)
    one = count_queries(client, reverse("events:my_events"))
    many_events(49, [cluster], member.user)
    fifty = count_queries(client, reverse("events:my_events"))

    assert one == fifty


def add_sessions(conference, n: int, user, offset: int) -> None:
    for i in range(offset, offset + n):
        session = SessionFactory(
            event=conference,
            track=f"Track {i % 3}",
            room=f"Room {i}",
            capacity=10,
            starts_at=conference.starts_at + timedelta(minutes=10 * i),
            ends_at=conference.starts_at + timedelta(minutes=10 * i + 5),
        )
        speaker = ProfileFactory(organisation=None)
        StageRoleFactory(event=conference, session=session, profile=speaker, guest_name="")
        StageRoleFactory(event=conference, session=session)
        StageRoleFactory(event=conference)
        RegistrationFactory(event=conference, session=session, user=user)


@pytest.mark.parametrize("url_name", ["events:detail", "events:timetable"])
def test_the_event_page_and_timetable_issue_the_same_queries_for_1_or_50_sessions(
    client_for, conference, member, url_name
):
    RegistrationFactory(event=conference, user=member.user)
    client = client_for(member.user)
    url = reverse(url_name, args=[conference.slug])
    add_sessions(conference, 1, member.user, offset=0)
    one = count_queries(client, url)
    add_sessions(conference, 49, member.user, offset=1)
    fifty = count_queries(client, url)

    assert one == fifty


@pytest.mark.parametrize("query", ["date_to=9999-12-31", "date_from=0001-01-01"])
def test_extreme_dates_in_the_event_filters_are_not_an_error(client, query):
    assert client.get(f"{reverse('events:list')}?{query}").status_code == 200
    assert client.get(f"/api/v1/events/?{query}").status_code == 200


def test_visitors_see_every_time_on_the_event_page_in_the_events_own_zone(client, cluster):
    start = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)  # 10:00 in Lisbon, 11:00 in Brussels
    event = EventFactory(
        clusters=[cluster],
        audience=Event.Audience.PUBLIC,
        timezone="Europe/Lisbon",
        starts_at=start,
        ends_at=start + timedelta(hours=8),
        kind=Event.Kind.CONFERENCE,
    )
    SessionFactory(
        event=event, title="Opening", starts_at=start, ends_at=start + timedelta(hours=1)
    )
    html = client.get(event.get_absolute_url()).content.decode()
    assert "10:00</time>–11:00" in html  # the session, in Lisbon time like the header
    assert "11:00</time>–12:00" not in html  # not in the site's default zone (Brussels)
