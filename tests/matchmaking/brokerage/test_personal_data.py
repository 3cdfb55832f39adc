"""What brokerage days hold about a person: their export, and their erasure, after which
the other side's agenda still adds up."""

from datetime import timedelta

import pytest
from django.utils import timezone

from matchmaking.brokerage import selectors
from matchmaking.brokerage.models import MarketItem, Meeting, MeetingSeat, Participant
from members import services as member_services
from members.personal_data import FORMER_MEMBER
from notifications.models import OutboxMessage
from tests.factories import ProfileFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MarketItemFactory,
    MeetingFactory,
    ParticipantFactory,
    ScheduleRunFactory,
    accepted,
)
from tests.matchmaking.factories import topic

pytestmark = pytest.mark.django_db


def participant(event, name: str, **kwargs) -> Participant:
    person = ParticipantFactory(event=event, **kwargs)
    person.user.profile.display_name = name
    person.user.profile.save(update_fields=["display_name"])
    return person


@pytest.fixture
def past_day(cluster):
    """A brokerage day that was last week: Anna met Bruno (both said it took place, Anna
    expects a follow-up); Carla's request to Anna expired."""
    starts = timezone.now() - timedelta(days=7)
    event = BrokerageEventFactory(
        title="Linz Matchmaking Day", clusters=[cluster], starts_at=starts
    )
    anna = participant(event, "Anna Keller", headline="Drives for robots")
    bruno = participant(event, "Bruno Weiss")
    carla = participant(event, "Carla Conti")
    MarketItemFactory(
        participant=anna, title="Servo retrofit", description="We retrofit old presses.",
        topics=[topic("Robotics")],
    )  # fmt: skip
    MarketItemFactory(
        participant=anna, direction=MarketItem.Direction.REQUEST, title="A research partner"
    )
    slot = event.meeting_slots.first()
    table = event.meeting_tables.first()
    held = accepted(
        anna, bruno, message="Shall we talk about servos?", slot=slot, table=table,
        published_at=starts, requester_held=True, recipient_held=True,
        requester_follow_up=True, recipient_follow_up=False,
    )  # fmt: skip
    expired = MeetingFactory(
        requester=carla, recipient=anna, status=Meeting.Status.EXPIRED,
        message="Dear Anna Keller, our lab would like to meet you.",
    )  # fmt: skip
    return event, anna, bruno, carla, held, expired


def test_export_holds_the_participation_items_meetings_and_own_answers(past_day):
    event, anna, bruno, carla, held, expired = past_day

    data = member_services.personal_data_export(user=anna.user)["brokerage"]

    (part,) = data["participations"]
    assert part["event"] == "Linz Matchmaking Day"
    assert part["headline"] == "Drives for robots"
    assert part["max_meetings"] == anna.max_meetings
    assert [(i["direction"], i["title"]) for i in part["offers_and_requests"]] == [
        ("offer", "Servo retrofit"),
        ("request", "A research partner"),
    ]
    assert part["offers_and_requests"][0]["topics"] == ["Robotics"]
    sent, received = part["meetings"]
    assert sent["direction"] == "sent" and sent["partner"] == "Bruno Weiss"
    assert sent["my_message"] == "Shall we talk about servos?"
    assert sent["status"] == Meeting.Status.ACCEPTED
    assert sent["table"] == held.table.name
    assert sent["starts_at"] == held.slot.starts_at.isoformat()
    # Anna's own answers, not Bruno's.
    assert (sent["took_place"], sent["may_lead_to_cooperation"]) == (True, True)
    assert received["direction"] == "received" and received["partner"] == "Carla Conti"
    assert received["status"] == Meeting.Status.EXPIRED
    # What Carla wrote is Carla's: her name is all Anna's export says of her.
    assert received["my_message"] == ""
    assert "our lab" not in str(data)
    bruno_view = member_services.personal_data_export(user=bruno.user)["brokerage"]
    (bruno_meeting,) = bruno_view["participations"][0]["meetings"]
    assert bruno_meeting["my_message"] == ""
    assert bruno_meeting["may_lead_to_cooperation"] is False


def test_export_names_the_schedule_runs_an_organiser_started(organiser):
    run = ScheduleRunFactory(started_by=organiser)
    data = member_services.personal_data_export(user=organiser)["brokerage"]
    assert data["participations"] == []
    assert data["schedule_runs_started"] == [
        {"event": run.event.title, "created_at": run.created_at.isoformat(),
         "outcome": "optimal"}
    ]  # fmt: skip


