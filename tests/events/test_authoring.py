"""What an organiser notices when creating and changing events and sessions."""

import io
from datetime import timedelta

import icalendar
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from events import authoring, ical, services
from events.forms import EventForm, SessionForm
from events.models import Event, Invitation, Registration, Session, StageRole
from members.models import GenderIdentity
from tests.events.organiser_factories import EventFactory, RegistrationFactory, SessionFactory
from tests.factories import ClusterOrganiserFactory, ProfileFactory

pytestmark = pytest.mark.django_db
Status = Registration.Status


def soon(days=7, hours=0):
    return (timezone.now() + timedelta(days=days, hours=hours)).replace(microsecond=0)


def event_fields(**overrides):
    fields = {
        "title": "Predictive maintenance in practice",
        "kind": Event.Kind.WEBINAR,
        "timezone": "Europe/Vienna",
        "starts_at": soon(),
        "ends_at": soon(hours=2),
    }
    return {**fields, **overrides}


def messages_of(error: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return error.value.message_dict


@pytest.fixture
def event(cluster):
    return EventFactory(clusters=[cluster], capacity=10)


def people(organisation, n):
    return [ProfileFactory(organisation=organisation).user for _ in range(n)]


# --- validation ------------------------------------------------------------------------


def test_an_event_that_ends_before_it_starts_is_refused_with_a_clear_message(organiser, cluster):
    with pytest.raises(ValidationError) as error:
        authoring.event_create(
            by=organiser, fields=event_fields(ends_at=soon(hours=-1)), clusters=[cluster]
        )
    assert messages_of(error)["ends_at"] == ["The event must end after it starts."]
    assert not Event.objects.exists()


def test_registration_must_close_before_the_event_ends(organiser, cluster):
    with pytest.raises(ValidationError) as error:
        authoring.event_create(
            by=organiser,
            fields=event_fields(registration_closes_at=soon(hours=3)),
            clusters=[cluster],
        )
    assert messages_of(error)["registration_closes_at"] == [
        "Registration must close before the event ends."
    ]


def test_an_event_needs_a_cluster_the_organiser_organises(organiser, other_cluster):
    with pytest.raises(ValidationError) as error:
        authoring.event_create(by=organiser, fields=event_fields(), clusters=[other_cluster])
    assert messages_of(error)["clusters"] == [
        "At least one organising cluster must be one that you organise."
    ]
    with pytest.raises(ValidationError) as error:
        authoring.event_create(by=organiser, fields=event_fields(), clusters=[])
    assert messages_of(error)["clusters"] == ["Choose at least one organising cluster."]


def test_co_organising_with_another_cluster_is_allowed(organiser, cluster, other_cluster):
    event = authoring.event_create(
        by=organiser, fields=event_fields(), clusters=[cluster, other_cluster]
    )
    assert set(event.clusters.all()) == {cluster, other_cluster}
    assert event.status == Event.Status.DRAFT
    assert event.slug == "predictive-maintenance-in-practice"
    assert event.created_by == organiser


def test_a_title_that_would_shadow_a_fixed_route_gets_another_slug(organiser, cluster):
    event = authoring.event_create(
        by=organiser, fields=event_fields(title="New"), clusters=[cluster]
    )
    again = authoring.event_create(
        by=organiser, fields=event_fields(title="New"), clusters=[cluster]
    )
    assert event.slug == "new-2"
    assert again.slug == "new-3"


def test_the_capacity_cannot_go_below_the_seats_already_taken(organiser, event):
    RegistrationFactory.create_batch(3, event=event)
    with pytest.raises(ValidationError) as error:
        authoring.event_update(event=event, by=organiser, changes={"capacity": 2})
    assert messages_of(error)["capacity"] == [
        "The capacity cannot be lower than the 3 seats already taken. "
        "Cancel registrations first if the room is smaller."
    ]
    event.refresh_from_db()
    assert event.capacity == 10
    authoring.event_update(event=event, by=organiser, changes={"capacity": 3})
    event.refresh_from_db()
    assert event.capacity == 3


def test_a_session_must_lie_within_its_conference(organiser, cluster):
    conference = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    with pytest.raises(ValidationError) as error:
        authoring.session_create(
            event=conference,
            by=organiser,
            fields={
                "title": "Late keynote",
                "starts_at": conference.ends_at - timedelta(minutes=30),
                "ends_at": conference.ends_at + timedelta(minutes=30),
            },
        )
    [message] = messages_of(error)["starts_at"]
    assert message.startswith("A session must take place within the event (")
    assert "Europe/Vienna" in message
    with pytest.raises(ValidationError) as error:
        authoring.session_create(
            event=conference,
            by=organiser,
            fields={
                "title": "Backwards",
                "starts_at": conference.starts_at + timedelta(hours=2),
                "ends_at": conference.starts_at + timedelta(hours=1),
            },
        )
    assert messages_of(error)["ends_at"] == ["The session must end after it starts."]
    assert not Session.objects.exists()


def test_moving_a_conference_away_from_its_sessions_is_refused(organiser, cluster):
    conference = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    SessionFactory(event=conference, title="Opening")
    with pytest.raises(ValidationError) as error:
        authoring.event_update(
            event=conference,
            by=organiser,
            changes={
                "starts_at": conference.starts_at + timedelta(days=1),
                "ends_at": conference.ends_at + timedelta(days=1),
            },
        )
    assert "“Opening”" in messages_of(error)["starts_at"][0]


def test_an_organiser_of_another_cluster_cannot_touch_the_event(event, other_cluster):
    stranger = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=stranger)
    with pytest.raises(PermissionDenied):
        authoring.event_update(event=event, by=stranger, changes={"title": "Mine now"})
    with pytest.raises(PermissionDenied):
        authoring.event_cancel(event=event, by=stranger)
    with pytest.raises(PermissionDenied):
        authoring.event_duplicate(event=event, by=stranger)
    event.refresh_from_db()
    assert event.status == Event.Status.PUBLISHED


