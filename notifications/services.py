"""Outgoing mail. Other apps build a message and hand it here; this app knows none of them.

A message is queued after the surrounding transaction commits, so a rolled-back action
sends nothing, and the web request never waits for SMTP.
"""

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction

from notifications.tasks import email_send_task


def email_payload(*, message: EmailMessage) -> dict:
    """A message as plain data a task can carry."""
    alternatives = [
        [content, mimetype] for content, mimetype in getattr(message, "alternatives", [])
    ]
    return {
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers),
        "alternatives": alternatives,
        # (filename, text content, mimetype): calendar files and the like.
        "attachments": [
            [name, content.decode() if isinstance(content, bytes) else content, mimetype]
            for name, content, mimetype in message.attachments
        ],
    }


def email_message_from_payload(payload: dict) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=payload["subject"],
        body=payload["body"],
        from_email=payload["from_email"],
        to=payload["to"],
        reply_to=payload.get("reply_to") or None,
        headers=payload.get("headers") or None,
    )
    for content, mimetype in payload.get("alternatives", []):
        message.attach_alternative(content, mimetype)
    for name, content, mimetype in payload.get("attachments", []):
        message.attach(name, content, mimetype)
    return message


def email_enqueue(*, message: EmailMessage) -> None:
    payload = email_payload(message=message)
    transaction.on_commit(lambda: email_send_task.delay(payload=payload))
