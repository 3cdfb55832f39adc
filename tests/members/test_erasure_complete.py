"""After `/me/delete/` nothing in the database names the person: every text, character and
JSON column of every table (and every session) is searched for their names and addresses.

The person has data in every app, written through the services a member, an organiser
and the admin use; the mail those services wrote is in the outbox, some sent, some still
queued. Erasing keeps the counts others rely on (the registration tallies, the campaign's
delivery counts, a past panel, a programme's health) and everyone else's data.
"""

import html
import io
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.db import connection, models
from django.utils import timezone
from rest_framework.authtoken.models import Token

from events import authoring, campaigns, tally
from events import services as event_services
from events.calendar_services import calendar_feed_ensure
from events.models import (
    CalendarFeed,
    CampaignRecipient,
    Event,
    Invitation,
    Registration,
    StageRole,
)
from matchmaking import selectors as mentoring_selectors
from matchmaking import services as mentoring
from matchmaking.models import Application, Circle, Feedback, Match, Programme
from members import api_tokens, preferences, privacy, services
from members.models import ClusterOrganiser, Profile, StatisticsAccess, Topic, User
from notifications.models import OutboxMessage
from notifications.redaction import unfold
from notifications.selectors import delivery_counts
from notifications.services import email_enqueue
from tests.events.factories import EventFactory, SessionFactory
from tests.factories import PASSWORD, OrganisationFactory, ProfileFactory, UserFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

pytestmark = pytest.mark.django_db

ANNA = "anna.keller@example.org"
OLD_ANNA = "a.keller@old.example"
# Whole names, addresses, and the name as a page address would spell it.
NEEDLES = ("Anna Keller", "Anna Keller-Brandt", ANNA, OLD_ANNA, "anna-keller")


# --- the search ------------------------------------------------------------------------


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)


def _normalised(text: str) -> str:
    """As a reader would see it: calendar lines unfolded, HTML entities read, any run of
    white space one space, any case."""
    return " ".join(html.unescape(unfold(text)).split()).casefold()


