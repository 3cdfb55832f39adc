"""Sent mail keeps its bodies and attachments for OUTBOX_BODY_RETENTION_DAYS, then only
who got what and when: and a message without its content is never sent again."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.utils import timezone

from config.celery import app
from notifications.models import OutboxMessage
from notifications.selectors import delivery_counts
from notifications.services import (
    email_enqueue,
    outbox_purge_bodies,
    outbox_retry_failed,
    outbox_send,
    outbox_sweep,
)

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def message(to: str = "anna@example.org") -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject="You are registered: Cobot day",
        body="Hello Anna, see you on Tuesday.",
        from_email="hub@example.org",
        to=[to],
        headers={"List-Unsubscribe": "<https://hub.example.org/unsubscribe/secret/>"},
    )
    email.attach_alternative("<p>Hello Anna</p>", "text/html")
    email.attach_alternative(CALENDAR, "text/calendar; method=REQUEST")
    email.attach("invitation.ics", CALENDAR, "text/calendar; method=REQUEST")
    return email


def sent(to: str = "anna@example.org") -> OutboxMessage:
    row = email_enqueue(message=message(to), kind="events.registration", batch="event:1")
    outbox_send(message_id=row.pk)
    row.refresh_from_db()
    assert row.status == Status.SENT
    return row


def test_a_message_sent_31_days_ago_loses_its_bodies_and_attachments(mailoutbox):
    row = sent()

    assert outbox_purge_bodies(now=row.sent_at + timedelta(days=31)) == 1

    row.refresh_from_db()
    assert (row.body_text, row.body_html, row.alternatives, row.attachments, row.headers) == (
        "",
        "",
        [],
        [],
        {},
    )
    assert row.purged_at is not None
    # Who got what, when, and how it went stay: the organisers' counts do not move.
    assert (row.recipient, row.subject, row.status) == (
        "anna@example.org",
        "You are registered: Cobot day",
        Status.SENT,
    )
    assert row.sent_at is not None and row.message_id
    assert delivery_counts(batch="event:1")["sent"] == 1


def test_a_message_sent_29_days_ago_keeps_them(mailoutbox):
    row = sent()

    assert outbox_purge_bodies(now=row.sent_at + timedelta(days=29)) == 0

    row.refresh_from_db()
    assert row.body_text == "Hello Anna, see you on Tuesday."
    assert row.body_html == "<p>Hello Anna</p>"
    assert row.attachments == [["invitation.ics", CALENDAR, "text/calendar; method=REQUEST"]]
    assert row.purged_at is None


def test_queued_and_sending_messages_keep_theirs_and_old_failures_lose_theirs(mailoutbox):
    queued = email_enqueue(message=message("queued@example.org"))
    sending = email_enqueue(message=message("sending@example.org"))
    failed = email_enqueue(message=message("failed@example.org"))
    recent_failure = email_enqueue(message=message("recent@example.org"))
    long_ago = timezone.now() - timedelta(days=90)
    OutboxMessage.objects.filter(pk=sending.pk).update(
        status=Status.SENDING, sending_started_at=long_ago
    )
    OutboxMessage.objects.filter(pk=failed.pk).update(status=Status.FAILED, updated_at=long_ago)
    OutboxMessage.objects.filter(pk=recent_failure.pk).update(status=Status.FAILED)
    OutboxMessage.objects.filter(pk__in=[queued.pk, sending.pk, failed.pk]).update(
        created_at=long_ago, queued_at=long_ago
    )

    assert outbox_purge_bodies(now=timezone.now() + timedelta(days=1)) == 1

    for row in (queued, sending, recent_failure):
        row.refresh_from_db()
        assert row.body_text == "Hello Anna, see you on Tuesday." and row.attachments
        assert row.purged_at is None
    failed.refresh_from_db()
    assert (failed.body_text, failed.attachments, failed.status) == ("", [], Status.FAILED)
    assert outbox_retry_failed(ids=[failed.pk]) == 0  # nothing left to send


def test_the_retention_is_a_setting(settings, mailoutbox):
    settings.OUTBOX_BODY_RETENTION_DAYS = 7
    row = sent()

    assert outbox_purge_bodies(now=row.sent_at + timedelta(days=6)) == 0
    assert outbox_purge_bodies(now=row.sent_at + timedelta(days=8)) == 1


def test_the_command_purges_once_and_says_how_many(mailoutbox, capsys):
    rows = [sent(f"person{i}@example.org") for i in range(3)]
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows[:2]]).update(
        sent_at=timezone.now() - timedelta(days=31)
    )

    call_command("purge_outbox_bodies")
    call_command("purge_outbox_bodies")

    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Purged the content of 2 message(s) sent more than 30 day(s) ago.",
        "Purged the content of 0 message(s) sent more than 30 day(s) ago.",
    ]
    assert OutboxMessage.objects.filter(purged_at__isnull=False).count() == 2


def test_a_purged_message_is_never_sent_again(mailoutbox):
    row = sent()
    outbox_purge_bodies(now=row.sent_at + timedelta(days=31))
    mailoutbox.clear()
    # Whatever puts it back in line — an operator's hand, a stale sweep, a retry — finds
    # nothing to send: there would be an empty message to send.
    long_ago = timezone.now() - timedelta(hours=1)
    OutboxMessage.objects.filter(pk=row.pk).update(status=Status.QUEUED, updated_at=long_ago)
    assert outbox_sweep() == 0
    outbox_send(message_id=row.pk)
    OutboxMessage.objects.filter(pk=row.pk).update(status=Status.FAILED)
    assert outbox_retry_failed(ids=[row.pk]) == 0

    assert mailoutbox == []


def test_celery_beat_purges_daily_with_a_task_that_exists():
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-outbox-purge-bodies"]

    import notifications.tasks  # noqa: F401  (registers the tasks)

    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {3}
