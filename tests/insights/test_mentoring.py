"""Gender balance of mentoring programmes: figures, suppression, the cluster pipeline and
the organiser page.

A programme's figures are one release, drawn with noise once it has ended. These tests
check *what* is counted, with `exact_releases` (no noise, every release due at once): a
test states the raw counts it expects and compares with what `privacy.publish_released`
gives for exactly those (`expected`). Being drawn once, a release does not follow later
changes: a test sets everything up before the first look. The timing has its own test."""

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from insights.balance import BalanceFilter, balance_pipeline
from insights.mentoring import programme_balance
from insights.models import Release
from matchmaking.models import Application, Feedback, Match
from members import privacy
from members.models import StatisticsAccess
from tests.factories import ClusterOrganiserFactory, GenderIdentityFactory, ProfileFactory
from tests.insights.drawing import draw_quarter
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory

W, M, NB, SD, U = privacy.STATISTICS_CATEGORIES
MENTOR, MENTEE = Application.Role.MENTOR, Application.Role.MENTEE

pytestmark = pytest.mark.usefixtures("exact_releases")


@pytest.fixture(autouse=True)
def _k_is_five(settings):
    settings.PRIVACY_MIN_GROUP_SIZE = 5


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster], slug="women-in-leadership")


def applicant(programme, gender, *, role=MENTEE, consent=True, **fields) -> Application:
    application = ApplicationFactory(programme=programme, role=role, **fields)
    GenderIdentityFactory(user=application.user, gender=gender, statistics_consent=consent)
    return application


def match(mentor, mentee, status=Match.Status.ACTIVE) -> Match:
    return Match.objects.create(
        programme=mentee.programme, mentor=mentor, mentee=mentee, status=status
    )


def expected(k: int = 5, **raw: int) -> privacy.GenderCounts:
    """What the privacy rules publish of a release of exactly these raw counts: the page
    must show just that."""
    return privacy.publish_released(raw, sum(raw.values()), k=k)


def stages(programme) -> dict:
    return {s.key: s for s in programme_balance(programme=programme).stages}


# --- figures ---------------------------------------------------------------------------


@pytest.fixture
def hand_built(programme):
    """8 women mentees, 6 men mentors, 2 non-binary applicants still waiting; 5 pairs
    matched (3 completed), one declined pair."""
    mentees = [applicant(programme, W) for _ in range(8)]
    mentors = [applicant(programme, M, role=MENTOR) for _ in range(6)]
    for _ in range(2):
        applicant(programme, NB, status=Application.Status.SUBMITTED)
    statuses = [Match.Status.COMPLETED] * 3 + [Match.Status.ACTIVE, Match.Status.ACCEPTED]
    matches = [match(mentors[i], mentees[i], status) for i, status in enumerate(statuses)]
    match(mentors[5], mentees[5], Match.Status.DECLINED)
    return mentees, mentors, matches


def test_programme_figures_show_whole_numbers_and_hide_categories_below_k(programme, hand_built):
    figures = stages(programme)

    applicants = figures["applicants"].counts
    assert applicants == expected(woman=8, man=6, non_binary=2)  # 16 people
    assert applicants.cells == {W: 8, M: 6, NB: None, SD: None, U: None}
    assert applicants.total == 16  # the number of applications is not about gender
    assert applicants.cells[NB] is None  # two people
    assert figures["applicants"].share_of_women == applicants.share(W)

    assert figures["mentors"].counts == expected(man=6)
    assert figures["mentors"].counts.cells[W] is None  # no woman: fewer than k, hidden
    # Six people: the share comes from the released estimate, even though the women's
    # cell reads "< 5".
    assert figures["mentors"].share_of_women == 0.0
    assert figures["applicants"].share_of_women == pytest.approx(8 / 16)
    assert figures["mentees"].counts == expected(woman=8)
    assert figures["mentees"].share_of_women == expected(woman=8).share(W)

    # Five pairs: each side counts; the declined pair does not.
    assert figures["matched"].counts == expected(woman=5, man=5)
    assert figures["matched"].counts.cells == {W: 5, M: 5, NB: None, SD: None, U: None}
    assert figures["matched"].counts.total == 10
    assert figures["matched"].share_of_women == pytest.approx(0.5)


def test_a_stage_of_fewer_than_k_people_shows_nothing_at_all(programme, hand_built):
    completed = stages(programme)["completed"]  # three mentees

    assert completed.counts.total is None
    assert set(completed.counts.cells.values()) == {None}
    assert completed.share_of_women is None


def test_completed_counts_the_mentee_side_only(programme, hand_built):
    mentees, mentors, matches = hand_built
    for m in matches[3:]:
        m.status = Match.Status.COMPLETED
        m.save(update_fields=["status"])

    completed = stages(programme)["completed"].counts

    assert completed == expected(woman=5)  # five women mentees; their mentors are men


