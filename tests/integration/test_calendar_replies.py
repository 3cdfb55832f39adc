"""Calendar replies travel the real path: LMTP, PostgreSQL, a Celery worker, SMTP.

The receiver (`events.replies.receiver`, what `manage.py receive_calendar_replies` runs)
listens on a free port in this process; replies go to it with `smtplib.LMTP`, as a mail
server delivers them, written the way Outlook and Gmail write them, from
the invitation that reached the member's mailbox through the worker and the SMTP server.
"""

import logging
import smtplib
from datetime import timedelta

import pytest

from events import authoring, replies, reply_addresses, services
from events.models import Registration
from tests.events.factories import EventFactory
from tests.events.test_replies import DOMAIN, gmail_reply, invitations_in, outlook_reply
from tests.factories import ProfileFactory
from tests.integration.conftest import free_port
from tests.integration.threads import seat_lock_held

pytestmark = pytest.mark.integration

Status = Registration.Status


@pytest.fixture
def receiver(settings) -> int:
    """The LMTP receiver on a free port; its port."""
    settings.CALENDAR_REPLY_DOMAIN = DOMAIN
    port = free_port()
    controller = replies.receiver(host="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def lmtp_send(port: int, raw: bytes, to: str, sender: str = "anna@example.org") -> tuple:
    """Deliver one message as Postfix's LMTP client does; the answer to DATA."""
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        lmtp.ehlo_or_helo_if_needed()
        assert lmtp.mail(sender)[0] == 250
        assert lmtp.rcpt(to)[0] == 250
        return lmtp.data(raw)


def statuses(event) -> dict[str, str]:
    return dict(Registration.objects.filter(event=event).values_list("user__email", "status"))


def invitation_from(mailbox, email: str, count: int):
    """The latest invitation `email` got, once `count` messages reached the SMTP server."""
    messages = [m for m in mailbox.wait_for(count) if m["To"] == email]
    [*_, vevent] = [v for m in messages for v in invitations_in(m)]
    return vevent


def ignored_reasons(caplog) -> list[str]:
    return [
        record.getMessage().split("): ", 1)[1]
        for record in caplog.records
        if record.name == "events.replies" and record.levelno == logging.WARNING
    ]


def forge(address: str) -> str:
    """`address` with another signature."""
    local, domain = address.split("@")
    head, mac = local.rsplit("-", 1)
    return f"{head}-{''.join('b' if c == 'a' else 'a' for c in mac)}@{domain}"


@pytest.fixture
def people(organisation):
    return [
        ProfileFactory(organisation=organisation, display_name=name).user
        for name in ("Anna Keller", "Bruno Weiss", "Chiara Rossi")
    ]


def test_a_decline_over_lmtp_frees_the_seat_and_the_forged_ones_change_nothing(
    postgres, transactional_db, celery_worker, smtp_server, receiver, cluster, people, caplog
):
    mailbox, _ = smtp_server
    anna, bruno, chiara = people
    event = EventFactory(clusters=[cluster], title="Hydrogen Day", capacity=1)
    seat = services.event_register(event=event, user=anna)
    for person in (bruno, chiara):
        assert services.event_register(event=event, user=person).status == Status.WAITLISTED
    invitation = invitation_from(mailbox, anna.email, 3)
    to = reply_addresses.reply_address(registration=seat)
    before = statuses(event)

    # Bruno, next in line, forges Anna's Decline: to her address, and to his own.
    forgeries = [
        (outlook_reply(invitation, to=to, attendee=bruno.email, name="Bruno Weiss"), to),
        (gmail_reply(invitation, to=to, attendee=anna.email, name="Anna Keller"), forge(to)),
        (
            gmail_reply(invitation, to=to, attendee=anna.email, name="Anna Keller"),
            reply_addresses.reply_address(registration=Registration.objects.get(user=bruno)),
        ),
    ]
    for raw, address in forgeries:
        code, _ = lmtp_send(receiver, raw, address, sender=bruno.email)
        assert code == 250  # taken, so the mail server neither bounces nor retries
    assert statuses(event) == before
    assert ignored_reasons(caplog) == [
        "the ATTENDEE is not the registrant",
        "the reply address is not signed by this site",
        "the ATTENDEE is not the registrant",
    ]

    # Anna presses Decline in Outlook.
    raw = outlook_reply(invitation, to=to, attendee=anna.email, name="Anna Keller")
    code, _ = lmtp_send(receiver, raw, to, sender=anna.email)
    assert code == 250
    assert statuses(event) == {
        anna.email: Status.CANCELLED,
        bruno.email: Status.CONFIRMED,
        chiara.email: Status.WAITLISTED,
    }
    told = {m["To"]: m["Subject"] for m in mailbox.wait_for(5)[3:]}
    assert "Registration cancelled" in told[anna.email]
    assert "A seat is yours" in told[bruno.email]

    # The mail server delivers the same reply again: nothing more happens.
    assert lmtp_send(receiver, raw, to, sender=anna.email)[0] == 250
    assert statuses(event)[chiara.email] == Status.WAITLISTED
    assert ignored_reasons(caplog)[-1] == "the registration is already cancelled"


def test_after_the_organiser_moves_the_event_an_old_decline_does_nothing_and_an_accept_counts(
    postgres,
    transactional_db,
    celery_worker,
    smtp_server,
    receiver,
    cluster,
    organiser,
    member,
    caplog,
):
    mailbox, _ = smtp_server
    caplog.set_level(logging.INFO, logger="events.replies")
    event = EventFactory(clusters=[cluster], title="Cobot safety training")
    seat = services.event_register(event=event, user=member.user)
    first = invitation_from(mailbox, member.user.email, 1)
    authoring.event_update(
        event=event,
        by=organiser,
        changes={
            "starts_at": event.starts_at + timedelta(days=2),
            "ends_at": event.ends_at + timedelta(days=2),
        },
    )
    moved = invitation_from(mailbox, member.user.email, 2)
    assert int(moved["sequence"]) > int(first["sequence"])
    to = reply_addresses.reply_address(registration=seat)

    old_decline = gmail_reply(first, to=to, attendee=member.user.email, name="Anna Keller")
    assert lmtp_send(receiver, old_decline, to)[0] == 250
    seat.refresh_from_db()
    assert seat.status == Status.CONFIRMED
    assert any("stale SEQUENCE" in r.getMessage() for r in caplog.records)

    accept = gmail_reply(
        moved, to=to, attendee=member.user.email, name="Anna Keller", partstat="ACCEPTED"
    )
    assert lmtp_send(receiver, accept, to)[0] == 250
    seat.refresh_from_db()
    assert seat.status == Status.CONFIRMED
    assert (seat.calendar_answer, seat.calendar_answer_sequence) == (
        "accepted",
        int(moved["sequence"]),
    )
    assert any(
        f"registration #{seat.pk} answered ACCEPTED" in r.getMessage() for r in caplog.records
    )


def test_a_reply_that_meets_a_locked_seat_is_deferred_and_acts_when_delivered_again(
    postgres, transactional_db, celery_worker, smtp_server, receiver, settings, cluster, member
):
    mailbox, _ = smtp_server
    settings.EVENTS_LOCK_TIMEOUT_MS = 300
    event = EventFactory(clusters=[cluster], title="Brokerage morning")
    seat = services.event_register(event=event, user=member.user)
    invitation = invitation_from(mailbox, member.user.email, 1)
    to = reply_addresses.reply_address(registration=seat)
    raw = outlook_reply(invitation, to=to, attendee=member.user.email, name="Anna Keller")

    with seat_lock_held(event):
        code, _ = lmtp_send(receiver, raw, to)
        assert code == 451  # the mail server keeps the reply and delivers it again later
        seat.refresh_from_db()
        assert seat.status == Status.CONFIRMED

    assert lmtp_send(receiver, raw, to)[0] == 250
    seat.refresh_from_db()
    assert seat.status == Status.CANCELLED
    assert "Registration cancelled" in mailbox.wait_for(2)[1]["Subject"]