# --- sequence --------------------------------------------------------------------------


def test_sequence_rises_only_on_changes_of_time_place_or_status(organiser, cluster):
    event = authoring.event_create(by=organiser, fields=event_fields(), clusters=[cluster])
    assert event.sequence == 0

    def update(**changes):
        authoring.event_update(event=event, by=organiser, changes=changes)
        event.refresh_from_db()
        return event.sequence

    assert update(title="A better title", summary="Short", capacity=40) == 0
    assert update(venue_name="Tabakfabrik Linz") == 1
    assert update(venue_name="Tabakfabrik Linz") == 1  # the same value is no change
    assert update(online_url="https://meet.example.org/abc") == 2
    assert update(starts_at=event.starts_at + timedelta(hours=1)) == 3
    authoring.event_publish(event=event, by=organiser)
    event.refresh_from_db()
    assert (event.status, event.sequence) == (Event.Status.PUBLISHED, 4)
    authoring.event_cancel(event=event, by=organiser)
    event.refresh_from_db()
    assert (event.status, event.sequence) == (Event.Status.CANCELLED, 5)


def test_session_sequence_rises_on_time_room_and_cancellation_only(organiser, event):
    session = authoring.session_create(
        event=event,
        by=organiser,
        fields={
            "title": "Talk",
            "starts_at": event.starts_at,
            "ends_at": event.starts_at + timedelta(hours=1),
        },
    )

    def update(**changes):
        authoring.session_update(session=session, by=organiser, changes=changes)
        session.refresh_from_db()
        return session.sequence

    assert update(title="Keynote", track="Main", capacity=50) == 0
    assert update(room="Hall B") == 1
    assert update(ends_at=session.ends_at + timedelta(minutes=15)) == 2
    authoring.session_cancel(session=session, by=organiser)
    session.refresh_from_db()
    assert (session.is_cancelled, session.sequence) == (True, 3)


# --- seats -----------------------------------------------------------------------------


