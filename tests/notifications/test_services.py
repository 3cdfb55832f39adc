"""The outbox: a row in the caller's transaction, sent once after commit, repaired by a sweeper."""

from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from notifications.models import OutboxMessage
from notifications.services import (
    TransientDeliveryError,
    email_enqueue,
    list_unsubscribe_headers,
    outbox_retry_failed,
    outbox_send,
    outbox_sweep,
)

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status

CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def reminder(to: str = "anna@example.org") -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject="Your session starts in one hour",
        body="Plain text: Robotics roundtable, 14:00.",
        from_email="Clusterhub <noreply@example.org>",
        to=[to],
        reply_to=["organisers@example.org"],
        headers={"X-Clusterhub-Kind": "reminder"},
    )
    message.attach_alternative("<p>Robotics roundtable, <b>14:00</b>.</p>", "text/html")
    message.attach("invitation.ics", CALENDAR, "text/calendar; method=REQUEST; charset=utf-8")
    return message


def queued(message: EmailMessage | None = None, **kwargs) -> OutboxMessage:
    """A committed-looking row whose task has not run."""
    return email_enqueue(message=message or reminder(), **kwargs)


def test_a_rolled_back_action_leaves_neither_a_row_nor_a_mail(
    mailoutbox, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        email_enqueue(message=reminder())
        assert OutboxMessage.objects.count() == 1  # written inside the caller's transaction
        raise RuntimeError("registration failed")

    assert callbacks == []
    assert not OutboxMessage.objects.exists()
    assert mailoutbox == []


def test_the_row_is_queued_and_nothing_is_sent_before_commit(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        row = email_enqueue(message=reminder(), kind="events.reminder")

    assert mailoutbox == []
    assert len(callbacks) == 1
    row.refresh_from_db()
    assert (row.status, row.kind, row.recipient, row.attempts) == (
        Status.QUEUED,
        "events.reminder",
        "anna@example.org",
        0,
    )


def test_after_commit_one_mail_goes_out_with_html_calendar_message_id_and_date(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = email_enqueue(message=reminder())

    [sent] = mailoutbox
    assert (sent.subject, sent.body, sent.to, sent.reply_to) == (
        "Your session starts in one hour",
        "Plain text: Robotics roundtable, 14:00.",
        ["anna@example.org"],
        ["organisers@example.org"],
    )
    assert sent.from_email == "Clusterhub <noreply@example.org>"
    parsed = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    assert parsed["X-Clusterhub-Kind"] == "reminder"
    assert parsed["Message-ID"] == row.message_id
    assert parsed["Date"] is not None
    html = parsed.get_body(preferencelist=("html",))
    assert html.get_content().strip() == "<p>Robotics roundtable, <b>14:00</b>.</p>"
    [calendar] = [part for part in parsed.walk() if part.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_filename() == "invitation.ics"
    assert calendar.get_content().splitlines() == CALENDAR.splitlines()

    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.attempts == 1
    assert row.sent_at is not None


def test_the_message_id_uses_the_sites_host(settings, mailoutbox):
    settings.SITE_URL = "https://events.cluster.example"

    row = queued()

    assert row.message_id.startswith("<")
    assert row.message_id.endswith("@events.cluster.example>")


def test_a_plain_message_is_sent_without_alternatives(mailoutbox):
    row = queued(EmailMessage("Hi", "Body", "a@example.org", ["b@example.org"]))

    outbox_send(message_id=row.pk)

    [sent] = mailoutbox
    assert sent.alternatives == []
    assert sent.reply_to == []


def test_running_the_send_twice_sends_once(mailoutbox):
    row = queued()

    outbox_send(message_id=row.pk)
    outbox_send(message_id=row.pk)

    assert len(mailoutbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)


def test_the_same_idempotency_key_enqueued_twice_is_one_message(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = email_enqueue(message=reminder(), idempotency_key="reminder:session-7:anna")
    with django_capture_on_commit_callbacks(execute=True):
        again = email_enqueue(message=reminder(), idempotency_key="reminder:session-7:anna")
        other = email_enqueue(message=reminder(), idempotency_key="reminder:session-8:anna")

    assert again.pk == first.pk
    assert other.pk != first.pk
    assert len(mailoutbox) == 2


def test_a_message_for_several_people_is_refused():
    with pytest.raises(ValueError, match="exactly one recipient"):
        email_enqueue(message=EmailMessage("Hi", "Body", to=["a@example.org", "b@example.org"]))


def test_a_busy_server_421_puts_the_message_back_in_the_queue_with_the_reason(smtp):
    smtp.data_reply = "421 Too busy, try again later"
    row = queued()

    with pytest.raises(TransientDeliveryError):
        outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.QUEUED, 1)
    assert "421" in row.last_error
    assert smtp.received == []

    smtp.data_reply = None
    outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    [raw] = smtp.received
    assert message_from_bytes(raw)["Message-ID"] == row.message_id


def test_a_greylisted_recipient_450_is_retried(smtp):
    smtp.rcpt_reply = "450 Greylisted, come back later"
    row = queued()

    with pytest.raises(TransientDeliveryError):
        outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert "450" in row.last_error


def test_a_server_that_does_not_answer_is_transient(closed_port):
    row = queued()

    with pytest.raises(TransientDeliveryError):
        outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert "Connection" in row.last_error


def test_a_refused_recipient_550_fails_the_message_for_good(smtp):
    smtp.rcpt_reply = "550 No such user here"
    row = queued()

    outbox_send(message_id=row.pk)  # no exception: nothing to retry

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "550" in row.last_error
    assert "No such user" in row.last_error

    outbox_send(message_id=row.pk)
    row.refresh_from_db()
    assert row.attempts == 1  # a failed message is not tried again by a stray task


def test_a_rejected_message_554_fails_for_good(smtp):
    smtp.data_reply = "554 Message rejected as spam"
    row = queued()

    outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "554" in row.last_error


def test_an_address_the_mail_library_rejects_fails_for_good(mailoutbox):
    row = queued(EmailMessage("Hi", "Body", "a@example.org", ["not an address\n@example.org"]))

    outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.last_error
    assert mailoutbox == []


def test_a_message_another_worker_is_sending_is_left_alone(mailoutbox):
    row = queued()
    OutboxMessage.objects.filter(pk=row.pk).update(
        status=Status.SENDING, sending_started_at=timezone.now(), attempts=1
    )

    outbox_send(message_id=row.pk)

    assert mailoutbox == []
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENDING, 1)


def age(row: OutboxMessage, **fields) -> None:
    OutboxMessage.objects.filter(pk=row.pk).update(**fields)


def test_the_sweeper_resends_a_row_whose_task_was_lost_and_leaves_fresh_rows_alone(
    settings, mailoutbox
):
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 300
    lost = queued(reminder("lost@example.org"))
    fresh = queued(reminder("fresh@example.org"))
    age(lost, updated_at=timezone.now() - timedelta(minutes=6))

    assert outbox_sweep() == 1  # tasks are eager here: the lost one is sent at once

    assert [m.to for m in mailoutbox] == [["lost@example.org"]]
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (lost.status, fresh.status) == (Status.SENT, Status.QUEUED)
    assert outbox_sweep() == 0


def test_the_sweeper_takes_over_a_row_stuck_in_sending_by_a_dead_worker(settings, mailoutbox):
    settings.OUTBOX_SENDING_STALE_AFTER_SECONDS = 900
    stuck = queued(reminder("stuck@example.org"))
    busy = queued(reminder("busy@example.org"))
    age(
        stuck,
        status=Status.SENDING,
        attempts=1,
        sending_started_at=timezone.now() - timedelta(minutes=16),
    )
    age(
        busy,
        status=Status.SENDING,
        attempts=1,
        sending_started_at=timezone.now() - timedelta(minutes=1),
    )

    assert outbox_sweep() == 1

    assert [m.to for m in mailoutbox] == [["stuck@example.org"]]
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.status, stuck.attempts) == (Status.SENT, 2)
    assert busy.status == Status.SENDING


def test_the_sweeper_gives_up_after_the_maximum_age(settings, mailoutbox):
    settings.OUTBOX_MAX_AGE_SECONDS = 2 * 24 * 3600
    old = queued(reminder("old@example.org"))
    young = queued(reminder("young@example.org"))
    long_ago = timezone.now() - timedelta(days=2, minutes=1)
    age(old, queued_at=long_ago, updated_at=long_ago, attempts=8, last_error="421 busy")
    age(young, updated_at=timezone.now() - timedelta(hours=1))

    assert outbox_sweep() == 1

    old.refresh_from_db()
    young.refresh_from_db()
    assert (old.status, old.last_error) == (Status.FAILED, "gave up after max age")
    assert young.status == Status.SENT
    assert [m.to for m in mailoutbox] == [["young@example.org"]]


def test_retrying_failed_messages_sends_them_after_commit(
    mailoutbox, django_capture_on_commit_callbacks
):
    failed = queued(reminder("failed@example.org"))
    other_failed = queued(reminder("other@example.org"))
    long_ago = timezone.now() - timedelta(days=3)
    age(failed, status=Status.FAILED, queued_at=long_ago, last_error="gave up after max age")
    age(other_failed, status=Status.FAILED, last_error="550")

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_retry_failed(ids=[failed.pk]) == 1

    assert [m.to for m in mailoutbox] == [["failed@example.org"]]
    failed.refresh_from_db()
    other_failed.refresh_from_db()
    assert failed.status == Status.SENT
    assert failed.queued_at > long_ago  # a retried message gets a fresh maximum age
    assert other_failed.status == Status.FAILED


def test_the_sweep_command_sends_what_a_lost_task_left_behind(mailoutbox, settings):
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
    row = email_enqueue(message=EmailMessage("Hello", "Body", to=["lost@example.org"]))
    # No on-commit callback ran (the test transaction never commits): the task is "lost".
    assert OutboxMessage.objects.get(pk=row.pk).status == OutboxMessage.Status.QUEUED
    call_command("sweep_outbox")
    assert [m.to for m in mailoutbox] == [["lost@example.org"]]


def an_invitation(method: str = "REQUEST") -> EmailMultiAlternatives:
    """A message whose calendar is both the RSVP part and an attachment."""
    calendar = CALENDAR.replace("METHOD:REQUEST", f"METHOD:{method}")
    calendar_type = f"text/calendar; method={method}; charset=utf-8"
    message = EmailMultiAlternatives(
        "Invitation: Robotics roundtable", "You are registered.", to=["anna@example.org"]
    )
    message.attach_alternative("<p>You are registered.</p>", "text/html")
    message.attach_alternative(calendar, calendar_type)
    message.attach("invitation.ics", calendar, calendar_type)
    return message


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_a_calendar_part_arrives_as_an_alternative_and_as_an_attachment(smtp, method):
    row = queued(an_invitation(method))

    outbox_send(message_id=row.pk)

    [raw] = smtp.received
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    [alternative] = [p for p in parsed.iter_parts() if p.is_multipart()]
    assert alternative.get_content_type() == "multipart/alternative"
    # Plain text, HTML, then the calendar: the order mail clients expect for an RSVP card.
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    rsvp = list(alternative.iter_parts())[-1]
    assert rsvp.get_param("method") == method
    assert rsvp.get_content_charset() == "utf-8"
    assert rsvp["Content-Type"].count("charset") == 1  # not "charset=utf-8; charset=utf-8"
    assert rsvp.get_content_disposition() is None  # inline, not an attachment
    assert f"METHOD:{method}" in rsvp.get_content().splitlines()
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "invitation.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == method
    assert attachment.get_content().splitlines() == rsvp.get_content().splitlines()


def test_a_non_text_alternative_is_refused():
    message = EmailMultiAlternatives("Hi", "Body", to=["a@example.org"])
    message.attach_alternative(b"\x89PNG", "image/png")

    with pytest.raises(ValueError, match="text"):
        email_enqueue(message=message)


def test_list_unsubscribe_headers_survive_the_outbox(smtp):
    url = "https://events.cluster.example/unsubscribe/abc:def/"
    message = EmailMessage(
        "Reminder", "Tomorrow.", to=["anna@example.org"], headers=list_unsubscribe_headers(url=url)
    )
    row = queued(message)

    outbox_send(message_id=row.pk)

    [raw] = smtp.received
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_subject_with_a_line_break_is_sent_on_one_line(mailoutbox):
    # An event title stored before titles were kept to one line.
    row = queued(EmailMessage("Invitation: Hydrogen\r\nDay", "Body", "a@ex.org", ["b@ex.org"]))

    outbox_send(message_id=row.pk)

    [sent] = mailoutbox
    assert sent.subject == "Invitation: Hydrogen Day"
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT
