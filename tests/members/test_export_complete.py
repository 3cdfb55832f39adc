"""The data export (`/me/data.json`) lists every row the site holds about the person: the
mail sent to them, their stage roles, guest lists, feed and token (not their secrets),
the statistics they looked at — and nothing of other people."""

import json
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress

from events import authoring
from events import services as event_services
from events.calendar_services import calendar_feed_ensure
from events.models import Event, StageRole
from members import api_tokens, privacy
from notifications.models import OutboxMessage
from notifications.services import outbox_purge_bodies
from tests.events.factories import EventFactory, SessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def exported(client_for, member, colleague, cluster, organiser, django_capture_on_commit_callbacks):
    user = member.user
    EmailAddress.objects.create(user=user, email="old.anna@example.net", primary=False)
    privacy.gender_set(user=user, gender="woman", statistics_consent=True, stage_consent=True)
    webinar = EventFactory(clusters=[cluster], title="Cobot webinar")
    with django_capture_on_commit_callbacks(execute=True):
        event_services.event_register(event=webinar, user=user)  # sent
    old = OutboxMessage.objects.get(recipient=user.email)
    outbox_purge_bodies(now=old.sent_at + timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=False):
        event_services.event_register(event=webinar, user=colleague.user)  # Bruno's, queued
    conference = EventFactory(clusters=[cluster], title="Automation Days")
    keynote = SessionFactory(event=conference, title="Opening keynote")
    authoring.stage_role_add(event=conference, session=keynote, by=organiser,
                             role=StageRole.Role.SPEAKER, profile=member)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        event_services.event_register(event=conference, user=user)  # queued, body kept
    private = EventFactory(clusters=[cluster], audience=Event.Audience.INVITATION, title="Lab")
    authoring.invitation_add(event=private, by=organiser, emails=["old.anna@example.net"])
    feed = calendar_feed_ensure(user=user)
    token = api_tokens.api_token_create(user=user)
    privacy.statistics_access_log(user=user, view="balance:cluster", cluster=cluster)

    response = client_for(user).get("/me/data.json")
    assert response.status_code == 200
    return {"data": json.loads(response.content), "text": response.content.decode(),
            "secrets": [feed.token, token.key], "colleague": colleague}  # fmt: skip


def test_the_export_lists_the_mail_sent_to_the_person(exported):
    mail = exported["data"]["mail"]

    assert [(m["kind"], m["status"]) for m in mail] == [
        ("events.registration", "sent"),
        ("events.registration", "queued"),
    ]
    purged, kept = mail
    assert "Cobot webinar" in purged["subject"] and purged["sent_at"]
    assert purged["body_text"] is None and purged["content_deleted_at"]
    assert "Automation Days" in kept["body_text"] and kept["sent_at"] is None
    assert kept["attachments"] == ["invitation.ics"]
    # Bruno's confirmation is Bruno's.
    assert exported["colleague"].user.email not in exported["text"]


def test_the_export_lists_stage_roles_guest_lists_feed_token_and_statistics(exported):
    data = exported["data"]

    assert data["stage_roles"] == [
        {
            "event": "Automation Days",
            "session": "Opening keynote",
            "role": "speaker",
            "starts_at": data["stage_roles"][0]["starts_at"],
        }
    ]
    assert [(g["event"], g["email"]) for g in data["event_guest_lists"]] == [
        ("Lab", "old.anna@example.net")
    ]
    assert data["calendar_feed"]["created_at"]
    assert data["api_token"]["created"]
    assert [s["view"] for s in data["statistics_viewed"]] == ["balance:cluster"]
    assert data["gender"]["stage_consent"] is True
    # Only that there are a feed and a token: their secrets stay out of a downloaded file.
    for secret in exported["secrets"]:
        assert secret not in exported["text"]
