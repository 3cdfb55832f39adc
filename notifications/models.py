from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    """One e-mail to one recipient, written in the transaction of the action that causes it.

    The row is the truth about a message: the Celery task only carries its id, so a lost
    task, a killed worker or a restarted broker is repaired by the sweeper re-enqueueing
    the row.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.EmailField(max_length=254)
    # What the message is about, e.g. "account.email_confirmation", "events.registration".
    kind = models.CharField(max_length=100)
    subject = models.CharField(max_length=998)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    from_email = models.CharField(max_length=320)
    reply_to = models.CharField(max_length=998, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # [[content, mimetype], ...] — alternative renderings of the body besides the HTML one,
    # sent after it inside multipart/alternative; e.g. the
    # "text/calendar; method=REQUEST" part that Outlook and Gmail turn into an RSVP card.
    alternatives = models.JSONField(default=list, blank=True)
    # [[filename, text content, mimetype], ...] — calendar files and the like; binary
    # content is stored base64-encoded with a fourth element "base64".
    attachments = models.JSONField(default=list, blank=True)
    # Unique per kind + object + recipient when the caller gives one: enqueueing the same
    # key twice returns the first row and sends once.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # What the message belongs to, as its sender names it (e.g. "event:12", "campaign:3"),
    # so the sender can count, list and retry its messages without this app knowing why.
    batch = models.CharField(max_length=80, blank=True, db_index=True)
    # Fixed when the row is written, so a resend carries the same Message-ID.
    message_id = models.CharField(max_length=255)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When the message was (re-)queued by its cause or by an operator's retry; the
    # maximum age is counted from here.
    queued_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the content (bodies, calendar parts, attachments, headers) was removed: by the
    # retention purge some days after sending, or because the recipient's account was
    # erased. A purged message is never sent, swept or retried again.
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbox message"
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="notifications_outbox_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sending", "sent", "failed"]),
                name="notifications_outbox_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="notif_outbox_status_upd_idx"),
            # The retention purge reads sent messages that still hold their content.
            models.Index(
                fields=["sent_at"],
                condition=Q(status="sent", purged_at__isnull=True),
                name="notif_outbox_unpurged_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"
