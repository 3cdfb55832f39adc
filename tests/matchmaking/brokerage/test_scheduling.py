"""Running the scheduler on an event's accepted meetings and publishing its proposal."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail as outgoing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from matchmaking.brokerage import services
from matchmaking.brokerage.models import Meeting, MeetingSeat, ScheduleRun, Table
from matchmaking.brokerage.scheduling import (
    schedule_mail_batch,
    schedule_mail_sweep,
    schedule_publish,
    schedule_run,
)
from matchmaking.brokerage.tasks import schedule_mail_task
from notifications.models import OutboxMessage
from tests.factories import ClusterOrganiserFactory, UserFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    ParticipantFactory,
    accepted,
    block_with_slots,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return BrokerageEventFactory(scheduling="scheduler", slots=3, tables=2)


@pytest.fixture
def organiser(event):
    return ClusterOrganiserFactory(cluster=event.clusters.first()).user


def people(event, n):
    return [ParticipantFactory(event=event) for _ in range(n)]


def placement(meeting):
    meeting.refresh_from_db()
    return meeting.slot_id, meeting.table_id, meeting.sequence


def test_a_run_proposes_and_publishing_places_with_seats_for_both_sides(event, organiser):
    a, b, c = people(event, 3)
    meetings = [accepted(a, b), accepted(a, c), accepted(b, c)]
    run = schedule_run(event=event, by=organiser)
    assert (run.accepted, run.scheduled, run.upper_bound) == (3, 3, 3)
    assert run.outcome == ScheduleRun.Outcome.OPTIMAL
    assert set(run.bound_detail) >= {"tables_x_slots", "people", "meetings"}
    assert Meeting.objects.filter(slot__isnull=False).count() == 0  # only a proposal

    assert schedule_publish(run=run, by=organiser) == 3
    for meeting in meetings:
        meeting.refresh_from_db()
        assert meeting.slot_id and meeting.table_id and meeting.published_at
        assert meeting.sequence == 0  # a first placement
        assert set(meeting.seats.values_list("participant_id", flat=True)) == {
            meeting.requester_id,
            meeting.recipient_id,
        }
    assert MeetingSeat.objects.count() == 6
    # Nobody twice in a slot: the three meetings of a triangle take three slots.
    assert len({m.slot_id for m in meetings}) == 3
    run.refresh_from_db()
    event.brokerage.refresh_from_db()
    assert run.published_at and event.brokerage.schedule_published_at
    assert run.mailed_at is None and run.mail_meeting_ids == sorted(m.pk for m in meetings)
    schedule_mail_task(run_id=run.pk)
    assert OutboxMessage.objects.filter(kind="brokerage.agenda").count() == 6  # each side
    with pytest.raises(ValidationError, match="already been published"):
        schedule_publish(run=run, by=organiser)


def test_a_rerun_after_a_late_accept_keeps_published_meetings_in_place(event, organiser):
    a, b, c, d = people(event, 4)
    first = [accepted(a, b), accepted(c, d)]
    schedule_publish(run=schedule_run(event=event, by=organiser), by=organiser)
    before = [placement(m) for m in first]
    late = accepted(a, c)
    run = schedule_run(event=event, by=organiser)
    assert (run.scheduled, run.kept, run.moved) == (3, 2, 0)
    assert schedule_publish(run=run, by=organiser) == 1  # only the new one
    assert [placement(m) for m in first] == before
    late.refresh_from_db()
    assert late.slot_id and late.sequence == 0


def two_blocks(event):
    """Two one-slot blocks and one table: a meeting in the first block can move to the
    second to make room."""
    event.meeting_slots.all().delete()
    event.meeting_blocks.all().delete()
    Table.objects.filter(event=event).exclude(pk=event.meeting_tables.first().pk).delete()
    morning = block_with_slots(event, slots=1)
    afternoon = block_with_slots(event, slots=1, starts_at=event.starts_at + timedelta(hours=2))
    return morning, afternoon


def test_published_meetings_move_only_when_the_organiser_allows_it(event, organiser):
    morning, afternoon = two_blocks(event)
    a, b = people(event, 2)
    c = ParticipantFactory(event=event, blocks=[morning])
    ab = accepted(a, b)
    schedule_publish(run=schedule_run(event=event, by=organiser), by=organiser)
    assert placement(ab)[0] == morning.slots.get().pk
    ca = accepted(c, a)

    kept = schedule_run(event=event, by=organiser)
    assert (kept.scheduled, kept.kept, kept.moved) == (1, 1, 0)
    moved = schedule_run(event=event, by=organiser, allow_moves=True)
    assert (moved.scheduled, moved.kept, moved.moved) == (2, 0, 1)
    with pytest.raises(ValidationError, match="run again since"):
        schedule_publish(run=kept, by=organiser)

    assert schedule_publish(run=moved, by=organiser) == 2
    assert placement(ab)[0] == afternoon.slots.get().pk
    assert placement(ab)[2] == 1  # moved: SEQUENCE + 1
    assert placement(ca)[0] == morning.slots.get().pk
    assert placement(ca)[2] == 0


def test_a_run_is_refused_when_a_meeting_of_it_is_no_longer_accepted(event, organiser):
    a, b = people(event, 2)
    meeting = accepted(a, b)
    run = schedule_run(event=event, by=organiser)
    Meeting.objects.filter(pk=meeting.pk).update(status=Meeting.Status.CANCELLED)
    with pytest.raises(ValidationError, match="no longer accepted"):
        schedule_publish(run=run, by=organiser)
    assert placement(meeting)[0] is None


def test_a_run_is_refused_when_meetings_were_accepted_after_it(event, organiser):
    a, b, c = people(event, 3)
    accepted(a, b)
    run = schedule_run(event=event, by=organiser)
    accepted(a, c)
    with pytest.raises(ValidationError, match="out of date"):
        schedule_publish(run=run, by=organiser)


def test_a_published_meeting_that_cannot_be_placed_again_is_taken_out(event, organiser):
    a, b = people(event, 2)
    meeting = accepted(a, b)
    schedule_publish(run=schedule_run(event=event, by=organiser), by=organiser)
    Table.objects.filter(event=event).update(is_active=False)
    run = schedule_run(event=event, by=organiser)
    assert (run.scheduled, run.upper_bound, run.moved) == (0, 0, 1)
    assert schedule_publish(run=run, by=organiser) == 1
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.ACCEPTED
    assert (meeting.slot_id, meeting.table_id, meeting.sequence) == (None, None, 1)
    assert not meeting.seats.exists()


def test_absent_participants_are_not_scheduled(event, organiser):
    a, b = people(event, 2)
    a.user.registrations.update(status="cancelled")
    accepted(a, b)
    run = schedule_run(event=event, by=organiser)
    assert (run.scheduled, run.upper_bound) == (0, 0)


def test_only_organisers_run_and_publish(event, organiser):
    a, b = people(event, 2)
    accepted(a, b)
    stranger = UserFactory()
    with pytest.raises(PermissionDenied):
        schedule_run(event=event, by=stranger)
    run = schedule_run(event=event, by=organiser)
    with pytest.raises(PermissionDenied):
        schedule_publish(run=run, by=stranger)


def own_queries(callable_) -> int:
    """Queries of `callable_`, without the outbox's (a row, in a savepoint, per person
    mailed)."""
    with CaptureQueriesContext(connection) as captured:
        callable_()
    mail = ("notifications_", "SAVEPOINT", "RELEASE SAVEPOINT")
    return sum(1 for q in captured.captured_queries if not any(word in q["sql"] for word in mail))


def test_queries_do_not_grow_with_the_number_of_meetings():
    organising = ClusterOrganiserFactory()
    counts = []
    for n in (4, 12):
        event = BrokerageEventFactory(
            scheduling="scheduler", slots=6, tables=n, clusters=[organising.cluster]
        )
        crowd = people(event, n)
        for i in range(n):
            accepted(crowd[i], crowd[(i + 1) % n])
        runs: list[ScheduleRun] = []
        counts.append(
            own_queries(lambda e=event, out=runs: out.append(schedule_run(event=e, by=None)))
        )
        assert runs[0].scheduled == n
        counts.append(own_queries(lambda r=runs[0]: schedule_publish(run=r, by=organising.user)))
    assert counts[:2] == counts[2:]


# --- the agenda mail of a published schedule --------------------------------------------


def agenda_mail(participant) -> list[tuple[int, str, int]]:
    """(meeting, METHOD, SEQUENCE) of each agenda mail queued for `participant`, from
    the calendar it carries."""
    found = []
    for row in OutboxMessage.objects.filter(recipient=participant.user.email).order_by("pk"):
        [ics] = [content for _name, content, _type in row.attachments]
        method = "CANCEL" if "METHOD:CANCEL" in ics else "REQUEST"
        uid = ics.split("UID:brokerage-meeting-")[1].split("@")[0]
        sequence = ics.split("SEQUENCE:")[1].split("\r\n")[0]
        found.append((int(uid), method, int(sequence)))
    return found


def test_publishing_only_records_the_mail_it_owes_and_queues_one_task_on_commit(
    event, organiser, django_capture_on_commit_callbacks
):
    a, b, c = people(event, 3)
    meetings = [accepted(a, b), accepted(a, c)]
    run = schedule_run(event=event, by=organiser)
    with django_capture_on_commit_callbacks() as callbacks:
        assert schedule_publish(run=run, by=organiser) == 2
    assert len(callbacks) == 1  # the mail task, not one callback per mail
    assert not OutboxMessage.objects.exists()  # nothing built in the publish
    run.refresh_from_db()
    assert run.mail_meeting_ids == sorted(m.pk for m in meetings)
    assert (run.mail_done, run.mailed_at) == (0, None)
    assert run.mail_queued_at == run.published_at

    with django_capture_on_commit_callbacks(execute=True):
        callbacks[0]()  # the task, as a worker runs it
    run.refresh_from_db()
    assert run.mail_done == 2 and run.mailed_at is not None
    assert agenda_mail(a) == [(meetings[0].pk, "REQUEST", 0), (meetings[1].pk, "REQUEST", 0)]
    assert agenda_mail(b) == [(meetings[0].pk, "REQUEST", 0)]
    assert agenda_mail(c) == [(meetings[1].pk, "REQUEST", 0)]
    assert {m.to[0] for m in outgoing.outbox} == {p.user.email for p in (a, b, c)}
    assert len(outgoing.outbox) == 4  # handed to the mail server after the batch's commit


def test_the_task_sends_in_batches_and_a_second_run_sends_nothing_more(event, organiser):
    crowd = people(event, 6)
    meetings = [accepted(crowd[i], crowd[i + 3]) for i in range(3)]
    run = schedule_run(event=event, by=organiser)
    schedule_publish(run=run, by=organiser)
    assert schedule_mail_batch(run_id=run.pk, size=2) is False
    run.refresh_from_db()
    assert (run.mail_done, run.mailed_at) == (2, None)
    assert OutboxMessage.objects.count() == 4
    assert schedule_mail_batch(run_id=run.pk, size=2) is True
    run.refresh_from_db()
    assert run.mail_done == 3 and run.mailed_at is not None
    assert OutboxMessage.objects.count() == 6
    for meeting in meetings:
        for side in (meeting.requester, meeting.recipient):
            assert agenda_mail(side) == [(meeting.pk, "REQUEST", 0)]

    schedule_mail_task(run_id=run.pk)  # a duplicate task (e.g. re-queued by the sweep)
    ScheduleRun.objects.filter(pk=run.pk).update(mailed_at=None, mail_done=0)
    schedule_mail_task(run_id=run.pk)  # even one that starts over from the first batch
    assert OutboxMessage.objects.count() == 6


def test_a_meeting_moved_or_cancelled_before_the_task_gets_only_its_current_state(event, organiser):
    a, b, c, d = people(event, 4)
    moving, cancelled = accepted(a, b), accepted(c, d)
    run = schedule_run(event=event, by=organiser)
    schedule_publish(run=run, by=organiser)  # its task is still waiting
    moving.refresh_from_db()
    other = event.meeting_slots.exclude(pk=moving.slot_id).order_by("starts_at").first()
    services.meeting_place(meeting=moving, slot=other, table=None)  # mails SEQUENCE 1
    services.meeting_cancel(meeting=Meeting.objects.get(pk=cancelled.pk), by=organiser)

    schedule_mail_task(run_id=run.pk)
    for side in (a, b):
        assert agenda_mail(side) == [(moving.pk, "REQUEST", 1)]  # never the stale 0
    for side in (c, d):
        assert agenda_mail(side) == [(cancelled.pk, "CANCEL", 1)]  # never a REQUEST
    run.refresh_from_db()
    assert run.mailed_at is not None


def test_the_task_builds_each_mail_from_the_meeting_as_it_is_when_it_runs(event, organiser):
    a, b = people(event, 2)
    meeting = accepted(a, b)
    run = schedule_run(event=event, by=organiser)
    schedule_publish(run=run, by=organiser)
    meeting.refresh_from_db()
    other = event.meeting_slots.exclude(pk=meeting.slot_id).order_by("starts_at").first()
    # Moved without its own mail (e.g. a change whose mail was lost with its worker).
    services.meeting_place(meeting=meeting, slot=other, table=None, mail=False)
    schedule_mail_task(run_id=run.pk)
    assert agenda_mail(a) == agenda_mail(b) == [(meeting.pk, "REQUEST", 1)]
    [row] = OutboxMessage.objects.filter(recipient=a.user.email)
    start = other.starts_at.astimezone(ZoneInfo(event.timezone))
    assert f"DTSTART;TZID={event.timezone}:{start:%Y%m%dT%H%M%S}" in str(row.attachments)


def test_the_sweep_queues_again_a_run_whose_mail_task_was_lost(
    event, organiser, django_capture_on_commit_callbacks
):
    a, b = people(event, 2)
    meeting = accepted(a, b)
    run = schedule_run(event=event, by=organiser)
    with django_capture_on_commit_callbacks():  # the task is lost (broker restart)
        schedule_publish(run=run, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_mail_sweep() == 0  # not yet: its task may still be on its way
    assert not OutboxMessage.objects.exists()

    later = timezone.now() + timedelta(minutes=4)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert schedule_mail_sweep(now=later) == 1
    assert len(callbacks) >= 1
    run.refresh_from_db()
    assert run.mailed_at is not None
    assert agenda_mail(a) == agenda_mail(b) == [(meeting.pk, "REQUEST", 0)]
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule_mail_sweep(now=later + timedelta(minutes=10)) == 0


def test_a_publish_that_changes_nothing_owes_no_mail(event, organiser):
    a, b = people(event, 2)
    accepted(a, b)
    first = schedule_run(event=event, by=organiser)
    schedule_publish(run=first, by=organiser)
    schedule_mail_task(run_id=first.pk)
    run = schedule_run(event=event, by=organiser)
    assert schedule_publish(run=run, by=organiser) == 0
    run.refresh_from_db()
    assert run.mail_meeting_ids == [] and run.mailed_at is not None
    assert schedule_mail_sweep(now=timezone.now() + timedelta(hours=1)) == 0


def test_the_schedule_page_shows_how_far_the_agenda_mail_is(event, organiser, client_for):
    crowd = people(event, 4)
    accepted(crowd[0], crowd[1])
    accepted(crowd[2], crowd[3])
    run = schedule_run(event=event, by=organiser)
    schedule_publish(run=run, by=organiser)
    page = reverse("brokerage:manage_schedule", kwargs={"slug": event.slug})
    client = client_for(organiser)
    text = client.get(page).content.decode()
    assert "Agenda mail: being sent, 0 of 2 changed meetings done" in text
    schedule_mail_batch(run_id=run.pk, size=1)
    assert "1 of 2 changed meetings done" in client.get(page).content.decode()
    schedule_mail_task(run_id=run.pk)
    assert "Agenda mail: sent for 2 of 2 changed meetings" in client.get(page).content.decode()