def test_satisfaction_is_shown_per_category_only_from_k_ratings(programme, hand_built):
    mentees, mentors, matches = hand_built
    for m, rating in zip(matches, [4, 5, 5, 4, 5], strict=True):
        Feedback.objects.create(match=m, author=m.mentee.user, rating=rating)
    for m in matches[:4]:
        Feedback.objects.create(match=m, author=m.mentor.user, rating=3)

    satisfaction = programme_balance(programme=programme).satisfaction.cells

    assert satisfaction[W] == 4.6  # to one decimal
    assert satisfaction[M] is None  # four ratings
    assert satisfaction[NB] is None


def test_satisfaction_of_k_ratings_is_shown(programme, hand_built):
    mentees, mentors, matches = hand_built
    for m, rating in zip(matches, [3, 3, 3, 3, 2], strict=True):
        Feedback.objects.create(match=m, author=m.mentor.user, rating=rating)

    satisfaction = programme_balance(programme=programme).satisfaction.cells

    assert satisfaction[M] == 2.8  # five ratings
    assert satisfaction[W] is None  # none


def test_unconsented_ratings_count_as_undisclosed(programme, hand_built):
    mentees, mentors, matches = hand_built
    for m in matches:
        Feedback.objects.create(match=m, author=m.mentee.user, rating=5)
        m.mentee.user.gender_identity.statistics_consent = False
        m.mentee.user.gender_identity.save(update_fields=["statistics_consent"])

    satisfaction = programme_balance(programme=programme).satisfaction.cells

    assert satisfaction[W] is None
    assert satisfaction[U] == 5.0


def test_withdrawing_consent_removes_the_person_from_the_figures(programme, cluster):
    """Consent withdrawn before the release: the person counts as undisclosed in it."""
    other = ProgrammeFactory(clusters=[cluster])
    for _ in range(5):
        applicant(other, W)
    assert stages(other)["mentees"].counts.cells[W] == 5

    mentees = [applicant(programme, W) for _ in range(5)]
    privacy.gender_set(user=mentees[0].user, gender=W, statistics_consent=False)

    mentees_now = stages(programme)["mentees"].counts
    assert mentees_now.cells[W] is None  # four
    assert mentees_now.cells[U] is None  # one: counted, but not by gender
    assert mentees_now.total == 5


def test_self_described_people_count_in_their_own_category(programme):
    for _ in range(5):
        application = ApplicationFactory(programme=programme)
        privacy.gender_set(
            user=application.user,
            gender=SD,
            self_description="Stargazer",
            statistics_consent=True,
        )

    assert stages(programme)["applicants"].counts.cells[SD] == 5


# --- the cluster pipeline --------------------------------------------------------------


def pipeline(**filters) -> dict:
    """The stages of the released quarter (the last ended one within the filter)."""
    return {key: (label, counts) for key, label, counts in balance_pipeline(
        filters=BalanceFilter(**filters)
    ).stages}  # fmt: skip


Q2_2026 = {"start": date(2026, 4, 1), "end": date(2026, 7, 1)}


def test_pipeline_ends_with_mentees_and_mentors_counting_people_once(cluster):
    spring = ProgrammeFactory(
        clusters=[cluster], starts_on=date(2026, 3, 1), ends_on=date(2026, 6, 30)
    )
    summer = ProgrammeFactory(  # overlaps the second quarter too
        clusters=[cluster], starts_on=date(2026, 6, 1), ends_on=date(2026, 9, 15)
    )
    women = [applicant(spring, W) for _ in range(5)]
    for application in women:  # the same five women, mentees in both programmes
        ApplicationFactory(programme=summer, user=application.user)
    for _ in range(5):
        applicant(summer, M, role=MENTOR)
    applicant(spring, M, role=MENTOR, status=Application.Status.SUBMITTED)
    draw_quarter(cluster, date(2026, 4, 1))

    released = balance_pipeline(filters=BalanceFilter(cluster=cluster, **Q2_2026))
    assert released.quarter == date(2026, 4, 1)
    stages = pipeline(cluster=cluster, **Q2_2026)

    assert list(stages)[-2:] == ["mentees", "mentors"]
    label, mentees = stages["mentees"]
    assert label == "Mentees"
    assert mentees.cells[W] == 5 and mentees.total == 5  # not 10
    assert stages["mentors"][1].cells[M] == 5  # the submitted mentor is not counted


