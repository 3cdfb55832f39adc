"""Calendar invitations travel the production path and parse with an independent parser.

A registrant's mailbox (real worker, real SMTP server) gets an iTIP REQUEST when they
register, a REQUEST with the same UID and a higher SEQUENCE when the event moves, and a
CANCEL with the same UID when it is cancelled. The `.ics` is read with `vobject`, not
with the `icalendar` package that wrote it.
"""

from datetime import timedelta
from email.message import EmailMessage

import pytest
import vobject

from events import authoring, ical, services
from events.models import Registration
from tests.events.factories import EventFactory

pytestmark = pytest.mark.integration


def calendars_in(message: EmailMessage) -> list:
    """Every text/calendar part of a message (alternative part and attachment), parsed."""
    parsed = []
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            parsed.append(vobject.readOne(part.get_content()))
    return parsed


def the_entry(message: EmailMessage, *, method: str):
    """The one VEVENT the message carries; every calendar part says the same."""
    calendars = calendars_in(message)
    assert calendars, f"no text/calendar part in “{message['Subject']}”"
    entries = []
    for calendar in calendars:
        assert calendar.method.value == method
        [vevent] = calendar.vevent_list
        entries.append(
            (
                vevent.uid.value,
                int(vevent.sequence.value),
                vevent.dtstart.value,
                vevent.dtend.value,
                vevent.status.value,
            )
        )
    assert len(set(entries)) == 1, entries
    # The attachment clients can open or import, besides the alternative part.
    assert any(part.get_filename() == "invitation.ics" for part in message.iter_attachments())
    return calendars[0].vevent


def to_the_second(moment):
    return moment.replace(microsecond=0)  # iCalendar has no fractions of a second


@pytest.fixture
def event(cluster):
    return EventFactory(clusters=[cluster], title="Hydrogen Day", venue_name="Tabakfabrik")


def register(event, member, mailbox) -> tuple[Registration, object]:
    registration = services.event_register(event=event, user=member.user)
    assert registration.status == Registration.Status.CONFIRMED
    [message] = mailbox.wait_for(1)
    assert message["To"] == member.user.email
    vevent = the_entry(message, method="REQUEST")
    assert vevent.uid.value == ical.event_uid(event)
    assert vevent.uid.value.startswith(f"event-{event.uid}@")
    assert vevent.dtstart.value == to_the_second(event.starts_at)
    assert vevent.status.value == "CONFIRMED"
    [attendee] = vevent.attendee_list
    assert attendee.value.lower() == f"mailto:{member.user.email}"
    assert attendee.params["PARTSTAT"] == ["ACCEPTED"]
    return registration, vevent


def test_registration_is_a_request_and_cancelling_the_event_a_cancel_of_the_same_uid(
    postgres, celery_worker, smtp_server, event, organiser, member
):
    mailbox, _ = smtp_server
    _, confirmed = register(event, member, mailbox)
    sequence = int(confirmed.sequence.value)

    assert authoring.event_cancel(event=event, by=organiser) == 1
    cancelled_message = mailbox.wait_for(2)[1]
    assert cancelled_message["To"] == member.user.email
    cancelled = the_entry(cancelled_message, method="CANCEL")
    assert cancelled.uid.value == confirmed.uid.value
    assert int(cancelled.sequence.value) > sequence
    assert cancelled.status.value == "CANCELLED"


def test_moving_the_event_sends_a_request_with_the_same_uid_and_a_higher_sequence(
    postgres, celery_worker, smtp_server, event, organiser, member
):
    mailbox, _ = smtp_server
    _, confirmed = register(event, member, mailbox)
    sequence = int(confirmed.sequence.value)

    new_start = to_the_second(event.starts_at) + timedelta(days=2, hours=3)
    authoring.event_update(
        event=event,
        by=organiser,
        changes={"starts_at": new_start, "ends_at": new_start + timedelta(hours=3)},
    )
    moved_message = mailbox.wait_for(2)[1]
    assert moved_message["To"] == member.user.email
    moved = the_entry(moved_message, method="REQUEST")
    assert moved.uid.value == confirmed.uid.value
    moved_sequence = int(moved.sequence.value)
    assert moved_sequence > sequence
    assert moved.dtstart.value == new_start
    assert moved.dtend.value == new_start + timedelta(hours=3)
    assert moved.status.value == "CONFIRMED"

    authoring.event_cancel(event=event, by=organiser)
    cancelled = the_entry(mailbox.wait_for(3)[2], method="CANCEL")
    assert cancelled.uid.value == confirmed.uid.value
    assert int(cancelled.sequence.value) > moved_sequence
    assert len(mailbox.messages) == 3
