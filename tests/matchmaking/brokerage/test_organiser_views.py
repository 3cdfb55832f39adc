import zoneinfo
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from matchmaking.brokerage.models import BrokerageSettings, Meeting, ScheduleRun, Slot, Table
from tests.events.factories import EventFactory
from tests.factories import ClusterOrganiserFactory, ProfileFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    ParticipantFactory,
    accepted,
)

pytestmark = pytest.mark.django_db

PAGES = ["manage", "manage_blocks", "manage_tables", "manage_schedule", "manage_table_plan",
         "manage_checkin", "manage_funnel", "manage_block_create"]  # fmt: skip


@pytest.fixture
def event(cluster):
    return BrokerageEventFactory(clusters=[cluster], scheduling="scheduler")


def url(name, event, *args, **query):
    path = reverse(f"brokerage:{name}", args=[event.slug, *args])
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return path


def test_the_organiser_of_the_events_cluster_sees_every_page(client_for, organiser, event):
    client = client_for(organiser)
    for name in PAGES:
        assert client.get(url(name, event)).status_code == 200, name


def test_an_organiser_of_another_cluster_and_a_participant_are_refused(
    client_for, other_cluster, event
):
    stranger = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=stranger)
    participant = ParticipantFactory(event=event)
    for user in (stranger, participant.user):
        client = client_for(user)
        for name in PAGES:
            assert client.get(url(name, event)).status_code == 404, name
        assert client.post(url("manage_tables_numbered", event), {"count": 3}).status_code == 404
    assert Table.objects.filter(event=event).count() == 4
    anonymous = client_for(None).get(url("manage", event))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_a_webinar_has_no_brokerage_pages(client_for, organiser, cluster):
    webinar = EventFactory(clusters=[cluster], kind=Event.Kind.WEBINAR)
    assert client_for(organiser).get(url("manage", webinar)).status_code == 404


def test_the_event_dashboard_links_to_the_brokerage_page(client_for, organiser, event):
    page = client_for(organiser).get(reverse("events:dashboard", args=[event.slug]))
    assert url("manage", event) in page.content.decode()


def test_settings_are_saved_from_the_overview(client_for, organiser, event):
    response = client_for(organiser).post(
        url("manage", event),
        {"scheduling": "pick", "request_expiry_hours": 24, "default_max_meetings": 8,
         "marketplace_open": ""},
    )  # fmt: skip
    assert response.status_code == 302
    settings = BrokerageSettings.objects.get(event=event)
    assert (settings.scheduling, settings.request_expiry_hours, settings.marketplace_open) == (
        "pick", 24, False,
    )  # fmt: skip
    bad = client_for(organiser).post(
        url("manage", event),
        {"scheduling": "pick", "request_expiry_hours": 0, "default_max_meetings": 8},
    )
    assert bad.status_code == 400
    settings.refresh_from_db()
    assert settings.request_expiry_hours == 24


def test_a_block_is_entered_in_the_events_time_zone(client_for, organiser, cluster):
    event = BrokerageEventFactory(clusters=[cluster], slots=0)
    local = timezone.localtime(event.starts_at, zoneinfo.ZoneInfo(event.timezone))
    response = client_for(organiser).post(
        url("manage_block_create", event),
        {"name": "Morning", "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
         "ends_at": (local + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M"),
         "slot_minutes": 20, "gap_minutes": 0},
    )  # fmt: skip
    assert response.status_code == 302
    slots = list(Slot.objects.filter(event=event).order_by("starts_at"))
    assert [s.starts_at for s in slots] == [
        event.starts_at + timedelta(minutes=m) for m in (0, 20, 40)
    ]
    clash = client_for(organiser).post(
        url("manage_block_create", event),
        {"name": "Clash", "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
         "ends_at": (local + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
         "slot_minutes": 20, "gap_minutes": 0},
    )  # fmt: skip
    assert clash.status_code == 400
    assert "overlaps" in clash.content.decode()
    assert Slot.objects.filter(event=event).count() == 3


def test_numbered_tables_are_added_from_the_page(client_for, organiser, event):
    response = client_for(organiser).post(url("manage_tables_numbered", event), {"count": 2})
    assert response.status_code == 302
    assert list(Table.objects.filter(event=event).values_list("name", flat=True))[-2:] == [
        "Table 5", "Table 6",
    ]  # fmt: skip


def test_run_and_publish_through_the_page_show_the_bound(client_for, organiser, event):
    people = [ParticipantFactory(event=event) for _ in range(4)]
    for a, b in [(0, 1), (2, 3), (0, 2)]:
        accepted(people[a], people[b])
    client = client_for(organiser)
    response = client.post(url("manage_schedule_run", event), {"allow_moves": ""})
    assert response.status_code == 302
    run = ScheduleRun.objects.get(event=event)
    assert run.scheduled == 3 and run.upper_bound == 3
    page = client.get(url("manage_schedule", event)).content.decode()
    assert "Upper bound" in page and "100.0 %" in page
    assert "Tables × slots" in page
    assert Meeting.objects.filter(event=event, slot__isnull=False).count() == 0  # a proposal
    published = client.post(url("manage_schedule_publish", event), {"run": run.pk})
    assert published.status_code == 302
    assert Meeting.objects.filter(event=event, slot__isnull=False, table__isnull=False).count() == 3
    run.refresh_from_db()
    assert run.published_at is not None


def test_the_table_plan_lists_who_meets_whom(client_for, organiser, event):
    slot = event.meeting_slots.order_by("starts_at").first()
    table = event.meeting_tables.order_by("position").first()
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    accepted(a, b, slot=slot, table=table, published_at=timezone.now())
    client = client_for(organiser)
    page = client.get(url("manage_table_plan", event)).content.decode()
    assert a.user.profile.display_name in page and b.user.profile.display_name in page
    assert "brokerage-print.css" in page
    one = client.get(url("manage_table_plan", event, table=table.pk)).content.decode()
    assert a.user.profile.display_name in one
    other = event.meeting_tables.exclude(pk=table.pk).first()
    empty = client.get(url("manage_table_plan", event, table=other.pk)).content.decode()
    assert a.user.profile.display_name not in empty
    foreign = (
        Table.objects.exclude(event=event).first() or BrokerageEventFactory().meeting_tables.first()
    )
    assert client.get(url("manage_table_plan", event, table=foreign.pk)).status_code == 404


def test_check_in_marks_a_meeting_as_started(client_for, organiser, event):
    slot = event.meeting_slots.order_by("starts_at").first()
    table = event.meeting_tables.first()
    meeting = accepted(ParticipantFactory(event=event), ParticipantFactory(event=event),
                       slot=slot, table=table, published_at=timezone.now())  # fmt: skip
    client = client_for(organiser)
    page = client.get(url("manage_checkin", event, slot=slot.pk)).content.decode()
    assert meeting.requester.user.profile.display_name in page and "Started" in page
    response = client.post(url("manage_checkin_meeting", event, meeting.pk))
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.checked_in_at is not None


def test_the_funnel_page_links_to_the_gender_balance(client_for, organiser, event):
    page = client_for(organiser).get(url("manage_funnel", event)).content.decode()
    assert reverse("insights:brokerage", args=[event.slug]) in page