def test_a_larger_capacity_promotes_the_waitlist_in_order(
    organiser, cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster], capacity=1)
    regs = [services.event_register(event=event, user=u) for u in people(organisation, 4)]
    assert [r.status for r in regs] == [Status.CONFIRMED, *[Status.WAITLISTED] * 3]
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(event=event, by=organiser, changes={"capacity": 3})
    for r in regs:
        r.refresh_from_db()
    assert [r.status for r in regs] == [*[Status.CONFIRMED] * 3, Status.WAITLISTED]
    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.user.email for r in regs[1:3])


def test_a_larger_session_capacity_promotes_its_waitlist(organiser, cluster, organisation):
    event = EventFactory(clusters=[cluster])
    session = SessionFactory(event=event, capacity=1)
    users = people(organisation, 2)
    for user in users:
        services.event_register(event=event, user=user)
    regs = [services.event_register(event=event, user=u, session=session) for u in users]
    assert regs[1].status == Status.WAITLISTED
    authoring.session_update(session=session, by=organiser, changes={"capacity": 2})
    regs[1].refresh_from_db()
    assert regs[1].status == Status.CONFIRMED


# --- cancellation, notification, duplication -------------------------------------------


def test_cancelling_an_event_cancels_every_registration_and_mails_each_person(
    organiser, cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster], capacity=2)
    session = SessionFactory(event=event)
    users = people(organisation, 3)
    for user in users:
        services.event_register(event=event, user=user)
    services.event_register(event=event, user=users[0], session=session)
    declined = RegistrationFactory(event=event, status=Status.DECLINED)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        told = authoring.event_cancel(event=event, by=organiser)
    assert told == 3
    assert set(Registration.objects.filter(event=event).values_list("status", flat=True)) == {
        Status.CANCELLED,
        Status.DECLINED,
    }
    declined.refresh_from_db()
    assert declined.status == Status.DECLINED
    assert sorted(m.to[0] for m in mailoutbox) == sorted(u.email for u in users)
    assert all("Cancelled by the organisers" in m.subject for m in mailoutbox)
    assert all("The organisers have cancelled" in m.body for m in mailoutbox)
    assert all("METHOD:CANCEL" in m.attachments[0][1] for m in mailoutbox)
    assert not Registration.objects.filter(waitlist_position__isnull=False).exists()


def test_changing_time_of_a_published_event_mails_the_registered_but_not_for_a_title(
    organiser, cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster])
    users = people(organisation, 2)
    for user in users:
        services.event_register(event=event, user=user)
    cancelled = services.event_register(event=event, user=people(organisation, 1)[0])
    services.registration_cancel(registration=cancelled, by=cancelled.user)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(event=event, by=organiser, changes={"title": "Renamed"})
    assert mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(
            event=event,
            by=organiser,
            changes={"starts_at": event.starts_at + timedelta(hours=1)},
        )
    assert sorted(m.to[0] for m in mailoutbox) == sorted(u.email for u in users)
    assert mailoutbox[0].subject.startswith("[Clusterhub] New time: Renamed")
    assert "changed the time" in mailoutbox[0].body


def test_changes_to_a_draft_mail_nobody(organiser, cluster, mailoutbox):
    event = EventFactory(clusters=[cluster], status=Event.Status.DRAFT)
    RegistrationFactory(event=event)
    authoring.event_update(event=event, by=organiser, changes={"venue_name": "Elsewhere"})
    assert mailoutbox == []


def test_a_failed_update_sends_nothing(
    organiser, event, mailoutbox, django_capture_on_commit_callbacks
):
    RegistrationFactory.create_batch(2, event=event)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        authoring.event_update(
            event=event, by=organiser, changes={"venue_name": "Elsewhere", "capacity": 1}
        )
    assert mailoutbox == []
    event.refresh_from_db()
    assert (event.venue_name, event.sequence) == ("", 0)