def test_pipeline_mentoring_stages_follow_the_cluster_and_the_period(cluster, other_cluster):
    spring = ProgrammeFactory(
        clusters=[cluster], starts_on=date(2026, 3, 1), ends_on=date(2026, 6, 30)
    )
    elsewhere = ProgrammeFactory(
        clusters=[other_cluster], starts_on=date(2026, 3, 1), ends_on=date(2026, 6, 30)
    )
    for _ in range(5):
        applicant(spring, W)
        applicant(elsewhere, M)
    for quarter in (date(2025, 10, 1), date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)):
        draw_quarter(cluster, quarter)
    draw_quarter(other_cluster, date(2026, 4, 1))

    # The programme (March to June) overlaps the first and second quarters.
    in_q2 = pipeline(cluster=cluster, **Q2_2026)
    assert in_q2["mentees"][1] == expected(woman=5)
    assert pipeline(cluster=cluster, end=date(2026, 4, 1))["mentees"][1] == expected(woman=5)
    in_q3 = {"start": date(2026, 7, 1), "end": date(2026, 10, 1)}
    assert pipeline(cluster=cluster, **in_q3)["mentees"][1].total == 0
    assert pipeline(cluster=cluster, end=date(2026, 1, 1))["mentees"][1].total == 0
    assert pipeline(cluster=other_cluster, **Q2_2026)["mentees"][1] == expected(man=5)


# --- the organiser page ----------------------------------------------------------------


def balance_url(programme) -> str:
    return reverse("insights:programme", kwargs={"slug": programme.slug})


def test_members_and_other_clusters_organisers_get_404(
    client_for, programme, member, other_cluster
):
    other = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=other)

    assert client_for(member.user).get(balance_url(programme)).status_code == 404
    assert client_for(other).get(balance_url(programme)).status_code == 404
    assert not StatisticsAccess.objects.exists()


def test_anonymous_visitors_are_asked_to_sign_in(client_for, programme):
    response = client_for(None).get(balance_url(programme))

    assert response.status_code == 302


def test_every_view_of_the_page_is_logged(client_for, programme, organiser, cluster, staff):
    assert client_for(organiser).get(balance_url(programme)).status_code == 200
    assert client_for(staff).get(balance_url(programme)).status_code == 200

    logged = StatisticsAccess.objects.order_by("pk")
    assert [(a.user, a.view, a.cluster, a.filters) for a in logged] == [
        (organiser, "programme_balance", cluster, {"programme": "women-in-leadership"}),
        (staff, "programme_balance", cluster, {"programme": "women-in-leadership"}),
    ]


def test_the_page_shows_figures_hidden_cells_and_the_link_is_in_the_nav(
    client_for, programme, organiser, hand_built
):
    response = client_for(organiser).get(balance_url(programme))
    html = response.content.decode()

    assert "Approved mentees" in html and "Women" in html
    assert "&lt; 5" in html  # the non-binary applicants and the completed stage
    assert "<svg" in html  # the chart next to its table
    share = expected(woman=8, man=6, non_binary=2).share(W)  # of the applicants
    assert f"{share * 100:.0f} %" in html
    assert 'aria-current="page">Balance<' in html


def test_the_page_shows_no_self_description_and_no_persons_name(client_for, programme, organiser):
    names = []
    for i in range(5):
        profile = ProfileFactory(display_name=f"Quirinia Zebedee{i}")
        names.append(profile.display_name)
        application = ApplicationFactory(programme=programme, user=profile.user)
        privacy.gender_set(
            user=profile.user,
            gender=SD if i == 0 else W,
            self_description="Stargazer" if i == 0 else "",
            statistics_consent=True,
        )

    html = client_for(organiser).get(balance_url(programme)).content.decode()

    assert "Stargazer" not in html
    assert not re.search(r"\bwoman\b", html, re.IGNORECASE)
    assert "Zebedee" not in html and "Quirinia" not in html
    assert application.user.email not in html


def test_figures_take_two_queries_whatever_the_size(
    programme, hand_built, django_assert_num_queries
):
    programme_balance(programme=programme)  # the first look draws the release
    with django_assert_num_queries(2):
        programme_balance(programme=programme)


def test_a_programme_of_two_clusters_is_logged_in_each_clusters_log(
    client_for, programme, organiser, cluster, other_cluster
):
    programme.clusters.add(other_cluster)

    assert client_for(organiser).get(balance_url(programme)).status_code == 200

    logged = StatisticsAccess.objects.filter(view="programme_balance", user=organiser)
    assert {entry.cluster for entry in logged} == {cluster, other_cluster}


def test_the_page_before_the_programme_ends_shows_only_a_notice(
    client_for, programme, organiser, hand_built, settings
):
    """With the settings a deployment runs with (overriding `exact_releases`)."""
    settings.PRIVACY_NOISE_SIGMA = 3.3
    settings.PRIVACY_RELEASE_AFTER_HOURS = 48
    mentees, mentors, matches = hand_built
    for m in matches:
        Feedback.objects.create(match=m, author=m.mentee.user, rating=5)
    assert programme.ends_on > timezone.localdate() + timedelta(days=1)

    response = client_for(organiser).get(balance_url(programme))

    assert response.status_code == 200
    html = response.content.decode()
    assert "released once, after it ends on" in html
    assert "Approved mentees" not in html and 'id="h-stages"' not in html
    assert 'id="h-satisfaction"' not in html and "/ 5" not in html
    assert "<svg" not in html
    assert not Release.objects.exists()
    assert programme_balance(programme=programme).released is False
