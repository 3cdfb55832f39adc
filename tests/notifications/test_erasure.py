"""An erased person leaves the outbox: their mail goes or stays as an anonymous count, and
the copies of other people's mail that named them name "a former member" instead."""

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from notifications.models import OutboxMessage
from notifications.redaction import Redactor
from notifications.selectors import delivery_counts, delivery_failures
from notifications.services import (
    ERASED_RECIPIENT,
    email_enqueue,
    outbox_erase_person,
    outbox_retry_failed,
    outbox_send,
    outbox_sweep,
)

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
ANNA = "anna.keller@example.org"
OLD_ANNA = "a.keller@old.example"

# An invitation whose ATTENDEE line is long enough to be folded in the middle of the name.
CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Cobot day\r\n"
    "ATTENDEE;CN=Anna Keller;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:anna.k\r\n"
    " eller@example.org\r\nDESCRIPTION:With An\r\n na Keller on stage\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def mail(to: str, *, subject: str = "Cobot day", body: str = "See you.", **kwargs):
    message = EmailMultiAlternatives(
        subject=subject, body=body, from_email="hub@example.org", to=[to], **kwargs
    )
    message.attach_alternative(f"<p>{body}</p>", "text/html")
    return message


def enqueue(message, batch: str = "event:1", **kwargs) -> OutboxMessage:
    return email_enqueue(message=message, kind="events.registration", batch=batch, **kwargs)


def erase() -> dict:
    return outbox_erase_person(emails=[ANNA, OLD_ANNA], names=["Anna Keller"])


def test_their_undelivered_mail_is_deleted_and_sent_mail_stays_as_an_anonymous_count(
    mailoutbox,
):
    sent = enqueue(mail(ANNA, subject="You are registered, Anna Keller"))
    outbox_send(message_id=sent.pk)
    waiting = enqueue(mail(OLD_ANNA.upper()))
    before = delivery_counts(batch="event:1")

    result = erase()

    assert result == {"deleted": 1, "anonymised": 1, "redacted": 0}
    assert not OutboxMessage.objects.filter(pk=waiting.pk).exists()
    sent.refresh_from_db()
    assert sent.status == Status.SENT and sent.sent_at is not None
    assert (sent.recipient, sent.subject, sent.body_text, sent.body_html) == (
        ERASED_RECIPIENT,
        "",
        "",
        "",
    )
    assert (sent.attachments, sent.alternatives, sent.headers, sent.reply_to) == ([], [], {}, "")
    assert sent.purged_at is not None
    assert delivery_counts(batch="event:1")["sent"] == before["sent"]


def test_a_failed_message_to_them_stays_failed_and_is_never_retried(smtp):
    row = enqueue(mail(ANNA), idempotency_key=f"events.invitation:3:{ANNA}")
    smtp.rcpt_reply = "550 5.1.1 No such user here"
    outbox_send(message_id=row.pk)
    smtp.rcpt_reply = None
    assert ANNA in OutboxMessage.objects.get(pk=row.pk).last_error

    erase()

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.last_error == "Not sent again: the recipient's account was erased."
    assert row.idempotency_key == f"events.invitation:3:erased-{row.pk}"
    assert delivery_counts(batch="event:1")["failed"] == 1
    [shown] = delivery_failures(batch="event:1")
    assert shown.recipient == ERASED_RECIPIENT
    # Neither an organiser's "retry failed" nor the sweeper nor a stray task sends it.
    assert outbox_retry_failed(batch="event:1") == 0
    assert outbox_retry_failed(ids=[row.pk]) == 0
    OutboxMessage.objects.filter(pk=row.pk).update(status=Status.QUEUED)
    assert outbox_sweep() == 0
    outbox_send(message_id=row.pk)
    assert smtp.received == []