def test_duplicating_makes_a_draft_copy_with_sessions_and_a_new_slug(organiser, cluster):
    event = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE, capacity=80)
    SessionFactory(event=event, title="Opening", room="Hall A", capacity=80)
    SessionFactory(event=event, title="Dropped", is_cancelled=True)
    StageRole.objects.create(
        event=event,
        guest_name="Dr. Ines Vogel",
        guest_gender=GenderIdentity.Gender.WOMAN,
        guest_gender_consent=True,
    )
    RegistrationFactory(event=event)
    copy = authoring.event_duplicate(event=event, by=organiser)
    assert copy.pk != event.pk
    assert copy.slug != event.slug and copy.slug.startswith(event.slug)
    assert (copy.status, copy.sequence, copy.capacity) == (Event.Status.DRAFT, 0, 80)
    assert copy.title == event.title
    assert list(copy.clusters.all()) == [cluster]
    assert [(s.title, s.room, s.capacity) for s in copy.sessions.all()] == [
        ("Opening", "Hall A", 80)
    ]
    [guest] = copy.stage_roles.all()
    assert (guest.guest_name, guest.guest_gender, guest.guest_gender_consent) == (
        "Dr. Ines Vogel",
        "",
        False,
    )
    assert not copy.registrations.exists()
    assert authoring.event_duplicate(event=event, by=organiser).slug not in (copy.slug, event.slug)


def test_publishing_is_for_drafts_only(organiser, event):
    with pytest.raises(ValidationError) as error:
        authoring.event_publish(event=event, by=organiser)
    assert error.value.messages == ["Only a draft can be published."]


# --- people on stage and invitations ---------------------------------------------------


def test_a_guest_gender_is_stored_only_with_consent(organiser, event, member):
    with pytest.raises(ValidationError) as error:
        authoring.stage_role_add(
            event=event,
            by=organiser,
            role=StageRole.Role.PANELLIST,
            guest_name="Ines Vogel",
            guest_gender=GenderIdentity.Gender.WOMAN,
        )
    assert "consent" in messages_of(error)["guest_gender"][0]
    with pytest.raises(ValidationError):
        authoring.stage_role_add(
            event=event,
            by=organiser,
            role=StageRole.Role.SPEAKER,
            profile=member,
            guest_gender=GenderIdentity.Gender.WOMAN,
            guest_gender_consent=True,
        )
    assert not StageRole.objects.exists()
    role = authoring.stage_role_add(
        event=event,
        by=organiser,
        role=StageRole.Role.PANELLIST,
        guest_name="Ines Vogel",
        guest_gender=GenderIdentity.Gender.WOMAN,
        guest_gender_consent=True,
    )
    assert (role.guest_gender, role.guest_gender_consent) == ("woman", True)
    speaker = authoring.stage_role_add(
        event=event, by=organiser, role=StageRole.Role.SPEAKER, profile=member
    )
    assert (speaker.guest_gender, speaker.order) == ("", 2)
    authoring.stage_role_remove(stage_role=speaker, by=organiser)
    assert list(event.stage_roles.all()) == [role]


def test_invitations_are_added_once_and_a_bad_address_adds_none(organiser, cluster):
    event = EventFactory(clusters=[cluster], audience=Event.Audience.INVITATION)
    with pytest.raises(ValidationError) as error:
        authoring.invitation_add(
            event=event, by=organiser, emails=["ok@example.org", "not-an-address"]
        )
    assert "not-an-address" in messages_of(error)["emails"][0]
    assert not Invitation.objects.exists()
    added = authoring.invitation_add(
        event=event, by=organiser, emails=["Ana@Example.org", "ana@example.org", "b@example.org"]
    )
    assert [i.email for i in added] == ["ana@example.org", "b@example.org"]
    assert authoring.invitation_add(event=event, by=organiser, emails=["ANA@example.org"]) == []


# --- after the event -------------------------------------------------------------------


