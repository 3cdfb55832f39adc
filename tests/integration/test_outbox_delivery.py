"""The outbox loses nothing when a worker is SIGKILLed mid-run: Redis, real workers, SMTP."""

import time
from collections import Counter

import pytest
from django.core.mail import EmailMessage
from django.db import transaction

from notifications.models import OutboxMessage
from notifications.services import email_enqueue, outbox_sweep
from tests.integration.outbox_helpers import wait_for_the_row_stuck_in_smtp

pytestmark = pytest.mark.integration

RECIPIENTS = [f"member{i:03}@example.org" for i in range(500)]


def test_500_messages_arrive_once_each_although_a_worker_is_killed_mid_run(
    postgres, celery_workers, smtp_server, settings
):
    mailbox, _ = smtp_server
    with transaction.atomic():
        for address in RECIPIENTS:
            email_enqueue(
                message=EmailMessage(
                    "Robotics roundtable: you are invited",
                    f"Hello {address}",
                    "Clusterhub <noreply@example.org>",
                    [address],
                ),
                kind="itest.invitation",
                idempotency_key=f"itest.invitation:roundtable:{address}",
            )
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.QUEUED).count() == 500

    # The 101st message hangs in the SMTP conversation: the worker is killed mid-send.
    mailbox.stall_after = 100
    first = celery_workers.start()
    mailbox.wait_for(100, timeout=60)
    in_flight = wait_for_the_row_stuck_in_smtp(mailbox)
    first.kill()  # SIGKILL: no clean shutdown, its unacknowledged task stays with Redis
    first.wait(10)
    mailbox.stall_after = None  # the dead worker's half-sent message is not accepted
    assert len(mailbox.messages) == 100

    celery_workers.start()
    # The sweeper is what rescues the killed worker's message; run it here on a short
    # fuse (production: every minute, after 15 minutes in `sending`).
    # Longer than any single send takes on a loaded machine: a shorter fuse would take
    # over messages a live worker is still sending, which is a test artefact, not a loss.
    settings.OUTBOX_SENDING_STALE_AFTER_SECONDS = 30
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 5
    deadline = time.monotonic() + 180
    while OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exists():
        assert time.monotonic() < deadline, Counter(
            OutboxMessage.objects.values_list("status", flat=True)
        )
        outbox_sweep()
        time.sleep(1)
    time.sleep(1)  # let a straggling duplicate, if any, arrive before counting

    received = Counter(message["To"] for message in mailbox.messages)
    assert set(received) == set(RECIPIENTS)
    # Killed before the server accepted it, the in-flight message arrives exactly once.
    # (Killed after acceptance but before the row is marked sent, it would arrive twice
    # with the same Message-ID: the one duplicate an SMTP outbox cannot rule out.)
    assert [n for n in received.values() if n > 1] == []
    assert len(mailbox.messages) == 500
    # The sweeper took the killed worker's message over: a second attempt sent it.
    assert OutboxMessage.objects.get(pk=in_flight).attempts == 2
    assert set(OutboxMessage.objects.exclude(pk=in_flight).values_list("attempts", flat=True)) == {
        1
    }