def test_mail_to_others_that_names_them_names_a_former_member(mailoutbox):
    partner = enqueue(
        mail(
            "carla@example.org",
            subject="Robotics mentoring: meet ANNA KELLER",
            body=f"You and Anna  Keller have both accepted. Say hello: {ANNA}.",
            reply_to=[f"Anna Keller <{ANNA}>", "olga@example.org"],
        )
    )
    partner_calendar = enqueue(mail("carla@example.org"))
    partner_calendar.attachments = [["invitation.ics", CALENDAR, "text/calendar"]]
    partner_calendar.alternatives = [[CALENDAR, "text/calendar; method=REQUEST"]]
    partner_calendar.save(update_fields=["attachments", "alternatives"])

    result = erase()

    assert result["redacted"] == 2
    partner.refresh_from_db()
    assert partner.recipient == "carla@example.org"
    assert partner.subject == "Robotics mentoring: meet a former member"
    assert partner.body_text == (
        "You and a former member have both accepted. Say hello: a former member."
    )
    assert partner.reply_to == "olga@example.org"
    partner_calendar.refresh_from_db()
    [[_name, calendar, _type]] = partner_calendar.attachments
    assert "a former member" in calendar and "Keller" not in calendar
    assert "Keller" not in partner_calendar.alternatives[0][0]
    # Still queued, still sent: to its own recipient, without the name.
    outbox_send(message_id=partner.pk)
    [sent] = mailoutbox
    assert sent.to == ["carla@example.org"] and sent.reply_to == ["olga@example.org"]
    assert "Keller" not in sent.subject + sent.body + sent.alternatives[0][0]


def test_other_people_with_similar_names_and_addresses_are_left_alone():
    others = [
        enqueue(mail("joanna.keller@example.org", body="Hello Johanna Kellermann,")),
        enqueue(mail("bruno@example.org", body="Hello Anna, meet Jan Keller.")),
        enqueue(mail("bruno@example.org", body="Write to janna.keller@example.org.uk")),
    ]

    result = erase()

    assert result == {"deleted": 0, "anonymised": 0, "redacted": 0}
    for row in others:
        before = row.body_text
        row.refresh_from_db()
        assert row.body_text == before and row.recipient != ERASED_RECIPIENT


def test_a_name_is_found_in_every_spelling_mail_gives_it():
    redactor = Redactor(names=["Seán O'Brien"], emails=["sean@example.org"])

    assert redactor.text("Hi Seán O&#x27;Brien!") == "Hi a former member!"
    assert redactor.text("SUMMARY:Circle of Seán O'Brien") == "SUMMARY:Circle of a former member"
    assert redactor.text("mailto:SEAN@example.org;") == "mailto:a former member;"
    assert redactor.text("?email=sean%40example.org") == "?email=a former member"
    assert redactor.text("Hi Seán") == "Hi Seán"
    assert not Redactor(names=["A"], emails=[])  # too short to mean anyone


def test_nothing_to_look_for_changes_nothing():
    row = enqueue(EmailMessage("Hi", "Body", to=["bruno@example.org"]))

    result = outbox_erase_person(emails=[], names=[])

    assert result == {"deleted": 0, "anonymised": 0, "redacted": 0}
    row.refresh_from_db()
    assert row.status == Status.QUEUED and row.body_text == "Body"


def test_a_name_found_only_where_a_calendar_line_is_folded_is_still_erased():
    # No unfolded spelling of the name or the address anywhere in the row: only
    # "An\r\n na Keller" in a calendar part.
    folded_only = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Cobot day\r\n"
        "DESCRIPTION:A long description of the cobot day with a talk by An\r\n"
        " na Keller on stage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    row = enqueue(mail("carla@example.org"))
    row.attachments = [["invitation.ics", folded_only, "text/calendar"]]
    row.save(update_fields=["attachments"])

    result = erase()

    assert result["redacted"] == 1
    row.refresh_from_db()
    [[_name, calendar, _type]] = row.attachments
    assert "Keller" not in calendar and "a former member" in calendar
