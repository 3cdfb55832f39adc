"""The seat lock covers the seat decision and the row writes; the mail is built after commit."""

import logging

import pytest
from django.test.signals import template_rendered

from events import services
from events.models import Event, Registration
from events.services import RegistrationError
from notifications.models import OutboxMessage
from tests.events.test_services import make_event, people

Status = Registration.Status


@pytest.fixture
def templates_rendered():
    names: list[str] = []

    def count(sender, template, context, **kwargs):
        names.append(template.name)

    template_rendered.connect(count)
    yield names
    template_rendered.disconnect(count)


def test_registering_renders_no_mail_until_the_registration_is_committed(
    cluster, member, templates_rendered, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event(cluster)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.event_register(event=event, user=member.user)
    assert templates_rendered == []
    assert mailoutbox == []

    for callback in callbacks:
        callback()

    assert "events/email/registration_body.txt" in templates_rendered
    [sent] = mailoutbox
    assert sent.subject.startswith("[") and "You are registered:" in sent.subject
    row = OutboxMessage.objects.get()
    assert row.subject == sent.subject and "BEGIN:VCALENDAR" in str(row.attachments)


def test_a_message_rendered_after_a_later_change_still_says_what_it_was_about(
    cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event(cluster, capacity=1)
    holder, waiting = people(organisation, 2)
    with django_capture_on_commit_callbacks(execute=True):
        seat = services.event_register(event=event, user=holder)
    with django_capture_on_commit_callbacks(execute=False) as late:
        services.event_register(event=event, user=waiting)  # waitlisted, number 1
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=seat, by=holder)  # `waiting` moves up
    for callback in late:  # the waitlist message goes out only now
        callback()

    told = [m for m in mailoutbox if m.to == [waiting.email]]
    assert [m.subject.split("]")[1].split(":")[0].strip() for m in told] == [
        "A seat is yours",
        "On the waitlist",
    ]
    waitlist_message = told[1]
    assert "(number 1)" in waitlist_message.body
    calendar = waitlist_message.attachments[0][1]
    assert "STATUS:TENTATIVE" in calendar and "METHOD:REQUEST" in calendar


def test_an_event_closed_while_the_request_was_on_its_way_is_refused_on_the_locked_row(
    cluster, member
):
    event = make_event(cluster)
    seen = Event.objects.get(pk=event.pk)  # what the request loaded: still published
    Event.objects.filter(pk=event.pk).update(status=Event.Status.CANCELLED)

    with pytest.raises(RegistrationError, match="not open for registration"):
        services.event_register(event=seen, user=member.user)
    assert not Registration.objects.filter(event=event).exists()


def test_a_person_who_may_not_see_the_event_is_refused_but_a_registered_one_keeps_the_seat(
    cluster, member, outsider
):
    event = make_event(cluster)  # members of `cluster` only
    registration = services.event_register(event=event, user=member.user)

    with pytest.raises(RegistrationError, match="not open to you"):
        services.event_register(event=event, user=outsider.user)
    assert services.event_register(event=event, user=member.user).pk == registration.pk


def test_the_lock_hold_is_logged_once_the_registration_is_committed(
    cluster, member, caplog, django_capture_on_commit_callbacks
):
    event = make_event(cluster)
    with caplog.at_level(logging.DEBUG, logger="events.capacity_lock"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.event_register(event=event, user=member.user)
        assert not [r for r in caplog.records if r.name == "events.capacity_lock"]
        for callback in callbacks:
            callback()
    [held] = [r for r in caplog.records if r.name == "events.capacity_lock"]
    assert held.levelno == logging.DEBUG
    assert held.getMessage().startswith("held ") and held.getMessage().endswith(" ms")
    assert held.args[0] >= 0


def test_the_lock_hold_is_not_timed_unless_an_operator_asks_for_it(
    cluster, member, caplog, django_capture_on_commit_callbacks
):
    event = make_event(cluster)
    with (
        caplog.at_level(logging.INFO, logger="events.capacity_lock"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.event_register(event=event, user=member.user)
    assert not [r for r in caplog.records if r.name == "events.capacity_lock"]


def test_the_waitlist_number_told_is_the_persons_place_in_the_queue_after_others_left(
    cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    from events.discovery import waitlist_number

    event = make_event(cluster, capacity=1)
    holder, first, second, third, late = people(organisation, 5)
    with django_capture_on_commit_callbacks(execute=True):
        for person in (holder, first, second, third):
            services.event_register(event=event, user=person)
        services.registration_cancel(
            registration=Registration.objects.get(event=event, user=first), by=first
        )
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        registration = services.event_register(event=event, user=late)

    assert registration.waitlist_position == 4
    assert waitlist_number(registration=registration) == 3
    [told] = mailoutbox
    assert "(number 3)" in told.body
