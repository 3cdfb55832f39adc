"""Reads of the outbox, by batch: what a sender shows about the messages it handed over.

A batch is the sender's name for a group of messages (e.g. "event:12", "campaign:3");
this app does not interpret it. The sender checks who may see a batch before asking.
"""

from typing import TypedDict

from django.db.models import Count, Q, QuerySet

from notifications.models import OutboxMessage

Status = OutboxMessage.Status

FAILURES_SHOWN = 50


class DeliveryCounts(TypedDict):
    queued: int
    sending: int
    sent: int
    failed: int
    total: int


def delivery_counts(*, batch: str) -> DeliveryCounts:
    """How many messages of `batch` are queued, sending, sent and failed (one query)."""
    counts = dict.fromkeys(Status.values, 0)
    rows = (
        OutboxMessage.objects.filter(batch=batch)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status, n in rows:
        counts[status] = n
    return DeliveryCounts(
        queued=counts[Status.QUEUED],
        sending=counts[Status.SENDING],
        sent=counts[Status.SENT],
        failed=counts[Status.FAILED],
        total=sum(counts.values()),
    )


def delivery_failures(*, batch: str, limit: int = FAILURES_SHOWN) -> QuerySet[OutboxMessage]:
    """The failed messages of `batch`, latest first, with what the sender shows of them."""
    return (
        OutboxMessage.objects.filter(batch=batch, status=Status.FAILED)
        .order_by("-updated_at", "-pk")
        .only("pk", "recipient", "kind", "last_error", "attempts", "updated_at")[:limit]
    )


def delivery_summary(*, batch: str, limit: int = FAILURES_SHOWN) -> dict:
    """What `templates/notifications/delivery_summary.html` shows of a batch (two queries)."""
    return {
        "batch": batch,
        "counts": delivery_counts(batch=batch),
        "failures": list(delivery_failures(batch=batch, limit=limit)),
    }


def messages_to(*, emails: list[str]) -> QuerySet[OutboxMessage]:
    """Every message the outbox holds for these addresses (one person's), oldest first:
    for that person's data export."""
    to_them = Q(pk__in=[])
    for email in emails:
        to_them |= Q(recipient__iexact=email)
    return OutboxMessage.objects.filter(to_them).order_by("created_at", "pk")