def test_erasure_after_the_day_keeps_the_partners_meeting_with_a_stand_in(
    past_day, django_capture_on_commit_callbacks
):
    event, anna, bruno, carla, held, expired = past_day

    with django_capture_on_commit_callbacks(execute=True):
        member_services.account_erase(user=anna.user)

    assert not MarketItem.objects.filter(participant=anna).exists()
    stand_in = Participant.objects.get(pk=anna.pk)
    assert (stand_in.headline, stand_in.max_meetings) == ("", 0)
    assert not stand_in.blocks.exists()
    held.refresh_from_db()
    # Bruno's agenda still holds the meeting, where and when it was, with its answers …
    assert held.status == Meeting.Status.ACCEPTED
    assert (held.slot_id, held.table_id) == (event.meeting_slots.first().pk,
                                             event.meeting_tables.first().pk)  # fmt: skip
    assert (held.requester_held, held.recipient_held) == (True, True)
    # … but not what Anna wrote, nor who she was.
    assert held.message == ""
    expired.refresh_from_db()
    assert expired.message == "Dear a former member, our lab would like to meet you."
    bruno_view = member_services.personal_data_export(user=bruno.user)["brokerage"]
    (meeting,) = bruno_view["participations"][0]["meetings"]
    assert meeting["partner"] == FORMER_MEMBER
    assert "Anna" not in str(bruno_view)


def test_erasure_deletes_a_participation_without_meetings(cluster):
    event = BrokerageEventFactory(clusters=[cluster])
    quiet = participant(event, "Quintus Quiet")
    MarketItemFactory(participant=quiet, title="Quiet offer")

    member_services.account_erase(user=quiet.user)

    assert not Participant.objects.filter(pk=quiet.pk).exists()
    assert not MarketItem.objects.filter(title="Quiet offer").exists()
    assert member_services.personal_data_export(user=quiet.user)["brokerage"] == {
        "participations": [],
        "schedule_runs_started": [],
    }


def test_erasure_before_the_day_frees_the_other_sides_slots_without_naming_the_person(
    cluster, django_capture_on_commit_callbacks
):
    event = BrokerageEventFactory(clusters=[cluster])
    anna = participant(event, "Anna Keller")
    bruno = participant(event, "Bruno Weiss")
    carla = participant(event, "Carla Conti")
    dora = participant(event, "Dora Demir")
    slot = event.meeting_slots.first()
    placed = accepted(
        anna, bruno, slot=slot, table=event.meeting_tables.first(), published_at=timezone.now()
    )
    asked = MeetingFactory(requester=anna, recipient=carla, message="Hello from Anna Keller")
    was_asked = MeetingFactory(requester=dora, recipient=anna)
    ProfileFactory(display_name="Someone Else")  # nobody else is touched

    with django_capture_on_commit_callbacks(execute=True):
        member_services.account_erase(user=anna.user)

    statuses = {m.pk: m.status for m in Meeting.objects.all()}
    assert statuses == {
        placed.pk: Meeting.Status.CANCELLED,
        asked.pk: Meeting.Status.WITHDRAWN,
        was_asked.pk: Meeting.Status.DECLINED,
    }
    # Bruno's slot is free again: he can meet someone else then.
    assert not MeetingSeat.objects.filter(slot=slot).exists()
    assert Meeting.objects.get(pk=asked.pk).message == ""
    # Whatever the cancellations told the others, no mail names Anna or her address.
    for message in OutboxMessage.objects.all():
        text = f"{message.subject} {message.body_text} {message.body_html} {message.attachments}"
        text += str(message.alternatives)
        assert "Anna Keller" not in text, message.kind
        assert anna.user.email not in text and anna.user.email != message.recipient


def test_after_an_erasure_the_other_side_still_opens_the_meeting_and_agenda(
    past_day, client_for, django_capture_on_commit_callbacks
):
    event, anna, bruno, carla, held, expired = past_day
    with django_capture_on_commit_callbacks(execute=True):
        member_services.account_erase(user=anna.user)
    client = client_for(bruno.user)

    meeting_page = client.get(f"/networking/meeting/{held.pk}/")
    agenda = client.get(f"/networking/{event.slug}/agenda/")

    for response in (meeting_page, agenda):
        assert response.status_code == 200
        text = response.content.decode()
        assert "Anna Keller" not in text and "Drives for robots" not in text
    # Mail about it names the other side as the selectors do.
    assert selectors.participant_name(Participant.objects.get(pk=anna.pk)) == "A participant"


def test_after_an_erasure_the_meeting_page_names_the_other_side_as_a_participant(
    past_day, client_for
):
    event, anna, bruno, carla, held, expired = past_day
    member_services.account_erase(user=anna.user)

    page = client_for(bruno.user).get(f"/networking/meeting/{held.pk}/").content.decode()

    assert "Meeting with A participant" in page
