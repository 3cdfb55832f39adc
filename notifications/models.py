from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One e-mail to one recipient, written in the transaction of the action that causes it.

    The row is the truth about a message: the Celery task only carries its id, so a lost
    task, a killed worker or a restarted broker is repaired by the sweeper re-enqueueing
    the row.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    recipient = models.EmailField(_("recipient"), max_length=254)
    # What the message is about, e.g. "account.email_confirmation", "events.registration".
    kind = models.CharField(_("kind"), max_length=100)
    subject = models.CharField(_("subject"), max_length=998)
    body_text = models.TextField(_("body text"))
    body_html = models.TextField(_("body html"), blank=True)
    from_email = models.CharField(_("from email"), max_length=320)
    reply_to = models.CharField(_("reply to"), max_length=998, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    # [[content, mimetype], ...] — alternative renderings of the body besides the HTML one,
    # sent after it inside multipart/alternative; e.g. the
    # "text/calendar; method=REQUEST" part that Outlook and Gmail turn into an RSVP card.
    alternatives = models.JSONField(_("alternatives"), default=list, blank=True)
    # [[filename, text content, mimetype], ...] — calendar files and the like; binary
    # content is stored base64-encoded with a fourth element "base64".
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    # Unique per kind + object + recipient when the caller gives one: enqueueing the same
    # key twice returns the first row and sends once.
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, null=True, blank=True)  # noqa: DJ001
    # What the message belongs to, as its sender names it (e.g. "event:12", "campaign:3"),
    # so the sender can count, list and retry its messages without this app knowing why.
    batch = models.CharField(_("batch"), max_length=80, blank=True, db_index=True)
    # Fixed when the row is written, so a resend carries the same Message-ID.
    message_id = models.CharField(_("message id"), max_length=255)
    # A message rendered by the worker (`email_enqueue_deferred`): the dotted path of
    # `f(**render_params) -> EmailMessage`. The first send stores what it rendered in the
    # fields above and clears both, so a resend sends the same content; "" = rendered.
    render_with = models.CharField(_("render with"), max_length=255, blank=True)
    render_params = models.JSONField(_("render parameters"), default=dict, blank=True)

    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    # When the message was (re-)queued by its cause or by an operator's retry; the
    # maximum age is counted from here.
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    sending_started_at = models.DateTimeField(_("sending started at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # When the content (bodies, calendar parts, attachments, headers) was removed: by the
    # retention purge some days after sending, or because the recipient's account was
    # erased. A purged message is never sent, swept or retried again.
    purged_at = models.DateTimeField(_("purged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
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
