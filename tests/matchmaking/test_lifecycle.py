"""The relationship after both said yes: meetings, nudges, the end, feedback, health;
and mentoring circles from matching to their event series."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from events.models import Event, Registration
from matchmaking import selectors, services
from matchmaking.models import Application, Circle, Feedback, Match, MeetingLog, Programme
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster])


def pair(programme, organiser, capture, n=1):
    """Publish `n` matches and let both people accept them."""
    for _ in range(n):
        ApplicationFactory(programme=programme, role=Application.Role.MENTOR,
                           topics=[topic("Robotics")])  # fmt: skip
        ApplicationFactory(programme=programme, topics=[topic("Robotics")])
    services.programme_match_run(programme=programme, by=organiser)
    with capture(execute=True):
        services.programme_publish(programme=programme, by=organiser)
    matches = list(Match.objects.filter(programme=programme, status=Match.Status.PROPOSED))
    for match in matches:
        services.match_respond(match=match, by=match.mentor.user, accept=True)
        services.match_respond(match=match, by=match.mentee.user, accept=True)
    return [Match.objects.get(pk=m.pk) for m in matches]


@pytest.fixture
def accepted(programme, organiser, django_capture_on_commit_callbacks):
    match = pair(programme, organiser, django_capture_on_commit_callbacks)[0]
    assert match.status == Match.Status.ACCEPTED
    return match


# --- meetings --------------------------------------------------------------------------


def test_logging_a_meeting_makes_the_match_active(accepted):
    today = timezone.localdate()
    services.meeting_log_add(match=accepted, by=accepted.mentee.user, met_on=today,
                             notes="  Talked about the first project.  ")  # fmt: skip
    accepted.refresh_from_db()
    assert accepted.status == Match.Status.ACTIVE
    assert accepted.last_met_on == today
    assert MeetingLog.objects.get(match=accepted).notes == "Talked about the first project."
    # An earlier meeting logged later does not move last_met_on back.
    services.meeting_log_add(match=accepted, by=accepted.mentor.user, met_on=today)
    accepted.refresh_from_db()
    assert accepted.last_met_on == today


def test_meetings_cannot_be_in_the_future_or_logged_by_others(accepted, member):
    with pytest.raises(ValidationError) as excinfo:
        services.meeting_log_add(match=accepted, by=accepted.mentee.user,
                                 met_on=timezone.localdate() + timedelta(days=1))  # fmt: skip
    assert "met_on" in excinfo.value.message_dict
    with pytest.raises(PermissionDenied):
        services.meeting_log_add(match=accepted, by=member.user, met_on=timezone.localdate())
    assert not MeetingLog.objects.exists()
    accepted.refresh_from_db()
    assert accepted.status == Match.Status.ACCEPTED and accepted.last_met_on is None


def test_meetings_need_an_accepted_match(programme, organiser):
    ApplicationFactory(programme=programme, role=Application.Role.MENTOR)
    ApplicationFactory(programme=programme)
    services.programme_match_run(programme=programme, by=organiser)
    proposal = Match.objects.get(programme=programme)
    with pytest.raises(ValidationError):
        services.meeting_log_add(match=proposal, by=proposal.mentee.user,
                                 met_on=timezone.localdate())  # fmt: skip


# --- nudges ----------------------------------------------------------------------------


def test_quiet_pairs_are_nudged_once_per_period(accepted, django_capture_on_commit_callbacks):
    days = accepted.programme.nudge_after_days
    assert services.matches_nudge_due() == 0  # just accepted
    Match.objects.filter(pk=accepted.pk).update(
        accepted_at=timezone.now() - timedelta(days=days + 1)
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.matches_nudge_due() == 1
        assert services.matches_nudge_due() == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [accepted.mentor.user.email, accepted.mentee.user.email]
    )
    # A period later, still quiet: nudged again.
    Match.objects.filter(pk=accepted.pk).update(nudged_at=timezone.now() - timedelta(days=days + 1))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.matches_nudge_due() == 1
    assert len(mail.outbox) == 2


def test_pairs_who_met_recently_are_not_nudged(accepted):
    Match.objects.filter(pk=accepted.pk).update(accepted_at=timezone.now() - timedelta(days=90))
    services.meeting_log_add(match=accepted, by=accepted.mentee.user,
                             met_on=timezone.localdate() - timedelta(days=2))  # fmt: skip
    assert services.matches_nudge_due() == 0


# --- the end and feedback --------------------------------------------------------------


def test_ending_and_feedback(accepted, member, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationError):
        services.feedback_submit(match=accepted, by=accepted.mentee.user, rating=5)
    with pytest.raises(ValidationError) as excinfo:
        services.match_end(match=accepted, by=accepted.mentor.user, completed=False)
    assert "reason" in excinfo.value.message_dict
    with pytest.raises(PermissionDenied):
        services.match_end(match=accepted, by=member.user, completed=True)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ended = services.match_end(match=accepted, by=accepted.mentor.user, completed=False,
                                   reason="Moved abroad.")  # fmt: skip
    assert ended.status == Match.Status.ENDED_EARLY and ended.end_reason == "Moved abroad."
    assert len(mail.outbox) == 2  # feedback requested from both
    with pytest.raises(ValidationError):
        services.match_end(match=accepted, by=accepted.mentor.user, completed=True)
    for rating in (0, 6, "5", 4.5, True):
        with pytest.raises(ValidationError):
            services.feedback_submit(match=ended, by=accepted.mentee.user, rating=rating)
    with pytest.raises(PermissionDenied):
        services.feedback_submit(match=ended, by=member.user, rating=3)
    services.feedback_submit(match=ended, by=accepted.mentee.user, rating=1, comment=" Meh ")
    services.feedback_submit(match=ended, by=accepted.mentee.user, rating=5)
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.comment) == (5, "")


def test_an_organiser_may_end_a_match(accepted, organiser):
    ended = services.match_end(match=accepted, by=organiser, completed=True)
    assert ended.status == Match.Status.COMPLETED


def test_programme_health_counts_and_hides_satisfaction_below_k(
    programme, organiser, settings, django_capture_on_commit_callbacks
):
    settings.PRIVACY_MIN_GROUP_SIZE = 3
    matches = pair(programme, organiser, django_capture_on_commit_callbacks, n=3)
    ApplicationFactory(programme=programme, status=Application.Status.SUBMITTED)
    today = timezone.localdate()
    services.meeting_log_add(match=matches[0], by=matches[0].mentee.user, met_on=today)
    services.match_end(match=matches[1], by=organiser, completed=True)
    services.match_end(match=matches[2], by=organiser, completed=False, reason="No time.")
    services.feedback_submit(match=matches[1], by=matches[1].mentee.user, rating=4)
    services.feedback_submit(match=matches[1], by=matches[1].mentor.user, rating=5)
    health = selectors.programme_health(programme=programme)
    assert (health.applicants, health.mentors, health.mentees) == (7, 3, 3)
    assert (health.matched, health.active, health.completed, health.ended_early) == (2, 1, 1, 1)
    assert health.met_last_30_days == 1 and health.awaiting_answer == 0
    assert health.ratings == 2 and health.satisfaction is None
    services.feedback_submit(match=matches[2], by=matches[2].mentee.user, rating=3)
    health = selectors.programme_health(programme=programme)
    assert health.ratings == 3 and health.satisfaction == 4.0


# --- circles ---------------------------------------------------------------------------


@pytest.fixture
def circles(cluster):
    return ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES, circle_size=2)


def test_circles_group_mentees_by_language_and_size(
    circles, organiser, django_capture_on_commit_callbacks
):
    en, de = language("en"), language("de")
    ApplicationFactory(programme=circles, role=Application.Role.MENTOR, languages=[en, de],
                       topics=[topic("Robotics")])  # fmt: skip
    ApplicationFactory(programme=circles, role=Application.Role.MENTOR, languages=[en],
                       topics=[topic("Robotics")])  # fmt: skip
    mentees = [ApplicationFactory(programme=circles, languages=[de], topics=[topic("Robotics")])
               for _ in range(2)]  # fmt: skip
    mentees += [ApplicationFactory(programme=circles, languages=[en], topics=[topic("Robotics")])
                for _ in range(3)]  # fmt: skip
    run = services.programme_match_run(programme=circles, by=organiser)
    assert run.placed == 4
    made = list(Circle.objects.filter(programme=circles))
    assert len(made) == 2
    for circle in made:
        members = Match.objects.filter(circle=circle)
        assert 1 <= members.count() <= circles.circle_size
        for match in members:
            assert match.mentor == circle.mentor
            assert match.mentee.languages.filter(pk=circle.language_id).exists()
            assert circle.mentor.languages.filter(pk=circle.language_id).exists()
    assert Match.objects.filter(circle__isnull=True).count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        services.programme_publish(programme=circles, by=organiser)
    events = Event.objects.filter(kind=Event.Kind.MENTORING_CIRCLE)
    assert events.count() == 2
    for circle in Circle.objects.filter(programme=circles).select_related("event"):
        assert circle.event is not None
        sessions = circle.event.sessions.order_by("starts_at")
        assert sessions.count() >= 2
        gaps = {b.starts_at - a.starts_at for a, b in zip(sessions, sessions[1:], strict=False)}
        assert all(gap in (timedelta(weeks=4), timedelta(weeks=4, hours=1),
                           timedelta(weeks=4, hours=-1)) for gap in gaps)  # fmt: skip

    match = Match.objects.filter(circle__isnull=False).select_related("circle").first()
    services.match_respond(match=match, by=match.mentor.user, accept=True)
    services.match_respond(match=match, by=match.mentee.user, accept=True)
    for user in (match.mentor.user, match.mentee.user):
        assert Registration.objects.filter(
            event=match.circle.event, user=user, status=Registration.Status.CONFIRMED
        ).exists()
    # A re-run keeps the published circles' events.
    services.programme_match_run(programme=circles, by=organiser)
    assert Event.objects.filter(kind=Event.Kind.MENTORING_CIRCLE).count() == 2


def test_a_mentee_joining_a_published_circle_is_invited_and_registered(
    circles, organiser, django_capture_on_commit_callbacks
):
    ApplicationFactory(programme=circles, role=Application.Role.MENTOR, topics=[topic("Robotics")])
    ApplicationFactory(programme=circles, topics=[topic("Robotics")])
    services.programme_match_run(programme=circles, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        services.programme_publish(programme=circles, by=organiser)
    late = ApplicationFactory(programme=circles, topics=[topic("Robotics")])
    services.programme_match_run(programme=circles, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.programme_publish(programme=circles, by=organiser) == 1
    match = Match.objects.select_related("circle").get(mentee=late)
    assert Circle.objects.filter(programme=circles).count() == 1
    services.match_respond(match=match, by=match.mentor.user, accept=True)
    services.match_respond(match=match, by=late.user, accept=True)
    assert Registration.objects.filter(
        event=match.circle.event, user=late.user, status=Registration.Status.CONFIRMED
    ).exists()


def test_a_pair_that_ended_early_is_not_made_again(programme, organiser, accepted):
    other = ApplicationFactory(programme=programme, role=Application.Role.MENTOR,
                               topics=[topic("Welding")])  # fmt: skip
    services.match_end(match=accepted, by=accepted.mentee.user, completed=False,
                       reason="We did not get along.")  # fmt: skip
    run = services.programme_match_run(programme=programme, by=organiser)
    assert run.placed == 1
    proposal = Match.objects.get(programme=programme, status=Match.Status.PROPOSED)
    assert (proposal.mentee, proposal.mentor) == (accepted.mentee, other)


def test_completing_the_programme_completes_running_matches(
    programme, organiser, accepted, django_capture_on_commit_callbacks
):
    programme.refresh_from_db()
    assert programme.status == Programme.Status.RUNNING
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.programme_set_status(
            programme=programme, by=organiser, status=Programme.Status.COMPLETED
        )
    accepted.refresh_from_db()
    assert accepted.status == Match.Status.COMPLETED and accepted.ended_at is not None
    assert len(mail.outbox) == 2  # both asked for feedback
    services.feedback_submit(match=accepted, by=accepted.mentor.user, rating=5)
    assert services.matches_nudge_due() == 0


def test_withdrawing_from_a_circle_leaves_its_event(
    circles, organiser, django_capture_on_commit_callbacks
):
    ApplicationFactory(programme=circles, role=Application.Role.MENTOR, topics=[topic("Robotics")])
    mentee = ApplicationFactory(programme=circles, topics=[topic("Robotics")])
    services.programme_match_run(programme=circles, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        services.programme_publish(programme=circles, by=organiser)
    match = Match.objects.select_related("circle").get(mentee=mentee)
    services.match_respond(match=match, by=match.mentor.user, accept=True)
    services.match_respond(match=match, by=mentee.user, accept=True)
    services.application_withdraw(application=mentee, by=mentee.user)
    registrations = Registration.objects.filter(event=match.circle.event, session__isnull=True)
    assert registrations.get(user=mentee.user).status == Registration.Status.CANCELLED
    assert registrations.get(user=match.mentor.user).status == Registration.Status.CONFIRMED


def test_a_circle_membership_ended_early_leaves_the_circles_meetings(
    circles, organiser, django_capture_on_commit_callbacks
):
    ApplicationFactory(programme=circles, role=Application.Role.MENTOR, topics=[topic("Robotics")])
    mentee = ApplicationFactory(programme=circles, topics=[topic("Robotics")])
    services.programme_match_run(programme=circles, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        services.programme_publish(programme=circles, by=organiser)
    match = Match.objects.select_related("circle").get(mentee=mentee)
    services.match_respond(match=match, by=match.mentor.user, accept=True)
    services.match_respond(match=match, by=mentee.user, accept=True)

    services.match_end(match=match, by=mentee.user, completed=False, reason="New job abroad.")

    registrations = Registration.objects.filter(event=match.circle.event, session__isnull=True)
    assert registrations.get(user=mentee.user).status == Registration.Status.CANCELLED
    assert registrations.get(user=match.mentor.user).status == Registration.Status.CONFIRMED


def test_the_tend_mentoring_command_declines_overdue_proposals_once(programme, organiser):
    ApplicationFactory(programme=programme, role=Application.Role.MENTOR,
                       topics=[topic("Robotics")])  # fmt: skip
    ApplicationFactory(programme=programme, topics=[topic("Robotics")])
    services.programme_match_run(programme=programme, by=organiser)
    services.programme_publish(programme=programme, by=organiser)
    Match.objects.update(respond_by=timezone.now() - timedelta(minutes=1))
    out = StringIO()

    call_command("tend_mentoring", stdout=out)
    call_command("tend_mentoring", stdout=out)

    assert Match.objects.get().status == Match.Status.DECLINED
    assert "Declined 1 overdue proposal(s)" in out.getvalue()
    assert "Declined 0 overdue proposal(s)" in out.getvalue()
