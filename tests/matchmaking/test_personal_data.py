"""What mentoring holds about a person: export, erasure, and the use of a mentor's gender."""

import pytest
from django.utils import timezone

from matchmaking import selectors, services
from matchmaking.explanations import render_all
from matchmaking.models import Application, Feedback, Match, MeetingLog
from members import privacy
from members import services as member_services
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster], title="Robotics mentoring")


@pytest.fixture
def running(programme, organiser, django_capture_on_commit_callbacks):
    mentor = ApplicationFactory(programme=programme, role=Application.Role.MENTOR,
                                topics=[topic("Robotics")])  # fmt: skip
    mentee = ApplicationFactory(programme=programme, topics=[topic("Robotics")],
                                goals="Lead my first team.")  # fmt: skip
    services.programme_match_run(programme=programme, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        services.programme_publish(programme=programme, by=organiser)
    match = Match.objects.get(programme=programme)
    services.match_respond(match=match, by=mentor.user, accept=True)
    services.match_respond(match=match, by=mentee.user, accept=True)
    services.match_update_goals(match=match, by=mentee.user, goals="Lead a team", progress="Half")
    services.meeting_log_add(match=match, by=mentee.user, met_on=timezone.localdate(),
                             notes="We spoke about delegation.")  # fmt: skip
    services.feedback_submit(match=match, by=mentee.user, rating=4, comment="Very helpful.")
    return Match.objects.get(pk=match.pk)


def test_export_holds_applications_matches_and_feedback(running):
    data = member_services.personal_data_export(user=running.mentee.user)["mentoring"]
    (application,) = data["applications"]
    assert application["programme"] == "Robotics mentoring"
    assert application["role"] == "mentee" and application["topics"] == ["Robotics"]
    assert application["goals"] == "Lead my first team."
    (match,) = data["matches"]
    assert match["role"] == "mentee" and match["status"] == Match.Status.ACTIVE
    assert match["goals"] == "Lead a team" and match["progress"] == "Half"
    assert match["meetings"][0]["notes"] == "We spoke about delegation."
    assert data["feedback"] == [
        {"programme": "Robotics mentoring", "rating": 4, "comment": "Very helpful."}
    ]
    mentor_data = member_services.personal_data_export(user=running.mentor.user)["mentoring"]
    assert [m["role"] for m in mentor_data["matches"]] == ["mentor"]
    assert mentor_data["feedback"] == []


def test_export_leaves_out_unpublished_proposals(programme, organiser):
    ApplicationFactory(programme=programme, role=Application.Role.MENTOR)
    mentee = ApplicationFactory(programme=programme)
    services.programme_match_run(programme=programme, by=organiser)
    data = member_services.personal_data_export(user=mentee.user)["mentoring"]
    assert len(data["applications"]) == 1 and data["matches"] == []


def test_erasure_withdraws_and_blanks_what_they_wrote(running, django_capture_on_commit_callbacks):
    mentee = running.mentee
    with django_capture_on_commit_callbacks(execute=True):
        member_services.account_erase(user=mentee.user)
    mentee.refresh_from_db()
    assert mentee.status == Application.Status.WITHDRAWN
    assert mentee.goals == "" and mentee.availability == ""
    running.refresh_from_db()
    assert running.status == Match.Status.ENDED_EARLY
    assert (running.goals, running.progress, running.reasons) == ("", "", [])
    assert MeetingLog.objects.get(match=running).notes == ""
    assert Feedback.objects.get(match=running).comment == ""
    # The counts stay for the programme's health figures.
    assert selectors.programme_health(programme=running.programme).ended_early == 1


# --- a mentor's gender -----------------------------------------------------------------


def gendered_mentor(programme, *, gender, consent):
    mentor = ApplicationFactory(
        programme=programme,
        role=Application.Role.MENTOR,
        topics=[topic("Robotics")],
        gender_may_be_matched=consent,
    )
    if gender:
        privacy.gender_set(user=mentor.user, gender=gender, statistics_consent=False)
    return mentor


@pytest.fixture
def gender_programme(cluster):
    return ProgrammeFactory(clusters=[cluster], allow_mentor_gender_preference=True)


def wants_a_woman(programme):
    return ApplicationFactory(programme=programme, topics=[topic("Robotics")],
                              preferred_mentor_gender="woman")  # fmt: skip


@pytest.mark.parametrize("woman_first", [True, False])
def test_a_stated_preference_picks_the_consenting_woman_when_otherwise_tied(
    gender_programme, organiser, woman_first
):
    if woman_first:
        woman = gendered_mentor(gender_programme, gender="woman", consent=True)
        other = gendered_mentor(gender_programme, gender="man", consent=True)
    else:
        other = gendered_mentor(gender_programme, gender="man", consent=True)
        woman = gendered_mentor(gender_programme, gender="woman", consent=True)
    mentee = wants_a_woman(gender_programme)
    services.programme_match_run(programme=gender_programme, by=organiser)
    match = Match.objects.get(mentee=mentee)
    assert match.mentor == woman and match.mentor != other
    # The reason never names the gender.
    reasons = render_all(match.reasons)
    assert not any("woman" in reason.lower() for reason in reasons)
    assert not any("preference" in reason.lower() for reason in reasons)


def scores_of(programme) -> list[int]:
    data = selectors.matching_input(programme=programme)
    return data.scorer.block(0, 1)[0].tolist()


def test_a_mentor_who_did_not_agree_is_scored_without_their_gender(gender_programme):
    gendered_mentor(gender_programme, gender="woman", consent=False)
    gendered_mentor(gender_programme, gender="", consent=False)
    gendered_mentor(gender_programme, gender="man", consent=True)
    wants_a_woman(gender_programme)
    non_consenting_woman, unknown, man = scores_of(gender_programme)
    assert non_consenting_woman == unknown == man


def test_gender_is_ignored_when_the_programme_does_not_allow_it(cluster):
    programme = ProgrammeFactory(clusters=[cluster], allow_mentor_gender_preference=False)
    gendered_mentor(programme, gender="woman", consent=True)
    gendered_mentor(programme, gender="man", consent=True)
    wants_a_woman(programme)
    woman, man = scores_of(programme)
    assert woman == man
    assert (selectors.matching_input(programme=programme).scorer.mentors.gender == -1).all()