def mentions_in_database(needles=NEEDLES) -> list[str]:
    """Every text, character and JSON value of every row of every table (m2m tables
    too), and every session's decoded data, that holds one of `needles`."""
    wanted = [n.casefold() for n in needles]
    found = []
    searched = set()
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if model._meta.proxy or table in searched:
            continue
        searched.add(table)
        fields = [
            f
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        if not fields:
            continue
        for pk, *values in model._base_manager.values_list("pk", *(f.attname for f in fields)):
            for field, value in zip(fields, values, strict=True):
                for text in _strings(value):
                    hits = [n for n in wanted if n in _normalised(text)]
                    if hits:
                        found.append(f"{table}.{field.name} #{pk}: {hits} in {text[:120]!r}")
    for session in Session.objects.all():
        text = json.dumps(session.get_decoded())
        hits = [n for n in wanted if n in _normalised(text)]
        if hits:
            found.append(f"django_session {session.session_key}: {hits}")
    return found


def mentions_in_mail(sent, needles=NEEDLES) -> list[str]:
    found = []
    for message in sent:
        parts = [message.subject, message.body, *message.to, *message.reply_to]
        parts += [content for content, _ in message.alternatives]
        parts += [str(a[1]) for a in message.attachments if isinstance(a, tuple)]
        for part in parts:
            found += [f"{message.to}: {n}" for n in needles if n.casefold() in _normalised(part)]
    return found


# --- the person and the world around them -----------------------------------------------


@pytest.fixture
def world(cluster, organisation, organiser, staff, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    now = timezone.now()
    anna = UserFactory(email=ANNA, first_name="Anna", last_name="Keller-Brandt")
    EmailAddress.objects.create(user=anna, email=OLD_ANNA, verified=True, primary=False)
    profile = ProfileFactory(
        user=anna, display_name="Anna Keller", organisation=organisation, bio="Cobots."
    )
    bruno = ProfileFactory(display_name="Bruno Weiss", organisation=organisation).user
    carla = ProfileFactory(
        display_name="Carla Rossi", organisation=OrganisationFactory(clusters=[cluster])
    ).user

    # members: gender, preferences, an organiser's role and topic, a token, statistics.
    privacy.gender_set(user=anna, gender="woman", statistics_consent=True, stage_consent=True)
    preferences.preferences_update(user=anna, reminders=False, invitation_topics=[topic("AI")])
    role = services.organiser_grant(cluster=cluster, user=anna, granted_by=organiser)
    services.topic_create(name="Cobot safety", created_by=anna)
    api_tokens.api_token_create(user=anna)
    privacy.statistics_access_log(user=anna, view="balance:cluster", cluster=cluster,
                                  filters={"period": "year"})  # fmt: skip
    # The admin's history of changes to her.
    LogEntry.objects.log_actions(
        user_id=staff.pk, queryset=[profile, anna], action_flag=CHANGE,
        change_message=[{"added": {"name": "cluster organiser", "object": str(role)}}],
    )  # fmt: skip

    # events: registrations with sessions (a full workshop, Bruno waiting), a past event
    # attended and spoken at, a keynote, an invitation-only event, a campaign, a feed.
    webinar = EventFactory(clusters=[cluster], title="Cobot webinar", capacity=1)
    conference = EventFactory(clusters=[cluster], title="Automation Days")
    workshop = SessionFactory(event=conference, title="Gripper workshop", capacity=1)
    keynote = SessionFactory(event=conference, title="Keynote: Anna Keller on cobots",
                             description="Anna Keller shows her cell.")  # fmt: skip
    past = EventFactory(clusters=[cluster], title="Cobot meetup",
                        starts_at=now - timedelta(days=20))  # fmt: skip
    with capture(execute=True):
        for user in (anna, bruno):
            event_services.event_register(event=webinar, user=user)
            event_services.event_register(event=conference, user=user)
            event_services.event_register(event=conference, user=user, session=workshop)
    Registration.objects.create(event=past, user=anna, status=Registration.Status.ATTENDED)
    Registration.objects.create(event=past, user=bruno, status=Registration.Status.ATTENDED)
    authoring.stage_role_add(event=conference, session=keynote, by=organiser,
                             role=StageRole.Role.SPEAKER, profile=profile)  # fmt: skip
    authoring.stage_role_add(event=past, by=organiser, role=StageRole.Role.PANELLIST,
                             profile=profile)  # fmt: skip
    authoring.stage_role_add(event=past, by=organiser, role=StageRole.Role.MODERATOR,
                             guest_name="Guest Moderator")  # fmt: skip
    private = EventFactory(clusters=[cluster], audience=Event.Audience.INVITATION)
    authoring.invitation_add(event=private, by=organiser, emails=[ANNA, "guest@example.net"])
    invited_to = EventFactory(clusters=[cluster], title="Robot Fair")
    campaign = campaigns.campaign_create(
        event=invited_to, by=organiser, clusters=[cluster],
        emails=f"{OLD_ANNA}\nguest@example.net",
        message="Anna Keller will show her cobot cell.",
    )  # fmt: skip
    with capture(execute=True):
        campaigns.campaign_send(campaign=campaign, by=organiser)
    calendar_feed_ensure(user=anna)

    # mentoring: Anna mentors Carla; Dieter would rather not have Anna.
    programme = ProgrammeFactory(clusters=[cluster], title="Robotics mentoring")
    ApplicationFactory(programme=programme, user=anna, role=Application.Role.MENTOR,
                       topics=[topic("Robotics")], availability="Tuesdays")  # fmt: skip
    ApplicationFactory(programme=programme, user=carla, topics=[topic("Robotics")],
                       goals="Learn what Anna Keller knows about cobots.")  # fmt: skip
    dieter = ApplicationFactory(programme=programme, topics=[topic("Robotics")], avoid=[anna])
    mentoring.programme_match_run(programme=programme, by=organiser)
    with capture(execute=True):
        mentoring.programme_publish(programme=programme, by=organiser)
    match = Match.objects.get(programme=programme, mentee__user=carla)
    # Answered outside a commit: the introductions ("meet Anna Keller") stay queued.
    mentoring.match_respond(match=match, by=anna, accept=True)
    mentoring.match_respond(match=match, by=carla, accept=True)
    mentoring.match_update_goals(match=match, by=carla, goals="Cobots with Anna Keller",
                                 progress="Met Anna Keller twice.")  # fmt: skip
    mentoring.meeting_log_add(match=match, by=anna, met_on=timezone.localdate(),
                              notes="Showed Carla the cell.")  # fmt: skip
    mentoring.feedback_submit(match=match, by=anna, rating=5, comment="Carla learns fast.")
    mentoring.feedback_submit(match=match, by=carla, rating=4,
                              comment="Anna Keller was a great mentor.")  # fmt: skip

    world = SimpleNamespace(
        anna=anna, profile=profile, bruno=bruno, carla=carla, dieter=dieter, organiser=organiser,
        cluster=cluster, webinar=webinar, conference=conference, workshop=workshop,
        keynote=keynote, past=past, private=private, campaign=campaign,
        programme=programme, match=match,
    )  # fmt: skip
    # Everything above is where it should be before the erasure (the search works).
    found = " ".join(mentions_in_database())
    for where in ("notifications_outboxmessage", "members_profile", "django_admin_log",
                  "events_campaign.", "events_session", "events_invitation", "matchmaking_match",
                  "matchmaking_feedback", "account_emailaddress", "members_user"):  # fmt: skip
        assert where in found, where
    return world


def counts(world) -> dict:
    """What organisers and the programme's health show: these must not move."""
    return {
        "past registrations": Registration.objects.filter(event=world.past).count(),
        "past stage": StageRole.objects.filter(event=world.past).count(),
        "keynote stage": StageRole.objects.filter(session=world.keynote).count(),
        "campaign recipients": world.campaign.recipient_count,
        "campaign sent": delivery_counts(batch=campaigns.campaign_batch(world.campaign))["sent"],
        "campaign failed": delivery_counts(batch=campaigns.campaign_batch(world.campaign))[
            "failed"
        ],
        "matches": Match.objects.filter(programme=world.programme).count(),
        "applicants": mentoring_selectors.programme_health(programme=world.programme).applicants,
        "ratings": mentoring_selectors.programme_health(programme=world.programme).ratings,
    }


def assert_erased_completely(world, mail_after) -> None:
    assert mentions_in_database() == []
    assert mentions_in_mail(mail_after) == []
    anna = User.objects.get(pk=world.anna.pk)
    assert not anna.is_active and anna.erased_at is not None
    assert [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(anna.pk)
    ] == []
    for model, lookup in (
        (Profile, {"user": anna}),
        (EmailAddress, {"user": anna}),
        (Token, {"user": anna}),
        (CalendarFeed, {"user": anna}),
        (ClusterOrganiser, {"user": anna}),
        (CampaignRecipient, {"user": anna}),
        (StatisticsAccess, {"user": anna}),
        (Invitation, {"email__iexact": ANNA}),
        (Application.avoid.through, {"user": anna}),
    ):
        assert not model.objects.filter(**lookup).exists(), model
    # The counts stay: the tallies agree with the registrations (check_tallies' check).
    assert tally.installed(connection)
    assert tally.drift(connection) == {}
    call_command("check_tallies", stdout=io.StringIO())
    assert StatisticsAccess.objects.filter(user=None, view="balance:cluster").exists()
    assert Topic.objects.filter(name="Cobot safety").exists()


def assert_others_intact(world, before) -> None:
    assert counts(world) == before
    bruno = User.objects.get(pk=world.bruno.pk)
    assert bruno.is_active and bruno.profile.display_name == "Bruno Weiss"
    # Anna's seats went to Bruno, who was waiting.
    for event, session in ((world.webinar, None), (world.conference, world.workshop)):
        assert Registration.objects.get(event=event, session=session, user=bruno).status == (
            Registration.Status.CONFIRMED
        )
    assert Registration.objects.get(event=world.past, user=world.anna).status == (
        Registration.Status.ATTENDED
    )
    assert set(StageRole.objects.filter(event=world.past).values_list("guest_name", flat=True)) == {
        "A former member",
        "Guest Moderator",
    }
    keynote = world.keynote
    keynote.refresh_from_db()
    assert keynote.title == "Keynote: a former member on cobots"
    assert Invitation.objects.filter(event=world.private, email="guest@example.net").exists()
    world.campaign.refresh_from_db()
    assert world.campaign.emails == "guest@example.net"
    assert world.campaign.message == "a former member will show her cobot cell."
    assert CampaignRecipient.objects.filter(campaign=world.campaign, user=bruno).exists()
    # Carla's side of the mentoring: her rating stays, her words lose Anna's name.
    feedback = Feedback.objects.get(match=world.match, author=world.carla)
    assert (feedback.rating, feedback.comment) == (4, "a former member was a great mentor.")
    assert Feedback.objects.get(match=world.match, author=world.anna).comment == ""
    world.match.refresh_from_db()
    assert world.match.status == Match.Status.ENDED_EARLY
    assert world.match.end_reason == "The other person withdrew."
    health = mentoring_selectors.programme_health(programme=world.programme)
    assert (health.ended_early, health.matched) == (1, 0)  # the match ended: Anna left
    assert world.match.goals == world.match.progress == ""
    assert Application.objects.get(pk=world.dieter.pk).status == Application.Status.APPROVED
    assert world.organiser.is_active
    assert ClusterOrganiser.objects.filter(user=world.organiser).exists()
    # The rest of the mail is still there, for its recipients; none to Anna can go out.
    assert OutboxMessage.objects.filter(recipient=bruno.email).exists()
    assert OutboxMessage.objects.filter(recipient=world.carla.email).exists()
    assert not OutboxMessage.objects.filter(
        recipient="erased@invalid.invalid", purged_at__isnull=True
    ).exists()


def test_erasure_leaves_nothing_that_names_the_person(
    world, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    laptop, phone = client_for(world.anna), client_for(world.anna)
    assert laptop.get("/me/").status_code == phone.get("/me/").status_code == 200
    before = counts(world)
    queued_to_anna = OutboxMessage.objects.filter(recipient=ANNA, status="queued").count()
    assert queued_to_anna and OutboxMessage.objects.filter(recipient=ANNA, status="sent").exists()
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.account_erase(user=world.anna)

    assert_erased_completely(world, mailoutbox)
    assert_others_intact(world, before)
    assert laptop.get("/me/").status_code == phone.get("/me/").status_code == 302
    # Carla was told that the match ended, without the name; Bruno that he has a seat.
    told = {message.to[0]: message for message in mailoutbox}
    assert "will not go ahead" in told[world.carla.email].body
    assert "a former member" in told[world.carla.email].body
    assert world.bruno.email in told
    assert ANNA not in told and OLD_ANNA not in told


def test_deleting_the_account_through_the_page_is_just_as_complete(
    world, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    before = counts(world)
    browser = client_for(world.anna)
    browser.get("/me/")
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/me/delete/", {"password": PASSWORD})

    assert response.status_code == 302
    assert browser.get("/me/").status_code == 302  # signed out
    assert_erased_completely(world, mailoutbox)
    assert_others_intact(world, before)


def test_erasure_is_all_or_nothing_even_for_the_outbox(world, monkeypatch):
    def disk_full(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "outbox_erase_person", disk_full)
    outbox_before = list(OutboxMessage.objects.order_by("pk").values())

    with pytest.raises(RuntimeError):
        services.account_erase(user=world.anna)

    anna = User.objects.get(pk=world.anna.pk)
    assert anna.is_active and anna.email == ANNA
    assert Profile.objects.filter(user=anna, display_name="Anna Keller").exists()
    assert Registration.objects.get(event=world.webinar, user=anna, session=None).status == (
        Registration.Status.CONFIRMED
    )
    assert StageRole.objects.filter(profile=world.profile).count() == 2
    assert list(OutboxMessage.objects.order_by("pk").values()) == outbox_before


def test_a_mentor_of_a_circle_leaves_no_name_on_the_circle_its_event_or_its_mail(
    cluster, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    anna = ProfileFactory(
        user=UserFactory(email=ANNA), display_name="Anna Keller",
        organisation=OrganisationFactory(clusters=[cluster]),
    ).user  # fmt: skip
    circles = ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES)
    ApplicationFactory(programme=circles, user=anna, role=Application.Role.MENTOR,
                       topics=[topic("Robotics")])  # fmt: skip
    mentee = ApplicationFactory(programme=circles, topics=[topic("Robotics")])
    mentoring.programme_match_run(programme=circles, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        mentoring.programme_publish(programme=circles, by=organiser)
    circle = Circle.objects.select_related("event").get(programme=circles)
    assert circle.name.startswith("Circle of Anna Keller")
    assert "anna-keller" in circle.event.slug
    match = Match.objects.get(mentee=mentee)
    with django_capture_on_commit_callbacks(execute=True):
        mentoring.match_respond(match=match, by=anna, accept=True)
        mentoring.match_respond(match=match, by=mentee.user, accept=True)
    assert mentions_in_database()
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.account_erase(user=anna)

    assert mentions_in_database() == []
    assert mentions_in_mail(mailoutbox) == []
    circle.refresh_from_db()
    circle.event.refresh_from_db()
    assert circle.name.startswith("Circle of a former member")
    assert circle.event.title.startswith("Circle of a former member")
    assert circle.event.slug.startswith("circle-of-a-former-member")
    assert Registration.objects.get(event=circle.event, user=mentee.user, session=None).status == (
        Registration.Status.CONFIRMED
    )
    assert tally.drift(connection) == {}


def test_a_speaker_on_an_upcoming_programme_can_erase_their_account(cluster, organiser, member):
    """The stage role keeps its place as "A former member" (it used to fail the database's
    rule that every stage role names someone)."""
    event = EventFactory(clusters=[cluster])
    authoring.stage_role_add(event=event, by=organiser, role=StageRole.Role.SPEAKER,
                             profile=member)  # fmt: skip

    services.account_erase(user=member.user)

    role = StageRole.objects.get(event=event)
    assert (role.profile, role.guest_name, role.guest_gender) == (None, "A former member", "")
    with pytest.raises(ValidationError):
        authoring.stage_role_add(event=event, by=organiser, role="speaker")


def test_mail_of_another_person_with_the_same_name_is_theirs_and_stays(member, colleague):
    namesake = ProfileFactory(display_name="anna keller").user
    theirs = email_enqueue(
        message=EmailMessage("Welcome, Anna Keller", "Hello Anna Keller,", to=[namesake.email])
    )
    about_member = email_enqueue(
        message=EmailMessage("Meet Anna Keller", "Say hello.", to=[colleague.user.email])
    )

    services.account_erase(user=member.user)

    theirs.refresh_from_db()
    about_member.refresh_from_db()
    assert (theirs.subject, theirs.body_text) == ("Welcome, Anna Keller", "Hello Anna Keller,")
    assert about_member.subject == "Meet a former member"
    assert Profile.objects.get(user=namesake).display_name == "anna keller"


def test_someone_checked_in_at_an_event_still_running_can_erase_their_account(cluster, member):
    """Attendance is history: it stays (anonymous) instead of failing the erasure."""
    now = timezone.now()
    event = EventFactory(clusters=[cluster], starts_at=now - timedelta(hours=1))
    Registration.objects.create(event=event, user=member.user, status="attended")

    services.account_erase(user=member.user)

    assert Registration.objects.get(event=event).status == Registration.Status.ATTENDED
    assert not User.objects.get(pk=member.user.pk).is_active
    assert tally.drift(connection) == {}
