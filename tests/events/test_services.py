"""Registration rules as a member and an organiser notice them."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from events import services
from events.models import Campaign, CampaignRecipient, Event, Registration, Session
from events.services import RegistrationError
from members.services import account_erase, personal_data_export
from tests.factories import ProfileFactory

Status = Registration.Status


def make_event(cluster, **fields) -> Event:
    start = timezone.now() + timedelta(days=7)
    defaults = {
        "title": "Predictive maintenance webinar",
        "slug": f"event-{Event.objects.count() + 1}",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "status": Event.Status.PUBLISHED,
        "audience": Event.Audience.MEMBERS,
        "timezone": "Europe/Vienna",
    }
    event = Event.objects.create(**{**defaults, **fields})
    event.clusters.add(cluster)
    return event


def people(organisation, n: int):
    return [ProfileFactory(organisation=organisation).user for _ in range(n)]


def test_the_seat_after_the_last_one_goes_to_the_waitlist_in_order(cluster, organisation):
    event = make_event(cluster, capacity=2)
    regs = [services.event_register(event=event, user=u) for u in people(organisation, 4)]
    assert [r.status for r in regs] == [
        Status.CONFIRMED,
        Status.CONFIRMED,
        Status.WAITLISTED,
        Status.WAITLISTED,
    ]
    assert [r.waitlist_position for r in regs[2:]] == [1, 2]


def test_registering_twice_keeps_one_registration(cluster, member):
    event = make_event(cluster)
    first = services.event_register(event=event, user=member.user)
    again = services.event_register(event=event, user=member.user)
    assert first.pk == again.pk
    assert Registration.objects.filter(event=event).count() == 1


def test_a_cancelled_seat_goes_to_the_first_on_the_waitlist_who_is_told(
    cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event(cluster, capacity=1)
    holder, first, second = people(organisation, 3)
    with django_capture_on_commit_callbacks(execute=True):
        seat = services.event_register(event=event, user=holder)
        services.event_register(event=event, user=first)
        services.event_register(event=event, user=second)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=seat, by=holder)
    statuses = dict(Registration.objects.filter(event=event).values_list("user", "status"))
    assert statuses == {
        holder.pk: Status.CANCELLED,
        first.pk: Status.CONFIRMED,
        second.pk: Status.WAITLISTED,
    }
    subjects = {m.to[0]: m.subject for m in mailoutbox}
    assert "A seat is yours" in subjects[first.email]
    assert "cancelled" in subjects[holder.email]
    assert second.email not in subjects


def test_someone_else_cannot_cancel_my_registration(cluster, member, colleague):
    registration = services.event_register(event=make_event(cluster), user=member.user)
    with pytest.raises(PermissionDenied):
        services.registration_cancel(registration=registration, by=colleague.user)


def test_a_member_of_another_cluster_cannot_register_for_a_members_only_event(cluster, outsider):
    with pytest.raises(RegistrationError, match="not open to you"):
        services.event_register(event=make_event(cluster), user=outsider.user)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": Event.Status.DRAFT}, "not open"),
        ({"registration_opens_at": timezone.now() + timedelta(days=1)}, "not opened yet"),
        (
            {
                "registration_closes_at": timezone.now() - timedelta(minutes=1),
                "registration_opens_at": timezone.now() - timedelta(days=3),
            },
            "closed",
        ),
    ],
)
def test_registration_outside_its_window_is_refused_with_a_reason(cluster, member, fields, message):
    event = make_event(cluster, **fields)
    if event.status == Event.Status.DRAFT:
        event.audience = Event.Audience.PUBLIC
        event.save(update_fields=["audience"])
    with pytest.raises(RegistrationError, match=message):
        services.event_register(event=event, user=member.user)


def test_approval_required_events_wait_for_the_organiser(cluster, member, organiser):
    event = make_event(cluster, approval_required=True, capacity=1)
    registration = services.event_register(event=event, user=member.user)
    assert registration.status == Status.PENDING
    approved = services.registration_approve(registration=registration, by=organiser)
    assert approved.status == Status.CONFIRMED


def test_an_approved_registration_waits_in_line_when_the_event_filled_up(
    cluster, organisation, organiser
):
    event = make_event(cluster, approval_required=True, capacity=1)
    a, b = people(organisation, 2)
    ra = services.event_register(event=event, user=a)
    rb = services.event_register(event=event, user=b)
    services.registration_approve(registration=ra, by=organiser)
    assert services.registration_approve(registration=rb, by=organiser).status == Status.WAITLISTED


def test_only_organisers_of_the_event_approve(cluster, member, colleague):
    event = make_event(cluster, approval_required=True)
    registration = services.event_register(event=event, user=member.user)
    with pytest.raises(PermissionDenied):
        services.registration_approve(registration=registration, by=colleague.user)


def test_declined_people_can_see_they_were_declined(cluster, member, organiser):
    event = make_event(cluster, approval_required=True)
    registration = services.event_register(event=event, user=member.user)
    assert (
        services.registration_decline(registration=registration, by=organiser).status
        == Status.DECLINED
    )


def test_the_organiser_reorders_the_waitlist(cluster, organisation, organiser):
    event = make_event(cluster, capacity=0)
    regs = [services.event_register(event=event, user=u) for u in people(organisation, 3)]
    services.waitlist_move(registration=regs[2], position=1, by=organiser)
    order = list(
        Registration.objects.filter(event=event)
        .order_by("waitlist_position")
        .values_list("pk", flat=True)
    )
    assert order == [regs[2].pk, regs[0].pk, regs[1].pk]


def test_moving_from_a_full_waitlist_out_of_turn_is_refused(cluster, organisation, organiser):
    event = make_event(cluster, capacity=1)
    _, waiting = (services.event_register(event=event, user=u) for u in people(organisation, 2))
    with pytest.raises(RegistrationError, match="full"):
        services.waitlist_promote(registration=waiting, by=organiser)


def test_overlapping_sessions_are_refused_with_the_clashing_title(cluster, member):
    event = make_event(cluster, kind=Event.Kind.CONFERENCE)
    start = event.starts_at
    talk = Session.objects.create(
        event=event, title="Digital twins", starts_at=start, ends_at=start + timedelta(hours=1)
    )
    panel = Session.objects.create(
        event=event,
        title="Women in automation",
        starts_at=start + timedelta(minutes=30),
        ends_at=start + timedelta(hours=1, minutes=30),
    )
    services.event_register(event=event, user=member.user)
    services.event_register(event=event, user=member.user, session=talk)
    with pytest.raises(RegistrationError, match="Digital twins"):
        services.event_register(event=event, user=member.user, session=panel)


def test_sessions_need_the_event_registration_first(cluster, member):
    event = make_event(cluster, kind=Event.Kind.CONFERENCE)
    talk = Session.objects.create(
        event=event, title="Cobots", starts_at=event.starts_at, ends_at=event.ends_at
    )
    with pytest.raises(RegistrationError, match="Register for the event"):
        services.event_register(event=event, user=member.user, session=talk)


def test_leaving_a_conference_leaves_its_sessions(cluster, member):
    event = make_event(cluster, kind=Event.Kind.CONFERENCE)
    talk = Session.objects.create(
        event=event, title="Cobots", starts_at=event.starts_at, ends_at=event.ends_at
    )
    registration = services.event_register(event=event, user=member.user)
    services.event_register(event=event, user=member.user, session=talk)
    services.registration_cancel(registration=registration, by=member.user)
    assert set(Registration.objects.filter(user=member.user).values_list("status", flat=True)) == {
        Status.CANCELLED
    }


def test_re_registering_after_cancelling_reuses_the_row_with_a_higher_sequence(cluster, member):
    event = make_event(cluster)
    registration = services.event_register(event=event, user=member.user)
    services.registration_cancel(registration=registration, by=member.user)
    again = services.event_register(event=event, user=member.user)
    assert again.pk == registration.pk
    assert again.status == Status.CONFIRMED
    assert again.sequence == 2


def test_after_the_event_unmarked_participants_become_no_shows(cluster, organisation, organiser):
    event = make_event(cluster)
    came, missed = (services.event_register(event=event, user=u) for u in people(organisation, 2))
    services.attendance_mark(registration=came, by=organiser)
    with pytest.raises(RegistrationError, match="not ended"):
        services.attendance_close(event=event)
    Event.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=1)
    )
    event.refresh_from_db()
    assert services.attendance_close(event=event) == 1
    came.refresh_from_db()
    missed.refresh_from_db()
    assert (came.status, missed.status) == (Status.ATTENDED, Status.NO_SHOW)


def test_erasing_an_account_frees_its_upcoming_seat_for_the_waitlist(cluster, organisation):

    event = make_event(cluster, capacity=1)
    leaving, waiting = people(organisation, 2)
    services.event_register(event=event, user=leaving)
    services.event_register(event=event, user=waiting)
    account_erase(user=leaving)
    assert Registration.objects.get(event=event, user=waiting).status == Status.CONFIRMED


def test_my_data_export_lists_my_registrations(cluster, member):

    services.event_register(
        event=make_event(cluster, title="Cyber resilience day"), user=member.user
    )
    data = personal_data_export(user=member.user)
    assert data["event_registrations"][0]["event"] == "Cyber resilience day"
    assert data["event_registrations"][0]["status"] == "confirmed"


def test_past_attendance_cannot_be_cancelled_afterwards(cluster, member, organiser):
    event = make_event(cluster)
    registration = services.event_register(event=event, user=member.user)
    services.attendance_mark(registration=registration, by=organiser)
    with pytest.raises(RegistrationError, match="past attendance"):
        services.registration_cancel(registration=registration, by=member.user)
    registration.refresh_from_db()
    assert registration.status == Status.ATTENDED


def test_registration_mail_carries_the_calendar_invitation(
    cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event(cluster)
    with django_capture_on_commit_callbacks(execute=True):
        registration = services.event_register(event=event, user=member.user)
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, by=member.user)
    request, cancel = mailoutbox
    assert "METHOD:REQUEST" in request.attachments[0][1]
    assert request.attachments[0][2].startswith("text/calendar; method=REQUEST")
    assert "METHOD:CANCEL" in cancel.attachments[0][1]


def test_erasure_removes_which_invitations_reached_me(cluster, member, organiser):
    event = make_event(cluster)
    campaign = Campaign.objects.create(event=event, created_by=organiser)
    CampaignRecipient.objects.create(campaign=campaign, email=member.user.email, user=member.user)
    assert personal_data_export(user=member.user)["event_invitations"][0]["event"] == event.title
    account_erase(user=member.user)
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()
