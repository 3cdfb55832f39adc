"""Batched delivery: many rows written in one insert, sent over one SMTP connection, each
row still claimed and marked on its own, so a dead worker or a refused address costs at
most its own message."""

from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import OutboxMessage
from notifications.services import (
    SEND_BATCH,
    TransientDeliveryError,
    email_enqueue_deferred,
    email_enqueue_many,
    outbox_send_batch,
    outbox_sweep,
)

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


def invitation(to: str) -> EmailMessage:
    return EmailMessage("Cobot day: you are invited", f"Hello {to}", "hub@example.org", [to])


def addresses(n: int) -> list[str]:
    return [f"member{i:03}@example.org" for i in range(n)]


def enqueue_many(emails: list[str]) -> list[OutboxMessage]:
    return email_enqueue_many(
        messages=[invitation(e) for e in emails],
        idempotency_keys=[f"invitation:1:{e}" for e in emails],
        kind="events.invitation",
        batch="campaign:1",
    )


def ids(rows: list[OutboxMessage]) -> list[int]:
    return [row.pk for row in rows]


def received_by(smtp) -> list[str]:
    return [message_from_bytes(m, policy=policy.default)["To"] for m in smtp.received]


def test_many_rows_are_one_insert_and_one_send_task_per_batch_after_commit(
    django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    emails = addresses(2 * SEND_BATCH + 1)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        django_assert_max_num_queries(6),  # the key check and the insert, whatever the count
    ):
        rows = enqueue_many(emails)

    assert len(rows) == len(emails)
    assert len(callbacks) == 3
    assert len(mail.outbox) == len(emails)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}


