"""Thin tasks: bounded retries of transient errors only; a sweeper on the beat schedule."""

import pytest
from django.conf import settings as django_settings
from django.core.mail import EmailMessage

from notifications.models import OutboxMessage
from notifications.services import TransientDeliveryError, email_enqueue
from notifications.tasks import outbox_send_task, outbox_sweep_task

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


def message() -> EmailMessage:
    return EmailMessage("Hi", "Body", "noreply@example.org", ["anna@example.org"])


def test_the_task_sends_the_row_once(mailoutbox):
    row = email_enqueue(message=message())

    outbox_send_task.delay(message_id=row.pk)
    outbox_send_task.delay(message_id=row.pk)

    assert len(mailoutbox) == 1


@pytest.fixture
def eager_errors_kept_in_the_result():
    conf = outbox_send_task.app.conf
    propagates = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = propagates


def test_a_transient_error_is_retried_a_bounded_number_of_times(
    closed_port, eager_errors_kept_in_the_result
):
    row = email_enqueue(message=message())

    # Eager mode runs the retries at once; a worker spaces them with backoff and jitter.
    result = outbox_send_task.apply(kwargs={"message_id": row.pk})

    assert result.failed()
    assert isinstance(result.result, TransientDeliveryError)
    row.refresh_from_db()
    assert row.attempts == 1 + outbox_send_task.max_retries
    assert row.status == Status.QUEUED  # the sweeper keeps trying until the maximum age


def test_a_permanent_error_is_not_retried(smtp):
    smtp.rcpt_reply = "550 No such user here"
    row = email_enqueue(message=message())

    outbox_send_task.delay(message_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.FAILED, 1)


def test_the_sweep_task_runs_the_sweeper(mailoutbox, settings):
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
    email_enqueue(message=message())

    assert outbox_sweep_task.delay().get() == 1
    assert len(mailoutbox) == 1


def test_the_sweeper_runs_every_30_seconds_and_no_countdown_outlives_the_visibility_timeout():
    [entry] = [
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "notifications.tasks.outbox_sweep_task"
    ]
    assert entry["schedule"] == 30.0
    visibility = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert outbox_send_task.retry_backoff_max < visibility
    assert django_settings.CELERY_TASK_ACKS_LATE
    assert django_settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    # A live worker is never overtaken by the sweeper.
    assert django_settings.OUTBOX_SENDING_STALE_AFTER_SECONDS > (
        django_settings.CELERY_TASK_TIME_LIMIT
    )
