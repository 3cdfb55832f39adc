"""Reads and pure helpers behind the event pages."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from events import discovery, services
from events.models import Event, Registration, Session
from tests.events.factories import EventFactory, SessionFactory, StageRoleFactory
from tests.factories import ProfileFactory

Status = Registration.Status
VIENNA = ZoneInfo("Europe/Vienna")


# --- times in two zones ----------------------------------------------------------------


def test_event_when_states_both_zones_on_either_side_of_the_spring_change():
    winter = discovery.event_when(
        starts_at=datetime(2027, 3, 27, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 27, 14, 30, tzinfo=UTC),
        event_zone="Europe/Vienna",
        viewer_zone="Europe/Lisbon",
    )
    summer = discovery.event_when(
        starts_at=datetime(2027, 3, 28, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 14, 30, tzinfo=UTC),
        event_zone="Europe/Vienna",
        viewer_zone="Europe/Lisbon",
    )

    assert (winter.viewer_text, winter.event_text) == (
        "Saturday 27 March 2027, 13:00–14:30",
        "14:00–15:30",
    )
    assert (summer.viewer_text, summer.event_text) == (
        "Sunday 28 March 2027, 14:00–15:30",
        "15:00–16:30",
    )
    assert not summer.same_zone


def test_event_when_dates_the_events_time_when_its_day_differs_from_the_viewers():
    when = discovery.event_when(
        starts_at=datetime(2027, 10, 5, 22, 0, tzinfo=UTC),
        ends_at=datetime(2027, 10, 5, 22, 45, tzinfo=UTC),
        event_zone="Europe/Helsinki",
        viewer_zone="Europe/Lisbon",
    )

    assert when.viewer_text == "Tuesday 5 October 2027, 23:00–23:45"
    assert when.event_text == "Wednesday 6 October 2027, 01:00–01:45"


def test_an_event_over_several_days_shows_both_ends_in_full():
    when = discovery.event_when(
        starts_at=datetime(2027, 6, 1, 7, 0, tzinfo=UTC),
        ends_at=datetime(2027, 6, 2, 15, 0, tzinfo=UTC),
        event_zone="Europe/Vienna",
        viewer_zone="Europe/Vienna",
    )

    assert when.same_zone
    assert when.event_dated_text == "Tuesday 1 June 2027, 09:00 – Wednesday 2 June 2027, 17:00"


# --- add-to-calendar links -----------------------------------------------------------------


def test_calendar_links_carry_utc_times_whatever_the_zone_of_the_datetimes():
    event = Event(
        title="Hydrogen & steel",
        slug="h2",
        summary="Where the molecules go.",
        starts_at=datetime(2027, 3, 28, 15, 0, tzinfo=VIENNA),
        ends_at=datetime(2027, 3, 28, 17, 0, tzinfo=VIENNA),
        venue_name="Tabakfabrik",
        venue_address="Peter-Behrens-Platz 2\n4020 Linz",
        online_url="https://meet.example.org/secret",
    )

    links = discovery.calendar_links(event=event, event_url="https://hub.example.org/events/h2/")

    google = parse_qs(urlsplit(links["google"]).query)
    outlook = parse_qs(urlsplit(links["outlook"]).query)
    assert google["dates"] == ["20270328T130000Z/20270328T150000Z"]
    assert google["text"] == ["Hydrogen & steel"]
    assert google["location"] == ["Tabakfabrik, Peter-Behrens-Platz 2, 4020 Linz"]
    assert outlook["startdt"] == ["2027-03-28T13:00:00Z"]
    assert outlook["enddt"] == ["2027-03-28T15:00:00Z"]
    assert "https://hub.example.org/events/h2/" in outlook["body"][0]
    assert "secret" not in links["google"] + links["outlook"]


# --- the timetable grid ----------------------------------------------------------------


def session(title, start, track="", pk=None):
    return Session(
        pk=pk,
        title=title,
        track=track,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
    )


def test_the_timetable_grid_puts_tracks_in_columns_and_plenary_sessions_across():
    day = datetime(2027, 5, 4, 7, 0, tzinfo=UTC)
    keynote = session("Keynote", day, pk=1)
    robots = session("Robots", day + timedelta(hours=1), track="Automation", pk=2)
    data = session("Data", day + timedelta(hours=1), track="Data", pk=3)
    late = session("Late data", day + timedelta(hours=2), track="Data", pk=4)

    (only_day,) = discovery.timetable_grid(
        sessions=[late, data, robots, keynote], zone_name="Europe/Vienna"
    )

    assert only_day.tracks == ["Automation", "Data"]
    assert [row.plenary for row in only_day.rows] == [[keynote], [], []]
    assert [row.cells for row in only_day.rows] == [
        [[], []],
        [[robots], [data]],
        [[], [late]],
    ]
    assert [row.has_tracked for row in only_day.rows] == [False, True, True]


def test_the_timetable_grid_splits_days_at_midnight_in_the_events_zone():
    before_midnight = session("Dinner", datetime(2027, 5, 4, 21, 30, tzinfo=UTC), pk=1)
    after_midnight = session("Night owls", datetime(2027, 5, 4, 22, 30, tzinfo=UTC), pk=2)

    days = discovery.timetable_grid(
        sessions=[before_midnight, after_midnight], zone_name="Europe/Vienna"
    )

    assert [str(d.date) for d in days] == ["2027-05-04", "2027-05-05"]


# --- selectors ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_waitlist_number_is_the_rank_among_those_still_waiting(cluster, organisation):
    event = EventFactory(clusters=[cluster], capacity=1)
    people = [ProfileFactory(organisation=organisation).user for _ in range(4)]
    holder, *waiting = [services.event_register(event=event, user=u) for u in people]
    services.registration_cancel(registration=holder, by=people[0])  # the first waiting moves up

    numbers = [
        discovery.waitlist_number(registration=Registration.objects.get(pk=r.pk)) for r in waiting
    ]

    assert numbers == [None, 1, 2]


@pytest.mark.django_db
def test_the_event_detail_never_loads_a_guests_gender(cluster, member):
    event = EventFactory(clusters=[cluster])
    StageRoleFactory(event=event, guest_gender="woman", guest_gender_consent=True)

    detail = discovery.event_detail(user=member.user, slug=event.slug)

    (role,) = detail.event_speakers
    assert {"guest_gender", "guest_gender_consent"} <= role.get_deferred_fields()


@pytest.mark.django_db
def test_the_event_detail_counts_seats_per_session_and_skips_cancelled_sessions(
    cluster, member, colleague
):
    event = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    talk = SessionFactory(event=event, capacity=5)
    SessionFactory(event=event, is_cancelled=True)
    for user in (member.user, colleague.user):
        services.event_register(event=event, user=user)
    services.event_register(event=event, user=member.user, session=talk)

    detail = discovery.event_detail(user=member.user, slug=event.slug)

    assert detail.seats_taken == 2
    assert detail.my_status == Status.CONFIRMED
    assert [(s.pk, s.seats_taken) for s in detail.active_sessions] == [(talk.pk, 1)]


@pytest.mark.django_db
def test_the_event_list_marks_the_viewers_own_status(cluster, member, colleague):
    mine = EventFactory(clusters=[cluster], starts_at=timezone.now() + timedelta(days=1))
    EventFactory(clusters=[cluster], starts_at=timezone.now() + timedelta(days=2))
    services.event_register(event=mine, user=member.user)

    ids = list(discovery.event_list(user=member.user).values_list("pk", flat=True))
    rows = discovery.event_cards(user=member.user, ids=ids)

    assert [(e.pk == mine.pk, e.my_status) for e in rows] == [
        (True, Status.CONFIRMED),
        (False, None),
    ]


def test_the_viewers_clusters_and_those_they_manage_come_in_one_query(
    cluster, other_cluster, other_organisation, organiser, outsider, staff,
    django_assert_num_queries,
):  # fmt: skip
    from events.selectors import viewer_scope
    from tests.factories import ClusterOrganiserFactory

    ClusterOrganiserFactory(cluster=other_cluster, user=outsider.user)  # a member who organises
    with django_assert_num_queries(1):
        assert viewer_scope(user=outsider.user) == ([other_cluster.pk], [other_cluster.pk])
    assert viewer_scope(user=organiser) == ([cluster.pk], [cluster.pk])  # organiser, no firm
    both = ProfileFactory(display_name="Both", organisation=other_organisation)
    ClusterOrganiserFactory(cluster=cluster, user=both.user)
    assert viewer_scope(user=both.user) == (sorted([cluster.pk, other_cluster.pk]), [cluster.pk])
    nobody = ProfileFactory(display_name="No firm")
    assert viewer_scope(user=nobody.user) == ([], [])
    assert viewer_scope(user=staff) == ([], [])  # staff see everything without a scope
