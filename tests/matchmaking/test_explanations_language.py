"""Why a match was made is worded in the reader's language, not the organiser's: a run
stores its explanations as data, and the mail, the match page and the organisers' pages
word them when they are shown."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from events import ical
from events.models import Event
from matchmaking import explanations, services
from matchmaking.models import Application, Match, MatchingRun, Programme
from members.models import Profile
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

pytestmark = pytest.mark.django_db

TOPICS = (
    "%(mentee)s wants to grow in %(topics)s; %(mentor)s mentors on it",
    "%(mentee)s wants to grow in %(topics)s; %(mentor)s mentors on them",
)
SENIORITY = "%(mentor_level)s mentor for an %(mentee_level)s mentee"
NAMES = {"mentee": "Fleur Martin", "topics": "Robotics", "mentor": "Italo Rossi"}


def translated(language: str, text: str) -> str:
    """A reason in `language`, computed the way the page words it."""
    with translation.override(language):
        return text()


def topic_reason() -> str:
    return ngettext(*TOPICS, 1) % NAMES


def seniority_reason() -> str:
    return gettext(SENIORITY) % {
        "mentor_level": gettext("senior").capitalize(),
        "mentee_level": gettext("early-career"),
    }


def speaks(application: Application, *, language: str, name: str) -> Application:
    Profile.objects.filter(user=application.user).update(
        preferred_language=language, display_name=name
    )
    return application


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster])


@pytest.fixture
def published(programme, organiser, django_capture_on_commit_callbacks):
    """A French-speaking mentee and an Italian-speaking mentor (both also speak English),
    matched and published by an organiser who works in German."""
    mentor = ApplicationFactory(
        programme=programme, role=Application.Role.MENTOR, topics=[topic("Robotics")]
    )
    mentee = ApplicationFactory(programme=programme, topics=[topic("Robotics")])
    speaks(mentor, language="it", name=NAMES["mentor"])
    speaks(mentee, language="fr", name=NAMES["mentee"])
    with translation.override("de"):
        services.programme_match_run(programme=programme, by=organiser)
        with django_capture_on_commit_callbacks(execute=True):
            services.programme_publish(programme=programme, by=organiser)
    return Match.objects.get(programme=programme)


def test_the_words_have_translations_to_tell_apart():
    for language in ("fr", "it", "de"):
        assert translated(language, topic_reason) != translated("en", topic_reason), language
    assert translated("fr", topic_reason) != translated("de", topic_reason)


def test_each_proposal_mail_gives_the_reasons_in_its_recipients_language(published, mailoutbox):
    mail_to = {message.to[0]: message for message in mailoutbox}
    to_mentee = mail_to[published.mentee.user.email]
    to_mentor = mail_to[published.mentor.user.email]
    html = to_mentee.alternatives[0][0]

    assert translated("fr", topic_reason) in to_mentee.body
    assert translated("fr", seniority_reason) in to_mentee.body
    assert translated("de", topic_reason) not in to_mentee.body
    assert translated("de", seniority_reason) not in to_mentee.body
    assert translated("fr", topic_reason).replace("'", "&#x27;") in html
    assert translated("it", topic_reason) in to_mentor.body
    assert translated("it", seniority_reason) in to_mentor.body
    assert translated("de", topic_reason) not in to_mentor.body


def test_the_match_page_words_the_reasons_and_rules_in_the_readers_language(published):
    client = Client()
    client.force_login(published.mentor.user)
    response = client.get(published.get_absolute_url())
    assert response.headers["Content-Language"] == "it"
    page = response.content.decode()
    assert translated("it", topic_reason) in page
    assert translated("it", seniority_reason) in page
    # The shared language is a code, named in the reader's language.
    both_speak = translated("it", lambda: gettext("Both speak %(languages)s"))
    assert both_speak % {"languages": translated("it", lambda: gettext("English"))} in page
    assert translated("de", topic_reason) not in page


def test_the_organisers_pages_word_the_run_in_their_own_language(published, organiser):
    Profile.objects.filter(user=organiser).update(preferred_language="fr")
    run = MatchingRun.objects.get(programme=published.programme)
    unplaced = explanations.gettext(
        "No mentor speaks %(languages)s.", languages=[{"language": "it", "name": "Italian"}]
    )
    run.unplaced = {str(published.mentee_id): unplaced}
    run.save(update_fields=["unplaced"])
    client = Client()
    client.force_login(organiser)
    url = reverse("matchmaking:programme_matching", args=[published.programme.slug])
    page = client.get(url).content.decode()
    assert translated("fr", topic_reason).replace("'", "&#x27;") in page
    no_mentor = translated("fr", lambda: gettext("No mentor speaks %(languages)s."))
    assert no_mentor % {"languages": translated("fr", lambda: gettext("Italian"))} in page


def test_rows_stored_as_text_before_still_show(programme, organiser):
    now = timezone.now()
    match = Match.objects.create(
        programme=programme,
        mentor=ApplicationFactory(programme=programme, role=Application.Role.MENTOR),
        mentee=ApplicationFactory(programme=programme),
        published_at=now,
        respond_by=now + timedelta(days=7),
        reasons=["Both care about leadership"],
        rules=["Both speak English", "Different organisations"],
    )
    run = MatchingRun.objects.create(
        programme=programme, created_by=organiser, unplaced={str(match.mentee_id): "Too late."}
    )
    client = Client()
    client.force_login(match.mentee.user)
    page = client.get(match.get_absolute_url()).content.decode()
    assert "Both care about leadership" in page and "Different organisations" in page
    client.force_login(organiser)
    page = client.get(
        reverse("matchmaking:programme_matching", args=[programme.slug])
    ).content.decode()
    assert run.unplaced[str(match.mentee_id)] in page


def test_why_a_match_ended_is_worded_for_the_reader_and_a_persons_words_kept(published):
    with translation.override("de"):
        services.match_respond(match=published, by=published.mentor.user, accept=False)
    published.refresh_from_db()
    assert published.end_reason == "Declined by the mentor."  # the msgid, not German text
    client = Client()
    client.force_login(published.mentee.user)
    page = client.get(published.get_absolute_url()).content.decode()
    assert translated("fr", lambda: gettext("Declined by the mentor.")) in page

    Match.objects.filter(pk=published.pk).update(end_reason="Ma mentore a déménagé.")
    page = client.get(published.get_absolute_url()).content.decode()
    assert "Ma mentore a déménagé." in page


def test_a_circles_meetings_read_online_in_each_readers_language(
    cluster, organiser, django_capture_on_commit_callbacks
):
    circles = ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES, circle_size=2)
    ApplicationFactory(programme=circles, role=Application.Role.MENTOR, topics=[topic("Robotics")])
    ApplicationFactory(programme=circles, topics=[topic("Robotics")])
    with translation.override("de"):
        services.programme_match_run(programme=circles, by=organiser)
        with django_capture_on_commit_callbacks(execute=True):
            services.programme_publish(programme=circles, by=organiser)
    event = Event.objects.get(kind=Event.Kind.MENTORING_CIRCLE)
    assert event.online_platform == "" and event.is_online
    assert Event.objects.filter(Event.online_q()).get() == event
    for language in ("fr", "it"):
        with translation.override(language):
            assert ical._location(event) == gettext("Online")
    assert translated("fr", lambda: ical._location(event)) == "En ligne"


def test_circle_events_made_before_keep_no_word_of_one_language(cluster):
    """The data migration: a circle event holding "En ligne" (its organiser's language)
    stores no platform afterwards; an ordinary event's platform is left as it is."""
    import importlib

    from django.apps import apps

    from events.models import Event
    from matchmaking.models import Circle, Programme
    from tests.events.factories import EventFactory
    from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory

    migration = importlib.import_module(
        "matchmaking.migrations.0006_circle_events_say_online_per_reader"
    )
    programme = ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES)
    circle_event = EventFactory(
        clusters=[cluster], kind=Event.Kind.MENTORING_CIRCLE, online_platform="En ligne"
    )
    Circle.objects.create(
        programme=programme,
        mentor=ApplicationFactory(programme=programme, role="mentor"),
        name="Circle",
        event=circle_event,
    )
    webinar = EventFactory(clusters=[cluster], online_platform="Online")

    migration.forget_the_stored_word(apps, None)

    circle_event.refresh_from_db()
    webinar.refresh_from_db()
    assert circle_event.online_platform == "" and circle_event.is_online
    assert webinar.online_platform == "Online"
