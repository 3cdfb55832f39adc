"""Claiming outbox rows on PostgreSQL: of several workers reaching for the same rows at
the same instant, exactly one gets each row, and a fresh claim is never taken over."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import OutboxMessage
from notifications.services import _claim
from tests.integration.threads import run_together

pytestmark = pytest.mark.integration

Status = OutboxMessage.Status
WORKERS = 8
ROWS = 40


def _queued(count: int) -> list[int]:
    """Rows written directly: no send task is queued for them, so nothing else claims them."""
    rows = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            recipient=f"claim{i}@example.org",
            kind="test",
            subject=f"Row {i}",
            body_text="x",
            from_email="hub@example.org",
            message_id=f"<claim{i}@example.org>",
        )  # fmt: skip
        for i in range(count)
    )
    return [row.pk for row in rows]


def test_each_row_is_claimed_by_exactly_one_of_eight_simultaneous_workers(
    postgres, transactional_db
):
    ids = _queued(ROWS)

    def worker() -> list[int]:
        return [row.pk for pk in ids if (row := _claim(message_id=pk)) is not None]

    results, errors = run_together([worker] * WORKERS)

    assert errors == []
    claimed = [pk for result in results for pk in result]
    assert sorted(claimed) == sorted(ids)  # every row once: none twice, none missed
    rows = OutboxMessage.objects.filter(pk__in=ids)
    assert {(row.status, row.attempts) for row in rows} == {(Status.SENDING, 1)}


def test_a_stale_claim_is_taken_over_and_a_fresh_one_is_not(postgres, transactional_db):
    stale, fresh = _queued(2)
    long_ago = timezone.now() - timedelta(hours=2)
    OutboxMessage.objects.filter(pk=stale).update(
        status=Status.SENDING, sending_started_at=long_ago
    )
    OutboxMessage.objects.filter(pk=fresh).update(
        status=Status.SENDING, sending_started_at=timezone.now()
    )

    assert _claim(message_id=fresh) is None
    taken = _claim(message_id=stale)
    assert taken is not None and taken.sending_started_at > long_ago
    assert OutboxMessage.objects.get(pk=stale).sending_started_at == taken.sending_started_at
