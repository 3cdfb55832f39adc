"""What a sender sees of its batch: counts, the failures with their reason, retry by batch."""

import pytest
from django.core.mail import EmailMessage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import OutboxMessage
from notifications.selectors import delivery_counts, delivery_failures, delivery_summary
from notifications.services import email_enqueue, outbox_retry_failed, outbox_send

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


def enqueue(to: str, batch: str, kind: str = "events.reminder") -> OutboxMessage:
    """A queued row whose task has not run (the test transaction never commits)."""
    return email_enqueue(
        message=EmailMessage("Reminder", "Tomorrow at 10:00.", to=[to]), kind=kind, batch=batch
    )


def refused(smtp, *rows: OutboxMessage) -> None:
    """Send `rows` to a server that refuses their recipients for good (550)."""
    smtp.rcpt_reply = "550 5.1.1 No such user here"
    for row in rows:
        outbox_send(message_id=row.pk)
    smtp.rcpt_reply = None


def test_enqueue_records_the_batch_and_refuses_an_overlong_one():
    row = enqueue("anna@example.org", batch="event:7")

    row.refresh_from_db()
    assert row.batch == "event:7"
    with pytest.raises(ValueError, match="at most 80"):
        enqueue("bob@example.org", batch="x" * 81)


def test_counts_are_per_batch_and_take_one_query(smtp):
    sent = enqueue("sent@example.org", batch="event:1")
    outbox_send(message_id=sent.pk)
    bounced = enqueue("nobody@example.org", batch="event:1")
    refused(smtp, bounced)
    enqueue("waiting@example.org", batch="event:1")
    enqueue("other@example.org", batch="event:2")
    enqueue("unbatched@example.org", batch="")

    with CaptureQueriesContext(connection) as queries:
        counts = delivery_counts(batch="event:1")

    assert len(queries) == 1
    assert counts == {"queued": 1, "sending": 0, "sent": 1, "failed": 1, "total": 3}
    assert delivery_counts(batch="event:2")["queued"] == 1
    assert delivery_counts(batch="campaign:9") == {
        "queued": 0,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "total": 0,
    }


def test_failures_list_only_that_batchs_failed_rows_with_the_servers_reason(smtp):
    mine = enqueue("nobody@example.org", batch="campaign:3", kind="events.invitation")
    theirs = enqueue("someone@example.org", batch="campaign:4")
    enqueue("waiting@example.org", batch="campaign:3")
    refused(smtp, mine, theirs)

    [failure] = delivery_failures(batch="campaign:3")

    assert (failure.recipient, failure.kind, failure.attempts) == (
        "nobody@example.org",
        "events.invitation",
        1,
    )
    assert "550" in failure.last_error
    assert "No such user" in failure.last_error
    assert failure.updated_at is not None


def test_failures_are_limited_latest_first(smtp):
    rows = [enqueue(f"n{i}@example.org", batch="event:5") for i in range(4)]
    refused(smtp, *rows)

    shown = delivery_failures(batch="event:5", limit=2)

    assert [m.recipient for m in shown] == ["n3@example.org", "n2@example.org"]
    summary = delivery_summary(batch="event:5", limit=2)
    assert summary["counts"]["failed"] == 4
    assert len(summary["failures"]) == 2


def test_retry_by_batch_requeues_only_that_batch_and_sends_it(
    smtp, django_capture_on_commit_callbacks
):
    mine = [enqueue(f"mine{i}@example.org", batch="event:1") for i in range(2)]
    theirs = enqueue("theirs@example.org", batch="event:2")
    refused(smtp, *mine, theirs)

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_retry_failed(batch="event:1") == 2

    assert len(smtp.received) == 2
    assert delivery_counts(batch="event:1")["sent"] == 2
    assert delivery_counts(batch="event:2")["failed"] == 1
    assert list(delivery_failures(batch="event:1")) == []


def test_retry_by_ids_and_batch_needs_both(smtp, django_capture_on_commit_callbacks):
    mine = enqueue("mine@example.org", batch="event:1")
    theirs = enqueue("theirs@example.org", batch="event:2")
    refused(smtp, mine, theirs)

    # An id of another batch is not retried through this batch.
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_retry_failed(ids=[theirs.pk], batch="event:1") == 0

    theirs.refresh_from_db()
    assert theirs.status == Status.FAILED
    assert smtp.received == []
