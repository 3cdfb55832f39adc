"""Mail rendered by the outbox worker: the caller writes a small row with a render path and
parameters; the first send renders it once, stores what it rendered and sends that."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import transaction
from django.utils import timezone, translation

from notifications.models import OutboxMessage
from notifications.services import (
    email_enqueue_deferred,
    outbox_erase_person,
    outbox_send,
    outbox_sweep,
)

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
RENDER = "tests.notifications.test_deferred_render.confirmation"
ANNA = "anna@example.org"
CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"

# What the render reads besides its parameters, as a database would hold it; tests change
# it to see whether a message is rendered again.
WORLD: dict = {}
CALLS: list[dict] = []


def confirmation(*, to: str, title: str, seat: int) -> EmailMultiAlternatives:
    CALLS.append({"to": to, "title": title, "seat": seat})
    if WORLD.get("broken"):
        raise LookupError("the registration is gone")
    translation.activate("de")  # a render in the recipient's language must not leak
    venue = WORLD.get("venue", "Hall A")
    message = EmailMultiAlternatives(
        subject=f"Registered: {title}",
        body=f"Seat {seat} in {venue}.",
        from_email="Hub <hub@example.org>",
        to=[to],
        reply_to=["organisers@example.org"],
        headers={"X-Kind": "registration"},
    )
    message.attach_alternative(f"<p>Seat {seat} in {venue}.</p>", "text/html")
    message.attach_alternative(CALENDAR, "text/calendar; method=REQUEST")
    message.attach("event.ics", CALENDAR, "text/calendar")
    return message


@pytest.fixture(autouse=True)
def _world():
    WORLD.clear()
    CALLS.clear()
    yield
    WORLD.clear()
    CALLS.clear()


def deferred(to: str = ANNA, **kwargs) -> OutboxMessage:
    return email_enqueue_deferred(
        recipient=to,
        render=RENDER,
        params={"to": to, "title": "Cobot day", "seat": 7},
        kind="events.registration",
        batch="event:1",
        **kwargs,
    )


def test_a_deferred_row_is_rendered_once_by_the_worker_and_sent(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        row = deferred()
    assert CALLS == []  # nothing rendered in the caller's transaction
    assert (row.status, row.render_with, row.subject) == (Status.QUEUED, RENDER, "")

    for callback in callbacks:
        callback()
    outbox_send(message_id=row.pk)  # a duplicate task

    assert len(CALLS) == 1
    assert translation.get_language() != "de"
    [sent] = mail.outbox
    assert (sent.to, sent.subject, sent.body) == (
        [ANNA],
        "Registered: Cobot day",
        "Seat 7 in Hall A.",
    )
    assert sent.alternatives[0] == ("<p>Seat 7 in Hall A.</p>", "text/html")
    assert sent.alternatives[1][1] == "text/calendar; method=REQUEST"
    assert sent.attachments[0][0] == "event.ics"
    assert sent.extra_headers["Message-ID"] == row.message_id
    row.refresh_from_db()
    # The row holds what went out, for the admin and for a resend.
    assert (row.status, row.render_with, row.render_params) == (Status.SENT, "", {})
    assert (row.subject, row.body_html, row.from_email) == (
        "Registered: Cobot day",
        "<p>Seat 7 in Hall A.</p>",
        "Hub <hub@example.org>",
    )
    assert row.attachments == [["event.ics", CALENDAR, "text/calendar"]]


def test_a_rolled_back_action_leaves_no_deferred_row(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        deferred()
        raise RuntimeError("the seat was gone")

    assert callbacks == []
    assert not OutboxMessage.objects.exists()
    assert mail.outbox == CALLS == []


def test_the_same_idempotency_key_is_one_row_and_one_mail(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = deferred(idempotency_key="events.registration:1:confirmed")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = deferred(idempotency_key="events.registration:1:confirmed")

    assert second.pk == first.pk
    assert callbacks == []
    assert OutboxMessage.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_render_that_raises_stays_queued_with_the_error_and_the_sweeper_sends_it_later(
    django_capture_on_commit_callbacks,
):
    WORLD["broken"] = True
    with django_capture_on_commit_callbacks(execute=True):
        row = deferred()  # the task's error is logged, the caller's commit stands

    row.refresh_from_db()
    assert (row.status, row.attempts, row.render_with) == (Status.QUEUED, 1, RENDER)
    assert "LookupError: the registration is gone" in row.last_error
    assert mail.outbox == []

    WORLD["broken"] = False  # the bug is fixed and deployed
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_sweep(now=timezone.now() + timedelta(hours=1)) == 1

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    assert [m.subject for m in mail.outbox] == ["Registered: Cobot day"]


def test_a_message_to_someone_else_than_the_recipient_is_not_sent():
    row = email_enqueue_deferred(
        recipient="bob@example.org",
        render=RENDER,
        params={"to": ANNA, "title": "Cobot day", "seat": 7},
        kind="events.registration",
    )
    with pytest.raises(ValueError, match="someone else"):
        outbox_send(message_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.render_with) == (Status.QUEUED, RENDER)
    assert mail.outbox == []


class DiesAfterTheServerAccepts(LocmemBackend):
    """The worker is killed after the mail server took the message, before it was marked
    sent (SystemExit is what a killed worker's task never gets past)."""

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        if not WORLD.get("died"):
            WORLD["died"] = True
            raise SystemExit("worker killed")
        return sent


def test_the_resend_after_a_killed_worker_sends_what_was_rendered_the_first_time(settings):
    settings.EMAIL_BACKEND = f"{__name__}.DiesAfterTheServerAccepts"
    row = deferred()
    with pytest.raises(SystemExit):
        outbox_send(message_id=row.pk)
    row.refresh_from_db()
    assert row.status == Status.SENDING

    WORLD["venue"] = "Hall B"  # what the render reads changes before the resend
    stale = timezone.now() + timedelta(seconds=settings.OUTBOX_SENDING_STALE_AFTER_SECONDS + 1)
    assert outbox_sweep(now=stale) == 1

    first, second = mail.outbox
    assert len(CALLS) == 1
    for part in ("subject", "body", "alternatives", "attachments", "from_email", "reply_to"):
        assert getattr(first, part) == getattr(second, part)
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"]
    assert "Hall A" in second.body
    row.refresh_from_db()
    assert row.status == Status.SENT


def test_erasing_the_recipient_deletes_an_unsent_deferred_row():
    waiting = deferred(to="Anna@Example.org")
    other = deferred(to="bob@example.org")

    result = outbox_erase_person(emails=[ANNA], names=["Anna Keller"])

    assert result["deleted"] == 1
    assert not OutboxMessage.objects.filter(pk=waiting.pk).exists()
    assert OutboxMessage.objects.filter(pk=other.pk).exists()
    outbox_send(message_id=waiting.pk)
    assert mail.outbox == CALLS == []