def test_close_attendance_turns_confirmed_into_no_show_only_for_ended_events(cluster):
    past_start = timezone.now() - timedelta(days=1)
    ended = EventFactory(
        clusters=[cluster], starts_at=past_start, ends_at=past_start + timedelta(hours=2)
    )
    running = EventFactory(
        clusters=[cluster],
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    confirmed = RegistrationFactory(event=ended)
    attended = RegistrationFactory(event=ended, status=Status.ATTENDED)
    waitlisted = RegistrationFactory(event=ended, status=Status.WAITLISTED, waitlist_position=1)
    still_running = RegistrationFactory(event=running)
    out = io.StringIO()
    call_command("close_attendance", stdout=out)
    assert "Closed attendance of 1 events." in out.getvalue()
    for r in (confirmed, attended, waitlisted, still_running):
        r.refresh_from_db()
    assert confirmed.status == Status.NO_SHOW
    assert attended.status == Status.ATTENDED
    assert waitlisted.status == Status.WAITLISTED
    assert still_running.status == Status.CONFIRMED
    assert authoring.attendance_close_ended() == {}


def test_the_beat_task_closes_attendance_too(cluster):
    from events.tasks import attendance_close_task

    past_start = timezone.now() - timedelta(days=1)
    ended = EventFactory(
        clusters=[cluster], starts_at=past_start, ends_at=past_start + timedelta(hours=2)
    )
    registration = RegistrationFactory(event=ended)
    assert attendance_close_task.delay().get() == {ended.pk: 1}
    registration.refresh_from_db()
    assert registration.status == Status.NO_SHOW


def test_a_co_organiser_cannot_remove_the_other_organising_cluster(cluster, other_cluster):
    event = EventFactory(clusters=[cluster, other_cluster])
    co_organiser = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=co_organiser)
    with pytest.raises(ValidationError, match="only remove clusters that you organise"):
        authoring.event_update(event=event, by=co_organiser, changes={}, clusters=[other_cluster])
    assert set(event.clusters.all()) == {cluster, other_cluster}


def test_a_moved_event_sends_its_registrants_the_updated_calendar_entry(
    cluster, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster])
    registration = RegistrationFactory(event=event)
    before = icalendar.Calendar.from_ical(ical.registration_invitation(registration))
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(
            event=event,
            by=organiser,
            changes={
                "starts_at": event.starts_at + timedelta(hours=2),
                "ends_at": event.ends_at + timedelta(hours=2),
            },
        )
    [message] = mailoutbox
    after = icalendar.Calendar.from_ical(message.attachments[0][1])
    old, new = before.walk("VEVENT")[0], after.walk("VEVENT")[0]
    assert after["METHOD"] == "REQUEST"
    assert new["UID"] == old["UID"]
    assert int(new["SEQUENCE"]) == int(old["SEQUENCE"]) + 1


# --- calendars: session seats and text ---------------------------------------------------


def calendar_in(message) -> icalendar.Calendar:
    [content] = [c for name, c, _ in message.attachments if name == "invitation.ics"]
    return icalendar.Calendar.from_ical(content)


def entries(message) -> dict[str, str]:
    """{UID: STATUS} of the calendar a message carries."""
    return {str(v["UID"]): str(v["STATUS"]) for v in calendar_in(message).walk("VEVENT")}


