"""What participants notice of reminders before an event and the follow-up after it."""

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core.management import call_command
from django.utils import timezone

from events import authoring, ical, reminders, tasks
from events.forms import EventForm
from events.models import Event, Registration, Session
from members.preferences import preferences_update
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory, RegistrationFactory, SessionFactory

pytestmark = pytest.mark.django_db
Status = Registration.Status

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def event_starting(starts_at: datetime, **fields) -> Event:
    return EventFactory(starts_at=starts_at, ends_at=starts_at + 2 * HOUR, **fields)


def run_reminders(capture, *, now: datetime) -> int:
    with capture(execute=True):
        return reminders.reminders_send_due(now=now)


def run_followups(capture, *, now: datetime) -> int:
    with capture(execute=True):
        return reminders.followups_send_due(now=now)


def calendar_of(message) -> icalendar.Calendar:
    (content,) = [c for name, c, _ in message.attachments if name == "invitation.ics"]
    return icalendar.Calendar.from_ical(content)


@pytest.fixture
def start() -> datetime:
    return (timezone.now() + 3 * DAY).replace(second=0, microsecond=0)


# --- reminders -------------------------------------------------------------------------


def test_a_day_before_only_people_holding_a_confirmed_seat_are_reminded(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    event = event_starting(start, clusters=[cluster], venue_name="Tabakfabrik Linz")
    confirmed = [RegistrationFactory(event=event) for _ in range(2)]
    RegistrationFactory(event=event, status=Status.WAITLISTED, waitlist_position=1)
    for status in (Status.PENDING, Status.CANCELLED, Status.DECLINED):
        RegistrationFactory(event=event, status=status)

    assert run_reminders(django_capture_on_commit_callbacks, now=start - 2 * DAY) == 0
    sent = run_reminders(django_capture_on_commit_callbacks, now=start - DAY + MINUTE)

    assert sent == 2
    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.user.email for r in confirmed)
    message = mailoutbox[0]
    assert message.subject.startswith("[Clusterhub] Reminder: " + event.title)
    assert "Tabakfabrik Linz" in message.body
    assert event.get_absolute_url() in message.body
    html = {mimetype: content for content, mimetype in message.alternatives}["text/html"]
    assert "Tabakfabrik Linz" in html
    calendar = calendar_of(message)
    assert calendar["METHOD"] == "REQUEST"
    assert calendar.walk("VEVENT")[0]["UID"].startswith(f"event-{event.uid}@")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_running_the_sweep_again_sends_nothing_more(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    event = event_starting(start, clusters=[cluster])
    RegistrationFactory(event=event)

    first = run_reminders(django_capture_on_commit_callbacks, now=start - DAY)
    again = run_reminders(django_capture_on_commit_callbacks, now=start - DAY + 5 * MINUTE)
    tasks.reminders_send_due_task.delay()  # the beat task, now: the day-before is long due

    assert (first, again) == (1, 0)
    assert len(mailoutbox) == 1
    assert OutboxMessage.objects.filter(kind="events.reminder").count() == 1


def test_a_moved_event_is_reminded_for_its_new_time_and_not_the_old_one(
    organiser, cluster, mailoutbox, django_capture_on_commit_callbacks
):
    start = (timezone.now() + DAY - 10 * MINUTE).replace(microsecond=0)
    event = event_starting(start, clusters=[cluster])
    registration = RegistrationFactory(event=event)
    assert run_reminders(django_capture_on_commit_callbacks, now=timezone.now()) == 1

    new_start = start + 3 * DAY
    with django_capture_on_commit_callbacks(execute=True):
        authoring.event_update(
            event=event,
            by=organiser,
            changes={"starts_at": new_start, "ends_at": new_start + 2 * HOUR},
        )
    mailoutbox.clear()

    assert run_reminders(django_capture_on_commit_callbacks, now=timezone.now()) == 0
    assert run_reminders(django_capture_on_commit_callbacks, now=start - DAY + MINUTE) == 0
    assert run_reminders(django_capture_on_commit_callbacks, now=new_start - DAY + MINUTE) == 1

    (message,) = mailoutbox
    assert message.to == [registration.user.email]
    local = new_start.astimezone(ZoneInfo("Europe/Vienna"))
    assert f"{local:%A} {local.day} {local:%B %Y, %H:%M}" in message.body
    vevent = calendar_of(message).walk("VEVENT")[0]
    assert vevent.decoded("DTSTART").astimezone(UTC) == new_start


def test_online_events_also_remind_an_hour_before_with_the_join_link(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    online = event_starting(
        start,
        clusters=[cluster],
        online_platform="Zoom",
        online_url="https://zoom.example/j/123",
        reminder_offsets=[1440, 60],
    )
    in_person = event_starting(start, clusters=[cluster], venue_name="Linz")
    RegistrationFactory(event=online)
    RegistrationFactory(event=in_person)

    assert run_reminders(django_capture_on_commit_callbacks, now=start - DAY) == 2
    assert run_reminders(django_capture_on_commit_callbacks, now=start - 3 * HOUR) == 0
    mailoutbox.clear()
    assert run_reminders(django_capture_on_commit_callbacks, now=start - HOUR + MINUTE) == 1

    (message,) = mailoutbox
    assert online.title in message.subject
    assert "https://zoom.example/j/123" in message.body
    assert OutboxMessage.objects.filter(kind="events.reminder").count() == 3


def test_the_in_person_reminder_carries_no_join_link(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    event = event_starting(start, clusters=[cluster], venue_name="Linz")
    RegistrationFactory(event=event)

    run_reminders(django_capture_on_commit_callbacks, now=start - DAY)

    (message,) = mailoutbox
    assert "Online" not in message.body
    assert "zoom" not in message.body.lower()


def test_a_late_publish_sends_only_the_nearest_reminder_not_a_burst(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    event = event_starting(start, clusters=[cluster], reminder_offsets=[10080, 1440, 60, 15])
    RegistrationFactory(event=event)

    # Five minutes before the start: the week, day and hour reminders are all overdue.
    sent = run_reminders(django_capture_on_commit_callbacks, now=start - 5 * MINUTE)

    assert sent == 1
    (row,) = OutboxMessage.objects.filter(kind="events.reminder")
    assert row.idempotency_key.split(":")[2] == "15"


def test_an_overdue_reminder_is_still_sent_when_it_is_the_only_one(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    event = event_starting(start, clusters=[cluster])  # one day before
    RegistrationFactory(event=event)

    assert run_reminders(django_capture_on_commit_callbacks, now=start - 20 * HOUR) == 1
    assert len(mailoutbox) == 1


def test_cancelled_events_and_started_events_send_no_reminders(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    cancelled = event_starting(start, clusters=[cluster], status=Event.Status.CANCELLED)
    draft = event_starting(start, clusters=[cluster], status=Event.Status.DRAFT)
    RegistrationFactory(event=cancelled)
    RegistrationFactory(event=draft)

    assert run_reminders(django_capture_on_commit_callbacks, now=start - DAY) == 0

    started = event_starting(start, clusters=[cluster])
    RegistrationFactory(event=started)
    assert run_reminders(django_capture_on_commit_callbacks, now=start) == 0
    assert mailoutbox == []


def test_members_who_turned_reminders_off_get_none(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    event = event_starting(start, clusters=[cluster])
    keen = RegistrationFactory(event=event)
    quiet = RegistrationFactory(event=event)
    preferences_update(user=quiet.user, reminders=False)

    run_reminders(django_capture_on_commit_callbacks, now=start - DAY)

    assert [m.to[0] for m in mailoutbox] == [keen.user.email]


def test_the_reminder_shows_the_event_zone_time_across_a_daylight_saving_change(
    cluster, mailoutbox, django_capture_on_commit_callbacks
):
    # Lisbon moves to summer time in the night before Sunday 29 March 2026: the reminder
    # goes out on Saturday in WET (UTC+0) for a start on Sunday at 10:00 WEST (09:00 UTC).
    # (Brussels, the site's zone, would say 11:00; a fixed winter offset would say 09:00.)
    start = datetime(2026, 3, 29, 9, 0, tzinfo=UTC)
    event = event_starting(start, clusters=[cluster], timezone="Europe/Lisbon")
    RegistrationFactory(event=event)

    run_reminders(django_capture_on_commit_callbacks, now=datetime(2026, 3, 28, 9, 2, tzinfo=UTC))

    (message,) = mailoutbox
    html = {mimetype: content for content, mimetype in message.alternatives}["text/html"]
    for text in (message.body, html):
        assert "Sunday 29 March 2026, 10:00" in text
        assert "WEST" in text
        assert "Europe/Lisbon" in text
    assert "Sun 29 Mar 2026, 10:00" in message.subject


# --- follow-up -------------------------------------------------------------------------


def test_the_follow_up_goes_to_attendees_only_and_only_once(
    cluster, mailoutbox, django_capture_on_commit_callbacks
):
    start = timezone.now() - 2 * DAY
    event = event_starting(
        start,
        clusters=[cluster],
        materials_url="https://files.example/slides.pdf",
        recording_url="https://video.example/rec",
    )
    came = [RegistrationFactory(event=event, status=Status.ATTENDED) for _ in range(2)]
    RegistrationFactory(event=event, status=Status.NO_SHOW)
    RegistrationFactory(event=event, status=Status.CANCELLED)

    assert run_followups(django_capture_on_commit_callbacks, now=timezone.now()) == 2
    assert run_followups(django_capture_on_commit_callbacks, now=timezone.now()) == 0
    tasks.followups_send_due_task.delay()

    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.user.email for r in came)
    message = mailoutbox[0]
    assert "https://files.example/slides.pdf" in message.body
    assert "https://video.example/rec" in message.body
    assert event.get_absolute_url() + "#feedback" in message.body
    event.refresh_from_db()
    assert event.followup_sent_at is not None


def test_the_follow_up_waits_until_attendance_is_recorded(
    cluster, mailoutbox, django_capture_on_commit_callbacks
):
    ended = timezone.now() - 3 * HOUR
    event = event_starting(ended - 2 * HOUR, clusters=[cluster])
    attendee = RegistrationFactory(event=event, status=Status.ATTENDED)
    RegistrationFactory(event=event, status=Status.CONFIRMED)  # nobody marked them yet

    assert run_followups(django_capture_on_commit_callbacks, now=timezone.now()) == 0
    event.refresh_from_db()
    assert event.followup_sent_at is None

    # A day after the end it goes anyway, still to the attendees only.
    later = ended + DAY + MINUTE
    assert run_followups(django_capture_on_commit_callbacks, now=later) == 1
    assert [m.to[0] for m in mailoutbox] == [attendee.user.email]


def test_no_follow_up_for_cancelled_events_or_events_long_past(
    cluster, mailoutbox, django_capture_on_commit_callbacks
):
    cancelled = event_starting(
        timezone.now() - 2 * DAY, clusters=[cluster], status=Event.Status.CANCELLED
    )
    old = event_starting(timezone.now() - 30 * DAY, clusters=[cluster])
    RegistrationFactory(event=cancelled, status=Status.ATTENDED)
    RegistrationFactory(event=old, status=Status.ATTENDED)

    assert run_followups(django_capture_on_commit_callbacks, now=timezone.now()) == 0
    assert mailoutbox == []


# --- the organiser's form --------------------------------------------------------------


def form_data(cluster, **overrides):
    data = {
        "kind": Event.Kind.WEBINAR,
        "title": "Predictive maintenance",
        "clusters": [cluster.pk],
        "timezone": "Europe/Vienna",
        "starts_at": "2030-05-06T10:00",
        "ends_at": "2030-05-06T12:00",
        "audience": Event.Audience.MEMBERS,
    }
    return {**data, **overrides}


def test_a_new_online_event_defaults_to_a_day_and_an_hour_before(cluster):
    online = EventForm(
        form_data(cluster, online_url="https://zoom.example/j/1", reminder_offsets=["1440"])
    )
    in_person = EventForm(form_data(cluster, reminder_offsets=["1440"]))
    chosen = EventForm(
        form_data(cluster, online_url="https://zoom.example/j/1", reminder_offsets=["2880", "15"])
    )

    assert online.is_valid(), online.errors
    assert in_person.is_valid(), in_person.errors
    assert chosen.is_valid(), chosen.errors
    assert online.cleaned_data["reminder_offsets"] == [1440, 60]
    assert in_person.cleaned_data["reminder_offsets"] == [1440]
    assert chosen.cleaned_data["reminder_offsets"] == [2880, 15]


def test_the_reminders_an_organiser_chooses_are_saved(cluster, organiser):
    event = EventFactory(clusters=[cluster])
    form = EventForm(form_data(cluster, reminder_offsets=["2880", "60"]), instance=event)
    assert form.is_valid(), form.errors
    authoring.event_update(event=event, by=organiser, changes=form.changes())
    event.refresh_from_db()
    assert event.reminder_offsets == [2880, 60]


def test_the_cron_command_queues_due_reminders_once(cluster, django_capture_on_commit_callbacks):
    event = event_starting(timezone.now() + DAY - MINUTE, clusters=[cluster])
    RegistrationFactory(event=event)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_reminders", stdout=out)
        call_command("send_reminders", stdout=out)
    assert "Queued 1 reminder(s)" in out.getvalue()
    assert OutboxMessage.objects.filter(kind="events.reminder").count() == 1


def test_a_training_is_reminded_before_each_of_its_dates_and_not_again_for_its_start(
    cluster, start, mailoutbox, django_capture_on_commit_callbacks
):
    training = EventFactory(
        clusters=[cluster], kind=Event.Kind.TRAINING, starts_at=start, ends_at=start + 8 * DAY
    )
    days = [
        SessionFactory(
            event=training,
            kind=Session.Kind.WORKSHOP,
            title=f"Day {n + 1}",
            starts_at=start + n * 7 * DAY,
            ends_at=start + n * 7 * DAY + 4 * HOUR,
        )
        for n in range(2)
    ]
    registration = RegistrationFactory(event=training)

    assert run_reminders(django_capture_on_commit_callbacks, now=start - DAY + MINUTE) == 1
    assert run_reminders(django_capture_on_commit_callbacks, now=start - DAY + 3 * MINUTE) == 0
    assert run_reminders(django_capture_on_commit_callbacks, now=days[1].starts_at - DAY) == 1

    first, second = mailoutbox
    assert [m.to for m in mailoutbox] == [[registration.user.email]] * 2
    for message, day in zip(mailoutbox, days, strict=True):
        assert f"{training.title} — {day.title}" in message.subject
        [vevent] = calendar_of(message).walk("VEVENT")
        assert vevent["UID"] == ical.session_uid(day)
        assert vevent.decoded("DTSTART").astimezone(UTC) == day.starts_at
    keys = set(
        OutboxMessage.objects.filter(kind="events.reminder").values_list(
            "idempotency_key", flat=True
        )
    )
    assert keys == {
        reminders.reminder_key(
            registration=registration, offset=1440, starts_at=day.starts_at, session=day
        )
        for day in days
    }
