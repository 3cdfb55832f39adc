"""Registration mail carries the invitation as the RSVP part Outlook and Gmail read."""

from email import message_from_bytes, policy

import pytest

from events import services
from tests.events.factories import EventFactory

pytestmark = pytest.mark.django_db


def calendar_parts(sent) -> tuple[list, list]:
    """(calendar parts inside multipart/alternative, calendar attachments) of a sent mail."""
    parsed = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    [alternative] = [p for p in parsed.walk() if p.get_content_type() == "multipart/alternative"]
    inline = [p for p in alternative.iter_parts() if p.get_content_type() == "text/calendar"]
    attached = [p for p in parsed.iter_attachments() if p.get_content_type() == "text/calendar"]
    return inline, attached


def test_confirmation_and_cancellation_carry_the_calendar_as_rsvp_part_and_attachment(
    cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster])
    with django_capture_on_commit_callbacks(execute=True):
        registration = services.event_register(event=event, user=member.user)
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, by=member.user)

    confirmation, cancellation = mailoutbox
    for sent, method in ((confirmation, "REQUEST"), (cancellation, "CANCEL")):
        [rsvp], [attachment] = calendar_parts(sent)
        assert rsvp.get_param("method") == method
        assert f"METHOD:{method}" in rsvp.get_content().splitlines()
        assert attachment.get_filename() == "invitation.ics"
        assert attachment.get_content() == rsvp.get_content()
