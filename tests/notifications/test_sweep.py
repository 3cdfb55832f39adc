"""When the sweeper sends a message again: a lost task within about a minute and a half,
a retry left to Celery, and a long backlog that gets few, harmless duplicates."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.mail import EmailMessage
from django.utils import timezone

from notifications import services
from notifications.models import OutboxMessage
from notifications.services import email_enqueue, outbox_sweep
from notifications.tasks import outbox_send_task

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
SEND = "notifications.tasks.outbox_send_task"


def enqueue(to: str) -> OutboxMessage:
    return email_enqueue(message=EmailMessage("Hi", "Body", "noreply@example.org", [to]))


def later(**delta) -> timezone.datetime:
    return timezone.now() + timedelta(**delta)


def test_a_message_whose_task_was_lost_is_sent_again_after_a_minute_not_before(
    broker_queue, mailoutbox
):
    row = enqueue("lost@example.org")
    broker_queue.run_all()  # its task was never published: the broker lost it

    assert outbox_sweep(now=later(seconds=55)) == 0
    assert outbox_sweep(now=later(seconds=65)) == 1

    assert broker_queue.run_all() == [(SEND, {"message_id": row.pk})]
    assert [m.to for m in mailoutbox] == [["lost@example.org"]]


def test_a_message_waiting_for_its_celery_retry_is_left_to_it_for_eleven_minutes(
    broker_queue, mailoutbox
):
    row = enqueue("greylisted@example.org")
    # A 450 put it back in the queue; Celery holds its retry for up to ten minutes.
    OutboxMessage.objects.filter(pk=row.pk).update(attempts=1, last_error="450 try later")

    assert outbox_sweep(now=later(minutes=5)) == 0
    assert outbox_sweep(now=later(minutes=10, seconds=30)) == 0
    assert outbox_sweep(now=later(minutes=11, seconds=30)) == 1

    broker_queue.run_all()
    assert [m.to for m in mailoutbox] == [["greylisted@example.org"]]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 2)


def test_a_backlog_gets_at_most_one_duplicate_per_message_and_minute_and_sends_once_each(
    broker_queue, mailoutbox, django_capture_on_commit_callbacks
):
    # 30 invitations whose tasks wait behind a busy worker: nothing is lost, only slow.
    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        rows = [enqueue(f"member{i:02}@example.org") for i in range(30)]
    assert len(broker_queue.pending()) == 30

    # Sweeps every 30 s while the worker is still busy elsewhere.
    swept = [outbox_sweep(now=start + timedelta(seconds=s)) for s in (30, 60, 61, 90, 122, 150)]

    # Each message once after its first minute and once after its second: no more.
    assert swept == [0, 0, 30, 0, 30, 0]
    assert len(broker_queue.pending()) == 30 + 60
    broker_queue.run_all()
    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.recipient for r in rows)
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {(Status.SENT, 1)}


def test_one_sweep_re_enqueues_at_most_a_batch_oldest_first(broker_queue, monkeypatch):
    monkeypatch.setattr(services, "SWEEP_BATCH", 2)
    rows = [enqueue(f"member{i}@example.org") for i in range(3)]
    for minutes, row in zip((3, 2, 4), rows, strict=True):
        OutboxMessage.objects.filter(pk=row.pk).update(updated_at=later(minutes=-minutes))

    assert outbox_sweep() == 2
    assert [kwargs["message_id"] for _, kwargs in broker_queue.pending()] == [
        rows[2].pk,
        rows[0].pk,
    ]
    assert outbox_sweep() == 1  # the rest on the next sweep


def test_a_duplicate_task_for_a_message_a_live_worker_is_sending_sends_nothing(mailoutbox):
    row = enqueue("busy@example.org")
    OutboxMessage.objects.filter(pk=row.pk).update(
        status=Status.SENDING, attempts=1, sending_started_at=timezone.now()
    )

    outbox_send_task.delay(message_id=row.pk)

    assert mailoutbox == []
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENDING, 1)


def test_beat_sweeps_often_enough_for_a_lost_message_to_go_out_within_ninety_seconds():
    [entry] = [
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "notifications.tasks.outbox_sweep_task"
    ]
    assert entry["schedule"] + services.requeue_after().total_seconds() <= 90
    # A retry Celery still holds is never overtaken.
    assert services.retry_requeue_after().total_seconds() > outbox_send_task.retry_backoff_max


def test_a_message_queued_before_the_broker_restarted_counts_as_lost_at_once():
    # `notifications.broker` reads the start from a Redis broker (the integration test
    # restarts a real one); here the rule it feeds: queued before the start is lost.
    before = enqueue("before@example.org")
    restart = later(seconds=5)
    OutboxMessage.objects.filter(pk=before.pk).update(updated_at=restart - timedelta(seconds=1))
    after = enqueue("after@example.org")
    OutboxMessage.objects.filter(pk=after.pk).update(updated_at=restart + timedelta(seconds=1))
    now = restart + timedelta(seconds=10)

    def lost(broker_started):
        rule = services._lost(now=now, broker_started=broker_started)
        return list(OutboxMessage.objects.filter(rule).values_list("recipient", flat=True))

    assert lost(restart) == ["before@example.org"]
    assert lost(None) == []  # a broker that cannot tell: the minute rule waits
