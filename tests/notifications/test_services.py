"""Outgoing mail is queued after commit: a rolled-back action sends nothing."""

import json

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction

from notifications.services import email_enqueue, email_message_from_payload, email_payload

pytestmark = pytest.mark.django_db


def reminder() -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject="Your session starts in one hour",
        body="Plain text: Robotics roundtable, 14:00.",
        from_email="Clusterhub <noreply@example.org>",
        to=["anna@example.org"],
        reply_to=["organisers@example.org"],
        headers={"X-Clusterhub-Kind": "reminder"},
    )
    message.attach_alternative("<p>Robotics roundtable, <b>14:00</b>.</p>", "text/html")
    return message


def test_nothing_is_sent_when_the_transaction_rolls_back(
    mailoutbox, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        email_enqueue(message=reminder())
        raise RuntimeError("registration failed")

    assert callbacks == []
    assert mailoutbox == []


def test_nothing_is_sent_before_the_transaction_commits(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email_enqueue(message=reminder())

    assert mailoutbox == []
    assert len(callbacks) == 1


def test_one_mail_with_its_html_alternative_is_sent_after_commit(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        email_enqueue(message=reminder())

    [sent] = mailoutbox
    assert sent.subject == "Your session starts in one hour"
    assert sent.body == "Plain text: Robotics roundtable, 14:00."
    assert sent.to == ["anna@example.org"]
    assert sent.from_email == "Clusterhub <noreply@example.org>"
    assert sent.reply_to == ["organisers@example.org"]
    assert sent.extra_headers == {"X-Clusterhub-Kind": "reminder"}
    assert [(a.content, a.mimetype) for a in sent.alternatives] == [
        ("<p>Robotics roundtable, <b>14:00</b>.</p>", "text/html")
    ]
    raw = sent.message().as_string()
    assert "multipart/alternative" in raw


def test_a_plain_message_is_sent_without_alternatives(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        email_enqueue(message=EmailMessage("Hi", "Body", "a@example.org", ["b@example.org"]))

    [sent] = mailoutbox
    assert sent.alternatives == []
    assert sent.reply_to == []


def test_the_payload_survives_the_brokers_json_round_trip():
    payload = json.loads(json.dumps(email_payload(message=reminder())))

    rebuilt = email_message_from_payload(payload)

    original = reminder()
    assert (rebuilt.subject, rebuilt.body, rebuilt.to, rebuilt.reply_to) == (
        original.subject,
        original.body,
        original.to,
        original.reply_to,
    )
    assert rebuilt.extra_headers == original.extra_headers
    assert [tuple(a) for a in rebuilt.alternatives] == [tuple(a) for a in original.alternatives]
