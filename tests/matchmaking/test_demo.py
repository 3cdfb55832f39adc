import pytest
from django.db import transaction
from django.utils import timezone

from matchmaking import selectors
from matchmaking.demo import CIRCLES_SLUG, LEADERSHIP_SLUG
from matchmaking.demo import demo_seed as mentoring_demo_seed
from matchmaking.models import (
    Application,
    Circle,
    Feedback,
    Match,
    MatchingRun,
    MeetingLog,
    PairRule,
    Programme,
)
from members.demo import demo_seed as members_demo_seed
from members.models import GenderIdentity
from notifications.models import OutboxMessage

MODELS = (Programme, Application, PairRule, MatchingRun, Circle, Match, MeetingLog, Feedback)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The whole demo once for this module (the members demo alone takes seconds), in a
    transaction rolled back at the end; each test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        members_demo_seed()  # the events demo is left out: it takes longer, and nothing here
        # reads it (seed_demo runs it before this one)
        yield mentoring_demo_seed()
        transaction.set_rollback(True)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (*MODELS, OutboxMessage)}


@pytest.mark.django_db
def test_the_running_programme_looks_alive(seeded):
    programme = Programme.objects.get(slug=LEADERSHIP_SLUG)
    now = timezone.now()

    assert programme.status == Programme.Status.RUNNING
    assert programme.applications_close_at < now
    assert programme.starts_on < timezone.localdate() < programme.ends_on
    assert programme.allow_mentor_gender_preference
    assert list(programme.clusters.values_list("slug", flat=True)) == ["mechatronics"]
    statuses = selectors.match_counts_by_status(programme=programme)
    assert statuses.get(Match.Status.ACCEPTED, 0) > 0
    assert statuses.get(Match.Status.ACTIVE, 0) >= 10
    assert statuses.get(Match.Status.COMPLETED, 0) >= 3
    assert statuses.get(Match.Status.DECLINED, 0) == 2
    assert statuses.get(Match.Status.PROPOSED, 0) >= 2
    health = selectors.programme_health(programme=programme)
    assert health.satisfaction is not None
    assert health.awaiting_answer >= 2
    assert health.met_last_30_days > 0
    assert 20 <= health.mentors <= 30 and health.mentees >= 40
    # Every date lies in the past and after the pair's acceptance.
    for match in Match.objects.filter(programme=programme, published_at__isnull=False):
        assert match.published_at < now
        if match.status == Match.Status.PROPOSED:
            assert match.respond_by > now  # nobody's deadline has passed unnoticed
        if match.accepted_at:
            assert match.published_at < match.accepted_at < now
            for log in match.meetings.all():
                assert timezone.localdate(match.accepted_at) <= log.met_on <= timezone.localdate()
        if match.status == Match.Status.COMPLETED:
            assert match.accepted_at < match.ended_at < now
            assert match.feedback.count() == 2


@pytest.mark.django_db
def test_mentees_of_the_women_track_are_women_by_their_own_record(seeded):
    mentees = Application.objects.filter(
        programme__slug=LEADERSHIP_SLUG, role=Application.Role.MENTEE
    )
    assert mentees.exists()
    assert all(a.belongs_to_target_group for a in mentees)
    women = set(
        GenderIdentity.objects.filter(gender=GenderIdentity.Gender.WOMAN).values_list(
            "user_id", flat=True
        )
    )
    assert set(mentees.values_list("user_id", flat=True)) <= women


@pytest.mark.django_db
def test_the_demo_login_mentors_a_running_pair(seeded):
    lock = PairRule.objects.get(
        programme__slug=LEADERSHIP_SLUG, mentor__user__email="anna.keller@demo.example"
    )
    assert lock.kind == PairRule.Kind.LOCK
    match = Match.objects.get(mentor=lock.mentor, mentee=lock.mentee)
    assert match.status == Match.Status.ACTIVE
    assert match.meetings.count() >= 3
    assert match.goals and match.progress


@pytest.mark.django_db
def test_the_circles_programme_is_open_and_waits_for_its_matching(seeded):
    programme = Programme.objects.get(slug=CIRCLES_SLUG)
    now = timezone.now()

    assert programme.is_circles and programme.circle_size == 5
    assert programme.status == Programme.Status.OPEN
    assert programme.applications_open_at < now < programme.applications_close_at
    assert programme.applications_close_at - now > timezone.timedelta(weeks=2)
    apps = Application.objects.filter(programme=programme)
    approved = apps.filter(status=Application.Status.APPROVED)
    assert approved.filter(role=Application.Role.MENTOR).count() == 6
    assert approved.filter(role=Application.Role.MENTEE).count() >= 20
    assert apps.filter(status=Application.Status.SUBMITTED).count() >= 3
    assert not Match.objects.filter(programme=programme).exists()
    assert not MatchingRun.objects.filter(programme=programme).exists()


@pytest.mark.django_db
def test_a_second_run_changes_nothing_and_queues_no_mail(seeded):
    before = _counts()
    assert before["OutboxMessage"] > 0  # the first run's mail

    result = mentoring_demo_seed()

    assert _counts() == before
    assert "already up to date" in str(result)
    assert "created" in str(seeded)
