"""Registration mail carries the invitation as the RSVP part Outlook and Gmail read."""

from datetime import timedelta
from email import message_from_bytes, policy

import icalendar
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import authoring, reminders, services
from events.models import Registration
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory, RegistrationFactory
from tests.factories import ClusterOrganiserFactory, UserFactory

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


# --- who answers, how it looks, where the organiser counts it ---------------------------


def html_part(sent) -> str:
    parsed = message_from_bytes(sent.message().as_bytes(), policy=policy.default)
    return parsed.get_body(preferencelist=("html",)).get_content()


def test_registration_mail_replies_to_the_organisers_has_html_and_is_counted_for_the_event(
    cluster, other_cluster, organiser, member, mailoutbox, django_capture_on_commit_callbacks
):
    ClusterOrganiserFactory(cluster=other_cluster)  # organises another cluster only
    event = EventFactory(clusters=[cluster], title="Robots & <Cobots>")
    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=event, user=member.user)

    [sent] = mailoutbox
    assert sent.reply_to == [organiser.email]
    html = html_part(sent)
    assert "You are registered for" in html
    assert "Robots &amp; &lt;Cobots&gt;" in html and "<Cobots>" not in html
    assert event.get_absolute_url() in html
    assert "Robots & <Cobots>" in sent.body  # the plain text stays plain
    row = OutboxMessage.objects.get()
    assert (row.kind, row.batch) == ("events.registration", f"event:{event.pk}")


def test_reply_to_names_at_most_three_organisers_the_events_creator_first(
    cluster, other_cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    roles = [ClusterOrganiserFactory(cluster=c) for c in (cluster, cluster, other_cluster)]
    creator = ClusterOrganiserFactory(cluster=other_cluster).user
    ClusterOrganiserFactory(cluster=cluster, user=UserFactory(is_active=False))
    ClusterOrganiserFactory(cluster=other_cluster, user=roles[0].user)  # organises both
    event = EventFactory(clusters=[cluster, other_cluster], created_by=creator)
    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=event, user=member.user)

    [sent] = mailoutbox
    assert sent.reply_to == [creator.email, roles[0].user.email, roles[1].user.email]


def test_without_organisers_replies_go_to_the_site(
    cluster, member, settings, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster])
    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=event, user=member.user)

    assert mailoutbox[0].reply_to == [settings.DEFAULT_FROM_EMAIL]


def test_change_mail_has_html_reply_to_and_batch_and_looks_organisers_up_once(
    cluster, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster], venue_name="Tabakfabrik Linz")
    RegistrationFactory.create_batch(3, event=event)

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        authoring.event_update(
            event=event, by=organiser, changes={"starts_at": event.starts_at + timedelta(hours=1)}
        )

    assert len(mailoutbox) == 3
    for sent in mailoutbox:
        assert sent.reply_to == [organiser.email]
        html = html_part(sent)
        assert "The organisers have changed the time of" in html
        assert "Tabakfabrik Linz" in html
    assert set(OutboxMessage.objects.values_list("kind", "batch")) == {
        ("events.changed", f"event:{event.pk}")
    }
    organiser_lookups = [
        q for q in queries.captured_queries if 'FROM "members_clusterorganiser"' in q["sql"]
    ]
    # One for the organiser's own permission check, one for the Reply-To of all three.
    assert len(organiser_lookups) <= 2


def test_reminders_and_follow_ups_reply_to_the_organisers_in_the_events_batch(
    cluster, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    start = timezone.now() + timedelta(hours=23, minutes=58)
    event = EventFactory(clusters=[cluster], starts_at=start, ends_at=start + timedelta(hours=2))
    RegistrationFactory(event=event)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.reminders_send_due() == 1
    ended = EventFactory(
        clusters=[cluster],
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(hours=1),
    )
    RegistrationFactory(event=ended, status=Registration.Status.ATTENDED)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.followups_send_due() == 1

    assert [m.reply_to for m in mailoutbox] == [[organiser.email], [organiser.email]]
    assert all(html_part(m) for m in mailoutbox)
    assert sorted(OutboxMessage.objects.values_list("kind", "batch")) == [
        ("events.followup", f"event:{ended.pk}"),
        ("events.reminder", f"event:{event.pk}"),
    ]


def test_the_invitations_organizer_is_the_first_address_replies_go_to(
    cluster, other_cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    ClusterOrganiserFactory(cluster=cluster)
    creator = ClusterOrganiserFactory(cluster=other_cluster).user
    event = EventFactory(clusters=[cluster, other_cluster], created_by=creator)
    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=event, user=member.user)

    [sent] = mailoutbox
    [rsvp], _ = calendar_parts(sent)
    [vevent] = icalendar.Calendar.from_ical(rsvp.get_content()).walk("VEVENT")
    organizer = vevent["ORGANIZER"]
    assert str(organizer) == f"mailto:{sent.reply_to[0]}" == f"mailto:{creator.email}"
    assert organizer.params["CN"] == other_cluster.name  # the cluster the creator runs
    assert vevent["ATTENDEE"].params["RSVP"] == "FALSE"