def test_a_conference_cancel_withdraws_every_session_seat_also_of_session_only_people(
    organiser, cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    conference = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    keynote = SessionFactory(event=conference)
    workshop = SessionFactory(event=conference, starts_at=conference.starts_at + timedelta(hours=1))
    whole, only_sessions = people(organisation, 2)
    services.event_register(event=conference, user=whole)
    services.event_register(event=conference, user=whole, session=workshop)
    # Held only session seats (their event registration was never made: imported data).
    for session in (keynote, workshop):
        RegistrationFactory(event=conference, session=session, user=only_sessions)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert authoring.event_cancel(event=conference, by=organiser) == 2

    by_person = {m.to[0]: m for m in mailoutbox}
    assert set(by_person) == {whole.email, only_sessions.email}
    for message in mailoutbox:
        assert calendar_in(message)["METHOD"] == "CANCEL"
    assert entries(by_person[whole.email]) == {
        ical.event_uid(conference): "CANCELLED",
        ical.session_uid(workshop): "CANCELLED",
    }
    assert entries(by_person[only_sessions.email]) == {
        ical.session_uid(keynote): "CANCELLED",
        ical.session_uid(workshop): "CANCELLED",
    }


def test_leaving_a_conference_withdraws_its_session_seats_in_the_same_message(
    cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    conference = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    workshop = SessionFactory(event=conference)
    registration = services.event_register(event=conference, user=member.user)
    services.event_register(event=conference, user=member.user, session=workshop)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, by=member.user)

    [message] = mailoutbox
    assert calendar_in(message)["METHOD"] == "CANCEL"
    assert entries(message) == {
        ical.event_uid(conference): "CANCELLED",
        ical.session_uid(workshop): "CANCELLED",
    }


def test_moving_a_conference_updates_the_session_seats_people_hold_too(
    organiser, cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    conference = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    workshop = SessionFactory(event=conference)
    services.event_register(event=conference, user=member.user)
    services.event_register(event=conference, user=member.user, session=workshop)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(event=conference, by=organiser, changes={"venue_name": "Hall 7"})

    [message] = mailoutbox
    calendar = calendar_in(message)
    assert calendar["METHOD"] == "REQUEST"
    sequences = {str(v["UID"]): int(v["SEQUENCE"]) for v in calendar.walk("VEVENT")}
    assert sequences == {ical.event_uid(conference): 1, ical.session_uid(workshop): 1}
    assert all("Hall 7" in str(v["LOCATION"]) for v in calendar.walk("VEVENT"))


@pytest.mark.parametrize(
    "title", ["Robots\nand cobots", "Robots\rand cobots", "Robots\x07", "Robots\u2028cobots"]
)
def test_an_event_or_session_title_with_a_line_break_or_control_character_is_refused(
    organiser, cluster, event, title
):
    with pytest.raises(ValidationError) as error:
        authoring.event_create(by=organiser, fields=event_fields(title=title), clusters=[cluster])
    assert messages_of(error)["title"] == [authoring.LINE_BREAK_MESSAGE]
    with pytest.raises(ValidationError) as error:
        authoring.event_update(event=event, by=organiser, changes={"title": title})
    assert "title" in messages_of(error)
    with pytest.raises(ValidationError) as error:
        authoring.session_create(
            event=event,
            by=organiser,
            fields={"title": title, "starts_at": event.starts_at, "ends_at": event.ends_at},
        )
    assert "title" in messages_of(error)
    event.refresh_from_db()
    assert event.title != title


def test_descriptions_and_addresses_keep_their_line_breaks_but_no_control_characters(
    organiser, cluster
):
    fields = event_fields(
        description="## Agenda\n\n- Welcome\n\t- Coffee", venue_address="Hafenstraße 1\r\n4020 Linz"
    )
    event = authoring.event_create(by=organiser, fields=fields, clusters=[cluster])
    assert event.description.startswith("## Agenda\n")
    with pytest.raises(ValidationError) as error:
        authoring.event_update(event=event, by=organiser, changes={"description": "Bell\x07"})
    assert messages_of(error)["description"] == [authoring.CONTROL_MESSAGE]


def test_the_forms_refuse_titles_with_line_breaks_with_a_clear_message(cluster, event):
    data = {
        "kind": Event.Kind.WEBINAR,
        "title": "Robots\nand cobots",
        "clusters": [cluster.pk],
        "timezone": "Europe/Vienna",
        "starts_at": "2030-05-06T10:00",
        "ends_at": "2030-05-06T12:00",
        "audience": Event.Audience.MEMBERS,
        "venue_address": "Hafenstraße 1\r\n4020 Linz",
    }
    form = EventForm(data)
    assert not form.is_valid()
    assert form.errors == {"title": [authoring.LINE_BREAK_MESSAGE]}
    assert EventForm({**data, "title": "Robots and cobots"}).is_valid()

    session = SessionForm(
        {
            "kind": Session.Kind.TALK,
            "title": "Keynote\x1b",
            "room": "Hall\nA",
            "starts_at": "2030-05-06T10:00",
            "ends_at": "2030-05-06T11:00",
        },
        event=event,
    )
    assert not session.is_valid()
    assert set(session.errors) == {"title", "room"}
