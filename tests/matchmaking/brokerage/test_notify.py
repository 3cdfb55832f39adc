"""The mail of meeting requests and meetings: who gets what, in their language, what it
shows (and never shows), the calendar entry it carries, and that each is sent once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.signals import template_rendered
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from matchmaking.brokerage import agenda_ical, notify, services
from matchmaking.brokerage.models import BrokerageSettings, Meeting
from members.models import Profile
from notifications.models import OutboxMessage
from tests.factories import ClusterOrganiserFactory, OrganisationFactory, ProfileFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    ParticipantFactory,
    TableFactory,
    accepted,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return BrokerageEventFactory(title="Cross-Cluster Matchmaking Day")


@pytest.fixture
def organiser(event):
    return ClusterOrganiserFactory(cluster=event.clusters.first()).user


def person(event, *, name: str, organisation: str = "", language: str = "", **kwargs):
    profile = ProfileFactory(
        display_name=name,
        organisation=OrganisationFactory(name=organisation) if organisation else None,
        preferred_language=language,
    )
    return ParticipantFactory(event=event, user=profile.user, **kwargs)


def rows(participant, kind: str | None = None) -> list[OutboxMessage]:
    qs = OutboxMessage.objects.filter(recipient=participant.user.email)
    if kind:
        qs = qs.filter(kind=f"brokerage.{kind}")
    return list(qs.order_by("pk"))


def calendar_of(row: OutboxMessage) -> str:
    found = [a for a in row.attachments if "meeting.ics" in str(a)]
    assert found, f"no calendar attached to {row.kind}"
    return str(found[0])


def unfolded(text: str) -> str:
    return text.replace("\\r\\n ", "").replace("\r\n ", "").replace("\\n", "\n")


def test_the_request_mail_names_the_requester_and_their_message_never_their_address(
    event, organiser
):
    asker = person(event, name="Ada Lovelace", organisation="Analytical Engines GmbH")
    asked = person(event, name="Charles Babbage")
    meeting = services.meeting_request(
        event=event, requester=asker, recipient=asked, message="Let us talk <b>gears</b>."
    )
    [row] = rows(asked)
    assert row.kind == "brokerage.requested"
    assert "Ada Lovelace" in row.subject and "Cross-Cluster Matchmaking Day" in row.subject
    for body in (row.body_text, row.body_html):
        assert "Ada Lovelace" in body and "Analytical Engines GmbH" in body
        assert asker.user.email not in body
    assert "Let us talk <b>gears</b>." in row.body_text
    assert "&lt;b&gt;gears&lt;/b&gt;" in row.body_html
    assert agenda_ical.meeting_url(meeting) in row.body_text
    assert row.reply_to == organiser.email
    assert row.batch == f"event:{event.pk}"
    assert rows(asker) == []


def test_mail_is_in_the_recipients_language(event):
    asker = person(event, name="Ada", language="en")
    asked = person(event, name="Grete", language="de")
    services.meeting_request(event=event, requester=asker, recipient=asked, message="")
    [row] = rows(asked)
    assert row.body_text.startswith("Hallo Grete,")
    # The deadline is written the German way (weekday and month names).
    deadline = timezone.localtime(
        Meeting.objects.get().expires_at, timezone=__import__("zoneinfo").ZoneInfo(event.timezone)
    )
    german_days = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
    assert german_days[deadline.weekday()] in row.body_text
    services.meeting_withdraw(meeting=Meeting.objects.get(), by=asker)
    assert rows(asked, "withdrawn")[0].body_text.startswith("Hallo Grete,")


def test_accepting_a_picked_time_sends_the_requester_the_time_and_both_the_calendar(event):
    asker = person(event, name="Ada", organisation="Engines")
    asked = person(event, name="Charles", organisation="Difference Ltd")
    slot = event.meeting_slots.order_by("starts_at")[1]
    meeting = services.meeting_request(event=event, requester=asker, recipient=asked, message="")
    services.meeting_accept(meeting=meeting, by=asked, slot=slot)
    [told] = rows(asker, "accepted")
    assert "Charles" in told.subject
    assert "table Table 1" in told.body_text and event.timezone in told.body_text
    assert "METHOD:REQUEST" in calendar_of(told)
    assert "Meeting with Charles (Difference Ltd)" in unfolded(calendar_of(told))
    [own] = rows(asked, "agenda")
    assert "METHOD:REQUEST" in calendar_of(own)
    assert "Meeting with Ada (Engines)" in unfolded(calendar_of(own))
    # The same calendar state is not sent again.
    before = OutboxMessage.objects.count()
    notify.meetings_changed(meeting_ids=[meeting.pk])
    notify.meetings_changed(meeting_ids=[meeting.pk])
    assert OutboxMessage.objects.count() == before


def test_accepting_in_scheduler_mode_says_the_time_follows(people=None):
    event = BrokerageEventFactory(scheduling=BrokerageSettings.Scheduling.SCHEDULER)
    asker, asked = person(event, name="Ada"), person(event, name="Charles")
    meeting = services.meeting_request(event=event, requester=asker, recipient=asked, message="")
    services.meeting_accept(meeting=meeting, by=asked)
    [told] = rows(asker, "accepted")
    assert "once the organisers publish the schedule" in told.body_text
    assert not any("meeting.ics" in str(a) for a in told.attachments)
    notify.meetings_changed(meeting_ids=[meeting.pk])  # unpublished: nothing to tell
    assert rows(asked, "agenda") == [] and rows(asker, "agenda") == []


def test_declined_and_expired_requests_are_told(event):
    a, b, c = person(event, name="Ada"), person(event, name="Bob"), person(event, name="Cy")
    first = services.meeting_request(event=event, requester=a, recipient=b, message="")
    services.meeting_decline(meeting=first, by=b)
    [declined] = rows(a, "declined")
    assert "Bob cannot meet you" in declined.body_text
    services.meeting_request(event=event, requester=a, recipient=c, message="")
    services.meetings_expire(now=timezone.now() + timedelta(days=30))
    [to_a] = rows(a, "expired")
    [to_c] = rows(c, "expired")
    assert "Your request to meet Cy" in to_a.body_text
    assert "The request from Ada" in to_c.body_text


def test_a_move_mails_a_higher_sequence_and_a_cancel_the_same_uid(event, organiser):
    a, b = person(event, name="Ada"), person(event, name="Bob")
    first, second = event.meeting_slots.order_by("starts_at")[:2]
    meeting = accepted(a, b)
    services.meeting_place(meeting=meeting, slot=first, table=None)
    services.meeting_place(meeting=meeting, slot=second, table=None)
    services.meeting_cancel(meeting=meeting, by=organiser)
    uid = f"UID:brokerage-meeting-{meeting.pk}@"
    for side in (a, b):
        agenda = rows(side, "agenda")
        assert [
            ("SEQUENCE:0" in calendar_of(r), "SEQUENCE:1" in calendar_of(r)) for r in agenda
        ] == [
            (True, False),
            (False, True),
        ]
        [cancelled] = rows(side, "cancelled")
        assert "The organisers have cancelled" in cancelled.body_text
        cancel = calendar_of(cancelled)
        assert "METHOD:CANCEL" in cancel and "SEQUENCE:2" in cancel and "STATUS:CANCELLED" in cancel
        assert all(uid in calendar_of(r) for r in [*agenda, cancelled])


def test_only_the_two_people_get_an_online_rooms_link(event):
    room = TableFactory(event=event, name="Room A", online_url="https://meet.example.org/room-a")
    a, b = person(event, name="Ada"), person(event, name="Bob")
    meeting = accepted(a, b)
    services.meeting_place(meeting=meeting, slot=event.meeting_slots.first(), table=room)
    for side in (a, b):
        [row] = rows(side, "agenda")
        assert "https://meet.example.org/room-a" in row.body_text
        assert "https://meet.example.org/room-a" in unfolded(calendar_of(row))
    assert (
        not OutboxMessage.objects.exclude(recipient__in=[a.user.email, b.user.email])
        .filter(body_text__contains="meet.example.org")
        .exists()
    )


def test_nobody_inactive_is_mailed(event):
    a, b = person(event, name="Ada"), person(event, name="Bob")
    meeting = services.meeting_request(event=event, requester=a, recipient=b, message="")
    a.user.is_active = False
    a.user.save(update_fields=["is_active"])
    services.meeting_decline(meeting=meeting, by=b)
    assert rows(a) == []


def test_a_hidden_profile_is_named_by_its_display_name_only(event):
    a = person(event, name="Ada")
    hidden = ParticipantFactory(
        event=event,
        user=ProfileFactory(display_name="Quiet Person", visibility=Profile.Visibility.HIDDEN).user,
    )
    services.meeting_request(event=event, requester=hidden, recipient=a, message="")
    [row] = rows(a)
    assert "Quiet Person" in row.body_text and hidden.user.email not in row.body_text
    assert settings.SITE_NAME in row.subject


def test_a_repeated_calendar_change_is_skipped_before_anything_is_rendered(event):
    a, b = person(event, name="Ada"), person(event, name="Bob")
    meetings = [accepted(a, b), accepted(b, person(event, name="Cy"))]
    slots = event.meeting_slots.order_by("starts_at")
    for meeting, slot in zip(meetings, slots, strict=False):
        services.meeting_place(meeting=meeting, slot=slot, table=None, mail=False)
    rendered = []

    def record(sender, template, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(record)
    try:
        notify.meetings_changed(meeting_ids=[m.pk for m in meetings])
        assert rendered and OutboxMessage.objects.filter(kind="brokerage.agenda").count() == 4
        rendered.clear()
        with CaptureQueriesContext(connection) as again:
            notify.meetings_changed(meeting_ids=[m.pk for m in meetings])
    finally:
        template_rendered.disconnect(record)
    assert rendered == []  # no template, no calendar built for mail already queued
    assert len(again.captured_queries) == 2  # the meetings, the keys already queued
    assert OutboxMessage.objects.filter(kind="brokerage.agenda").count() == 4