def test_keys_already_in_the_outbox_are_left_out(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_many(addresses(3))
    with django_capture_on_commit_callbacks(execute=True):
        again = enqueue_many(addresses(5))

    assert [row.recipient for row in again] == addresses(5)[3:]
    assert OutboxMessage.objects.count() == 5
    assert sorted(m.to[0] for m in mail.outbox) == addresses(5)


def test_a_rolled_back_chunk_leaves_no_row_and_no_task(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        enqueue_many(addresses(3))
        raise RuntimeError("the chunk failed")

    assert callbacks == []
    assert not OutboxMessage.objects.exists()


def test_a_batch_goes_over_one_smtp_connection_and_each_row_is_marked_sent(smtp):
    rows = enqueue_many(addresses(10))

    outbox_send_batch(message_ids=ids(rows))

    assert sorted(received_by(smtp)) == addresses(10)
    assert len(set(smtp.peers)) == 1
    assert list(OutboxMessage.objects.values_list("status", "attempts").distinct()) == [
        (Status.SENT, 1)
    ]


def test_rows_sent_or_held_by_another_worker_are_passed_by(smtp):
    rows = enqueue_many(addresses(4))
    outbox_send_batch(message_ids=ids(rows[:1]))
    OutboxMessage.objects.filter(pk=rows[1].pk).update(
        status=Status.SENDING, sending_started_at=timezone.now(), attempts=1
    )

    outbox_send_batch(message_ids=ids(rows))  # a redelivered task, another worker busy

    assert sorted(received_by(smtp)) == [rows[0].recipient, rows[2].recipient, rows[3].recipient]
    assert OutboxMessage.objects.get(pk=rows[1].pk).status == Status.SENDING


def test_a_refused_address_fails_alone_and_the_others_are_sent(smtp):
    rows = enqueue_many(addresses(5))
    smtp.rcpt_replies[rows[1].recipient] = "550 No such user"

    outbox_send_batch(message_ids=ids(rows))

    assert len(set(smtp.peers)) == 1  # the connection survived the refusal
    failed = OutboxMessage.objects.get(pk=rows[1].pk)
    assert (failed.status, failed.last_error[:22]) == (Status.FAILED, "SMTPRecipientsRefused:")
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 4


def test_an_address_refused_for_now_goes_back_to_queued_and_the_retry_sends_it(smtp):
    rows = enqueue_many(addresses(5))
    smtp.rcpt_replies[rows[2].recipient] = "450 Mailbox busy, try later"

    with pytest.raises(TransientDeliveryError):
        outbox_send_batch(message_ids=ids(rows))  # Celery retries the task then

    later = OutboxMessage.objects.get(pk=rows[2].pk)
    assert (later.status, later.attempts) == (Status.QUEUED, 1)
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 4
    smtp.rcpt_replies.clear()
    outbox_send_batch(message_ids=ids(rows))
    assert sorted(received_by(smtp)) == addresses(5)


def test_a_server_that_is_down_leaves_the_batch_queued_for_the_retry(closed_port):
    rows = enqueue_many(addresses(5))

    with pytest.raises(TransientDeliveryError):
        outbox_send_batch(message_ids=ids(rows))

    first, *rest = OutboxMessage.objects.filter(pk__in=ids(rows)).order_by("pk")
    assert (first.status, first.attempts) == (Status.QUEUED, 1)
    assert "ConnectionRefusedError" in first.last_error
    # Not even tried: their connection would have failed alike.
    assert {(row.status, row.attempts) for row in rest} == {(Status.QUEUED, 0)}


def test_a_message_whose_render_fails_does_not_hold_back_the_others(smtp):
    rows = enqueue_many(addresses(2))
    broken = email_enqueue_deferred(
        recipient="broken@example.org",
        render="notifications.no_such_module.render",
        params={},
        kind="events.registration",
    )

    outbox_send_batch(message_ids=[broken.pk, *ids(rows)])

    assert sorted(received_by(smtp)) == addresses(2)
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == (Status.QUEUED, 1)
    assert "ImportError" in broken.last_error or "ModuleNotFoundError" in broken.last_error


commit_modes: list[str] = []


def reading_the_commit_mode(*, to: str) -> EmailMessage:
    """A deferred message's render, run by the worker between its claim and its send."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        commit_modes.append(cursor.fetchone()[0])
    return invitation(to)


@pytest.mark.parametrize(("setting", "while_sending"), [(True, "off"), (False, "on")])
def test_on_postgresql_the_workers_marks_do_not_wait_for_the_disk_unless_told(
    smtp, settings, setting, while_sending
):
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's; the PostgreSQL run covers it")
    settings.OUTBOX_ASYNCHRONOUS_COMMIT = setting
    commit_modes.clear()
    rows = [
        email_enqueue_deferred(
            recipient=email,
            render=f"{__name__}.reading_the_commit_mode",
            params={"to": email},
            kind="events.invitation",
        )  # fmt: skip
        for email in addresses(2)
    ]

    outbox_send_batch(message_ids=ids(rows))

    assert commit_modes == [while_sending, while_sending]
    assert sorted(received_by(smtp)) == addresses(2)
    assert {row.status for row in OutboxMessage.objects.filter(pk__in=ids(rows))} == {Status.SENT}
    with connection.cursor() as cursor:  # the connection is as it was for whatever runs next
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


class KilledOnTheThirdMessage(LocmemBackend):
    """The worker dies after the server took the third message, before the row is marked
    sent (SystemExit gets past every `except Exception`, as a killed process would)."""

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        if len(mail.outbox) == 3:
            raise SystemExit("worker killed")
        return sent


def test_a_worker_killed_mid_batch_duplicates_at_most_the_message_it_was_sending(settings):
    rows = enqueue_many(addresses(6))
    settings.EMAIL_BACKEND = f"{__name__}.KilledOnTheThirdMessage"
    with pytest.raises(SystemExit):
        outbox_send_batch(message_ids=ids(rows))

    statuses = dict(OutboxMessage.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids(rows)] == [Status.SENT] * 2 + [Status.SENDING] + [
        Status.QUEUED
    ] * 3

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    outbox_send_batch(message_ids=ids(rows))  # the redelivered task
    stale = timezone.now() + timedelta(seconds=settings.OUTBOX_SENDING_STALE_AFTER_SECONDS + 1)
    outbox_sweep(now=stale)  # takes over the dead worker's message

    sent = [m.to[0] for m in mail.outbox]
    assert sorted(set(sent)) == addresses(6)
    assert [a for a in set(sent) if sent.count(a) > 1] == [rows[2].recipient]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
