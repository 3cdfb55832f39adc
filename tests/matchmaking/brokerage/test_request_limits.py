"""A meeting request is not a mail channel, and people who leave take their meetings with
them.

Requests: no new request after a "no", at most two to one person per event, none to
someone who reported the sender or from a suspended sender, and a per-hour limit — on
every path (service and API). Seats: a person whose registration ends loses their live
meetings (the partner gets the CANCEL) and cannot act on them any more. Held time: a
request past its deadline holds nothing, and unsolicited requests cannot fill the
recipient's time beyond their own cap.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from events.models import Registration
from matchmaking.brokerage import selectors, services
from matchmaking.brokerage.models import Meeting, MeetingSeat, Slot
from matchmaking.brokerage.scheduling import schedule_publish, schedule_run
from members.api_tokens import api_token_create
from members.models import ContactMessage, ContactReport, Profile
from notifications.models import OutboxMessage
from tests.factories import ClusterOrganiserFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    ParticipantFactory,
    accepted,
)

pytestmark = pytest.mark.django_db

Status = Meeting.Status


@pytest.fixture
def event():
    return BrokerageEventFactory(slots=6, tables=2)


def ask(event, a, b, *, slot=None, message="Shall we meet?"):
    return services.meeting_request(
        event=event, requester=a, recipient=b, message=message, slot=slot
    )


def slots_of(event) -> list[Slot]:
    return list(event.meeting_slots.order_by("starts_at"))


def request_mails(to) -> int:
    return OutboxMessage.objects.filter(recipient=to.user.email, kind="brokerage.requested").count()


# --- requests: "no" means no ----------------------------------------------------------------


def test_after_a_decline_the_same_person_cannot_ask_again(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    services.meeting_decline(meeting=ask(event, a, b), by=b)

    with pytest.raises(ValidationError, match="declined your earlier request"):
        ask(event, a, b, message="please, again")

    assert request_mails(b) == 1
    # the one who said no may still ask the other way round
    assert ask(event, b, a).status == Status.PENDING


def test_request_withdraw_loops_stop_after_two_requests(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    for _ in range(2):
        services.meeting_withdraw(meeting=ask(event, a, b), by=a)

    with pytest.raises(ValidationError, match="already asked") as refused:
        ask(event, a, b)

    assert refused.value.code == "asked_enough"
    assert request_mails(b) == 2
    assert Meeting.objects.filter(requester=a, recipient=b).count() == 2


def test_a_recipient_who_reported_the_sender_gets_no_requests_from_them(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    message = ContactMessage.objects.create(
        sender=a.user, recipient=b.user, subject="Buy", body="Cheap cobots"
    )
    ContactReport.objects.create(message=message, reporter=b.user, sender=a.user, reason="spam")

    with pytest.raises(ValidationError, match="cannot be asked") as refused:
        ask(event, a, b)

    assert refused.value.code == "blocked"
    assert request_mails(b) == 0


def test_a_sender_suspended_by_an_organiser_cannot_send_requests(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    Profile.objects.filter(user=a.user).update(contact_suspended_at=timezone.now())

    with pytest.raises(ValidationError, match="suspended") as refused:
        ask(event, a, b)

    assert refused.value.code == "suspended"
    assert not Meeting.objects.exists()


def test_requests_per_hour_are_limited(event, settings):
    settings.BROKERAGE_REQUESTS_PER_HOUR = 3
    a = ParticipantFactory(event=event)
    others = [ParticipantFactory(event=event) for _ in range(4)]
    old = ask(event, a, others[0])
    Meeting.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    for other in others[1:]:
        ask(event, a, other)  # the old one no longer counts: three in the last hour

    fresh = ParticipantFactory(event=event)
    with pytest.raises(ValidationError, match="3 requests in the last hour") as refused:
        ask(event, a, fresh)

    assert refused.value.code == "rate_limited"
    assert request_mails(fresh) == 0


def test_the_api_path_refuses_a_request_after_a_decline(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    services.meeting_decline(meeting=ask(event, a, b), by=b)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=a.user).key}")

    response = client.post(
        f"/api/v1/brokerage/{event.slug}/requests/",
        {"recipient": b.pk, "message": "again"},
        format="json",
    )

    assert response.status_code in (400, 409)
    assert "declined your earlier request" in str(response.json())
    assert request_mails(b) == 1


# --- seats: people who leave ----------------------------------------------------------------


def _leave(participant):
    Registration.objects.filter(event=participant.event, user=participant.user).update(
        status=Registration.Status.CANCELLED
    )


def test_a_person_who_leaves_loses_their_meetings_and_the_partner_gets_the_cancel(
    event, django_capture_on_commit_callbacks
):
    a, b, c, d = (ParticipantFactory(event=event) for _ in range(4))
    first, second = slots_of(event)[:2]
    placed = services.meeting_accept(meeting=ask(event, a, b, slot=first), by=b)
    sent = ask(event, a, c, slot=second)
    received = ask(event, d, a)
    _leave(a)

    with django_capture_on_commit_callbacks(execute=True):
        ended = services.participants_without_seat_release()

    assert ended == 3
    placed.refresh_from_db()
    sent.refresh_from_db()
    received.refresh_from_db()
    assert placed.status == Status.CANCELLED and placed.sequence == 1
    assert sent.status == Status.WITHDRAWN
    assert received.status == Status.DECLINED
    assert not MeetingSeat.objects.filter(participant=a).exists()
    assert selectors.agenda_for(participant=b) == []
    assert first in selectors.free_common_slots(a=b, b=c)
    assert OutboxMessage.objects.filter(
        recipient=b.user.email, kind="brokerage.cancelled", idempotency_key__contains=":1:CANCEL"
    ).exists()
    assert services.participants_without_seat_release() == 0  # idempotent


def test_without_a_seat_one_can_no_longer_answer_cancel_or_give_feedback(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    pending = ask(event, a, b)
    meeting = accepted(a, ParticipantFactory(event=event))
    _leave(b)
    with pytest.raises(ValidationError, match="registered"):
        services.meeting_decline(meeting=pending, by=b)
    with pytest.raises(ValidationError, match="registered"):
        services.meeting_accept(meeting=pending, by=b)
    _leave(a)
    with pytest.raises(ValidationError, match="registered"):
        services.meeting_cancel(meeting=meeting, by=a.user)
    Meeting.objects.filter(pk=meeting.pk).update(status=Status.ACCEPTED)
    event.__class__.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() - timedelta(hours=5), ends_at=timezone.now() - timedelta(hours=1)
    )
    with pytest.raises(ValidationError, match="registered"):
        services.meeting_feedback(meeting=meeting, by=a, held=True, follow_up=True)
    meeting.refresh_from_db()
    assert meeting.requester_held is None


def test_an_organiser_still_cancels_the_meeting_of_someone_who_left(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    meeting = accepted(a, b)
    organiser = ClusterOrganiserFactory(cluster=event.clusters.first()).user
    _leave(a)

    assert services.meeting_cancel(meeting=meeting, by=organiser).status == Status.CANCELLED


def test_publishing_a_run_with_someone_who_left_since_is_refused_as_out_of_date():
    event = BrokerageEventFactory(scheduling="scheduler", slots=3, tables=2)
    organiser = ClusterOrganiserFactory(cluster=event.clusters.first()).user
    a, b, c = (ParticipantFactory(event=event) for _ in range(3))
    accepted(a, b)
    accepted(b, c)
    run = schedule_run(event=event, by=organiser)
    _leave(c)

    with pytest.raises(ValidationError, match="no longer has a seat"):
        schedule_publish(run=run, by=organiser)

    assert not Meeting.objects.filter(slot__isnull=False).exists()


# --- held time ------------------------------------------------------------------------------


def test_a_request_past_its_deadline_holds_its_slot_no_more(event):
    a, b, c = (ParticipantFactory(event=event) for _ in range(3))
    slot = slots_of(event)[0]
    old = ask(event, a, b, slot=slot)
    Meeting.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert slot in selectors.free_common_slots(a=b, b=c)
    meeting = services.meeting_accept(meeting=ask(event, c, b, slot=slot), by=b)

    assert meeting.slot_id == slot.pk and meeting.status == Status.ACCEPTED
    old.refresh_from_db()
    assert old.status == Status.EXPIRED  # expired under the lock when met
    assert not MeetingSeat.objects.filter(meeting=old).exists()


def test_requests_cannot_hold_more_of_the_recipients_time_than_their_cap(event):
    target = ParticipantFactory(event=event, max_meetings=2)
    askers = [ParticipantFactory(event=event) for _ in range(3)]
    slots = slots_of(event)
    made = [
        ask(event, asker, target, slot=slot) for asker, slot in zip(askers, slots[:3], strict=True)
    ]

    assert [m.hold_refused for m in made] == [False, False, True]
    assert made[2].slot_id is None and made[2].status == Status.PENDING
    assert MeetingSeat.objects.filter(participant=target).count() == 2
    assert "not held" in str(services.SLOT_NOT_HELD % {"name": "X"})


# --- races on SQLite: a slot gone under a placement -----------------------------------------


def test_a_slot_deleted_meanwhile_is_just_taken_not_an_error(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    slot = slots_of(event)[0]
    Slot.objects.filter(pk=slot.pk).delete()

    with pytest.raises(ValidationError, match="just taken"):
        ask(event, a, b, slot=slot)

    assert not Meeting.objects.exists()


def test_someone_else_cannot_decline(event):
    a, b, c = (ParticipantFactory(event=event) for _ in range(3))
    with pytest.raises(PermissionDenied):
        services.meeting_decline(meeting=ask(event, a, b), by=c)


def test_the_block_clash_message_gives_the_time_in_the_events_zone_and_names_it(event):
    a, b = ParticipantFactory(event=event), ParticipantFactory(event=event)
    slot = slots_of(event)[0]
    services.meeting_accept(meeting=ask(event, a, b, slot=slot), by=b)
    other_block = services.MeetingBlock.objects.create(
        event=event,
        name="Afternoon",
        starts_at=event.ends_at - timedelta(minutes=40),
        ends_at=event.ends_at - timedelta(minutes=20),
        slot_minutes=20,
    )

    with pytest.raises(ValidationError) as refused:
        services.participant_update(
            participant=a,
            organisation_kind=a.organisation_kind,
            headline="",
            max_meetings=5,
            block_ids=[other_block.pk],
        )

    local = timezone.localtime(slot.starts_at, ZoneInfo("Europe/Vienna"))
    assert f"{local:%H:%M} (Europe/Vienna)" in refused.value.messages[0]
