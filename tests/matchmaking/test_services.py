"""Services: who may run matching, what a run stores, publishing, answers, applications."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from matchmaking import services
from matchmaking.explanations import render, render_all
from matchmaking.models import Application, Match, MatchingRun, PairRule, Programme
from tests.factories import ClusterOrganiserFactory, ProfileFactory, UserFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster])


def mentor(programme, *, topics=("Robotics",), capacity=1, **kwargs):
    return ApplicationFactory(
        programme=programme, role=Application.Role.MENTOR, capacity=capacity,
        topics=[topic(t) for t in topics], **kwargs,
    )  # fmt: skip


def mentee(programme, *, topics=("Robotics",), **kwargs):
    return ApplicationFactory(
        programme=programme, role=Application.Role.MENTEE, topics=[topic(t) for t in topics],
        **kwargs,
    )  # fmt: skip


def live(programme):
    return Match.objects.filter(programme=programme, status__in=Match.LIVE_STATUSES)


def pairs(programme) -> set[tuple[int, int]]:
    return set(live(programme).values_list("mentee_id", "mentor_id"))


# --- who may ---------------------------------------------------------------------------


def test_only_the_programmes_organisers_or_staff_manage_it(
    programme, organiser, member, staff, other_cluster
):
    m, e = mentor(programme), mentee(programme)
    other_organiser = UserFactory()
    ClusterOrganiserFactory(cluster=other_cluster, user=other_organiser)
    for user in (member.user, other_organiser):
        with pytest.raises(PermissionDenied):
            services.programme_match_run(programme=programme, by=user)
        with pytest.raises(PermissionDenied):
            services.pair_rule_set(programme=programme, by=user, mentor=m, mentee=e,
                                   kind=PairRule.Kind.LOCK)  # fmt: skip
        with pytest.raises(PermissionDenied):
            services.pair_rule_set(programme=programme, by=user, mentor=m, mentee=e,
                                   kind=PairRule.Kind.FORBID)  # fmt: skip
        with pytest.raises(PermissionDenied):
            services.programme_publish(programme=programme, by=user)
    assert not MatchingRun.objects.exists() and not PairRule.objects.exists()
    services.programme_match_run(programme=programme, by=organiser)
    services.programme_match_run(programme=programme, by=staff)
    assert services.programme_publish(programme=programme, by=staff) == 1


# --- a run -----------------------------------------------------------------------------


def test_a_run_stores_reasons_rules_and_unplaced_reasons(programme, organiser):
    m = mentor(programme, topics=["Robotics", "Welding"])
    e = mentee(programme, topics=["Welding"])
    french = mentee(programme, languages=[language("fr")])
    run = services.programme_match_run(programme=programme, by=organiser)
    assert run.placed == 1 and run.mentees == 2 and run.mentors == 1
    assert run.certified and run.gap == 0
    match = Match.objects.get(programme=programme)
    assert (match.mentor, match.mentee) == (m, e)
    assert match.status == Match.Status.PROPOSED and match.published_at is None
    reasons, rules = render_all(match.reasons), render_all(match.rules)
    assert any("Welding" in reason for reason in reasons)
    assert not any("Robotics" in reason for reason in reasons)
    assert "Both speak English" in rules
    assert set(run.unplaced) == {str(french.pk)}
    assert render(run.unplaced[str(french.pk)]).startswith("No mentor speaks French")
    # A run is a preview: the programme stays open for applications.
    programme.refresh_from_db()
    assert programme.status == Programme.Status.OPEN and programme.accepts_applications


def test_rerun_keeps_locks_and_never_proposes_forbidden_pairs(programme, organiser):
    good = mentor(programme, topics=["Robotics"])
    weak = mentor(programme, topics=["Welding"])
    a = mentee(programme, topics=["Robotics"])
    b = mentee(programme, topics=["Robotics"])
    services.pair_rule_set(programme=programme, by=organiser, mentor=weak, mentee=a,
                           kind=PairRule.Kind.LOCK)  # fmt: skip
    services.pair_rule_set(programme=programme, by=organiser, mentor=good, mentee=b,
                           kind=PairRule.Kind.FORBID)  # fmt: skip
    for _ in range(2):
        run = services.programme_match_run(programme=programme, by=organiser)
        # a keeps the weaker locked mentor; b may not have the free one.
        assert pairs(programme) == {(a.pk, weak.pk)}
        assert "full" in render(run.unplaced[str(b.pk)])
        locked = Match.objects.get(mentee=a)
        assert "Locked by the organisers" in render_all(locked.rules)
    # Forbidding a proposed pair removes the unpublished proposal at once.
    services.pair_rule_set(programme=programme, by=organiser, mentor=weak, mentee=a,
                           kind=PairRule.Kind.FORBID)  # fmt: skip
    assert not live(programme).filter(mentee=a, mentor=weak).exists()
    services.programme_match_run(programme=programme, by=organiser)
    assert (a.pk, weak.pk) not in pairs(programme) and (b.pk, good.pk) not in pairs(programme)


def test_avoided_person_is_never_proposed(programme, organiser):
    liked, avoided = mentor(programme), mentor(programme, topics=["Robotics", "Welding"])
    e = mentee(programme, topics=["Robotics", "Welding"], avoid=[avoided.user])
    services.programme_match_run(programme=programme, by=organiser)
    assert pairs(programme) == {(e.pk, liked.pk)}


# --- publishing and answers ------------------------------------------------------------


@pytest.fixture
def published(programme, organiser, django_capture_on_commit_callbacks):
    m, e = mentor(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        services.programme_publish(programme=programme, by=organiser)
    return Match.objects.get(programme=programme, mentor=m, mentee=e)


def test_publish_sets_the_deadline_and_tells_both(programme, organiser, published):
    assert published.published_at is not None
    expected = published.published_at + timedelta(days=programme.acceptance_days)
    assert published.respond_by == expected
    assert abs(published.published_at - timezone.now()) < timedelta(minutes=1)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [published.mentor.user.email, published.mentee.user.email]
    )
    assert MatchingRun.objects.get(programme=programme).published_at is not None
    programme.refresh_from_db()
    assert programme.status == Programme.Status.RUNNING
    with pytest.raises(ValidationError):
        services.programme_publish(programme=programme, by=organiser)


def test_both_accept(published, django_capture_on_commit_callbacks):
    match = services.match_respond(match=published, by=published.mentor.user, accept=True)
    assert match.status == Match.Status.PROPOSED
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        match = services.match_respond(match=published, by=published.mentee.user, accept=True)
    assert match.status == Match.Status.ACCEPTED and match.accepted_at is not None
    assert len(mail.outbox) == 2
    with pytest.raises(ValidationError):
        services.match_respond(match=published, by=published.mentee.user, accept=False)


def test_a_third_person_cannot_answer(published, member):
    with pytest.raises(PermissionDenied):
        services.match_respond(match=published, by=member.user, accept=True)


def test_decline_frees_the_place_and_a_rerun_finds_another_mentor(programme, organiser, published):
    other = mentor(programme)
    declined = services.match_respond(match=published, by=published.mentee.user, accept=False)
    assert declined.status == Match.Status.DECLINED and declined.ended_at is not None
    # Both the mentor's place and the mentee are free again; the pair is never re-made.
    run = services.programme_match_run(programme=programme, by=organiser)
    assert run.placed == 1
    proposal = Match.objects.get(programme=programme, status=Match.Status.PROPOSED)
    assert proposal.mentee == published.mentee and proposal.mentor == other
    # The declined mentor can take a new mentee.
    newcomer = mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    assert (newcomer.pk, published.mentor.pk) in pairs(programme)
    assert (published.mentee.pk, published.mentor.pk) not in pairs(programme)


def test_overdue_proposals_expire_once(published, django_capture_on_commit_callbacks):
    Match.objects.filter(pk=published.pk).update(respond_by=timezone.now() - timedelta(hours=1))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.matches_expire_overdue() == 1
        assert services.matches_expire_overdue() == 0
    published.refresh_from_db()
    assert published.status == Match.Status.DECLINED
    assert len(mail.outbox) == 2
    with pytest.raises(ValidationError):
        services.match_respond(match=published, by=published.mentee.user, accept=True)


def test_answers_after_the_deadline_are_refused(published):
    Match.objects.filter(pk=published.pk).update(respond_by=timezone.now() - timedelta(hours=1))
    with pytest.raises(ValidationError):
        services.match_respond(match=published, by=published.mentee.user, accept=True)


def test_tasks_call_the_services(published):
    from matchmaking import tasks

    Match.objects.filter(pk=published.pk).update(respond_by=timezone.now() - timedelta(hours=1))
    assert tasks.matches_expire_overdue_task() == 1
    assert tasks.matches_nudge_due_task() == 0


# --- applications ----------------------------------------------------------------------


def submit(programme, user, **overrides):
    kwargs = {
        "programme": programme,
        "user": user,
        "role": Application.Role.MENTEE,
        "fields": {"goals": "Learn to lead a team."},
        "topics": [topic("Robotics")],
        "languages": [language("en")],
    }
    fields = overrides.pop("fields", {})
    kwargs["fields"] = {**kwargs["fields"], **fields}
    kwargs.update(overrides)
    return services.application_submit(**kwargs)


def errors_of(excinfo) -> str:
    error = excinfo.value
    if hasattr(error, "message_dict"):
        return " ".join(" ".join(v) for v in error.message_dict.values())
    return " ".join(error.messages)


def test_application_submit_saves_a_valid_application(programme, member):
    application = submit(programme, member.user)
    assert application.status == Application.Status.SUBMITTED
    assert list(application.topics.all()) == [topic("Robotics")]
    assert application.organisation == member.organisation


def test_application_refused_when_the_window_is_closed(programme, member):
    Programme.objects.filter(pk=programme.pk).update(
        applications_close_at=timezone.now() - timedelta(hours=1)
    )
    programme.refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        submit(programme, member.user)
    assert "not open" in errors_of(excinfo)
    assert not Application.objects.exists()


def test_application_refused_to_non_members(programme, outsider):
    with pytest.raises(PermissionDenied):
        submit(programme, outsider.user)
    assert not Application.objects.exists()


def test_application_requires_the_target_group_confirmation(programme, member):
    programme.mentee_eligibility = Programme.Eligibility.TARGET_GROUP
    programme.mentee_target_group = "Women in engineering"
    programme.save()
    with pytest.raises(ValidationError) as excinfo:
        submit(programme, member.user)
    assert "belongs_to_target_group" in excinfo.value.message_dict
    assert "Women in engineering" in errors_of(excinfo)
    assert not Application.objects.exists()
    submit(programme, member.user, fields={"belongs_to_target_group": True})


def test_application_requires_topics_and_no_gender_wish_unless_allowed(programme, member):
    with pytest.raises(ValidationError) as excinfo:
        submit(programme, member.user, topics=[], fields={"preferred_mentor_gender": "woman"})
    assert set(excinfo.value.message_dict) >= {"topics", "preferred_mentor_gender"}
    assert "does not match on a preferred mentor gender" in errors_of(excinfo)
    assert not Application.objects.exists()
    programme.allow_mentor_gender_preference = True
    programme.save()
    application = submit(programme, member.user, fields={"preferred_mentor_gender": "woman"})
    assert application.preferred_mentor_gender == "woman"


def test_a_second_application_is_refused(programme, member):
    submit(programme, member.user)
    with pytest.raises(ValidationError):
        submit(programme, member.user, role=Application.Role.MENTOR)
    assert Application.objects.count() == 1


def test_withdraw_ends_a_published_match_and_tells_the_partner(
    published, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.application_withdraw(application=published.mentee, by=published.mentee.user)
    published.refresh_from_db()
    assert published.status == Match.Status.DECLINED
    assert published.mentor.user.email in [m.to[0] for m in mail.outbox]
    published.mentee.refresh_from_db()
    assert published.mentee.status == Application.Status.WITHDRAWN


def test_withdraw_by_someone_else_is_refused(published, member):
    with pytest.raises(PermissionDenied):
        services.application_withdraw(application=published.mentee, by=member.user)


def test_withdraw_removes_unpublished_proposals(programme, organiser):
    m, e = mentor(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    services.application_withdraw(application=m, by=m.user)
    assert not Match.objects.filter(mentee=e).exists()


def test_a_person_of_no_member_organisation_cannot_apply(programme, cluster):
    # Membership comes from the organisation; a person without one is no member.
    loner = ProfileFactory()
    with pytest.raises(PermissionDenied):
        submit(programme, loner.user)


def test_rerun_after_publishing_keeps_published_matches_and_their_places(
    programme, organiser, published
):
    spare = mentor(programme)
    newcomers = [mentee(programme), mentee(programme)]
    run = services.programme_match_run(programme=programme, by=organiser)
    assert run.mentees == 2 and run.placed == 1  # the published mentor is full
    published.refresh_from_db()
    assert published.status == Match.Status.PROPOSED and published.published_at is not None
    proposal = Match.objects.get(programme=programme, published_at__isnull=True)
    assert proposal.mentor == spare and proposal.mentee in newcomers
    (unplaced,) = run.unplaced.values()
    assert "full" in render(unplaced)


def test_a_locked_pair_without_a_shared_language_claims_no_shared_language(programme, organiser):
    m = mentor(programme, languages=[language("de")])
    e = mentee(programme)
    services.pair_rule_set(programme=programme, by=organiser, mentor=m, mentee=e,
                           kind=PairRule.Kind.LOCK)  # fmt: skip
    services.programme_match_run(programme=programme, by=organiser)
    match = Match.objects.get(programme=programme)
    assert (match.mentor, match.mentee) == (m, e)
    rules = render_all(match.rules)
    assert not any(rule.startswith("Both speak") for rule in rules)
    assert "Locked by the organisers" in rules


def _programme_fields() -> dict:
    now = timezone.now()
    return {
        "title": "Cross-border mentoring",
        "applications_open_at": now,
        "applications_close_at": now + timedelta(days=20),
        "starts_on": (now + timedelta(days=30)).date(),
        "ends_on": (now + timedelta(days=200)).date(),
    }


def test_a_programme_is_co_organised_but_never_taken_from_the_other_cluster(
    cluster, other_cluster, organiser
):
    programme = services.programme_create(
        by=organiser, fields=_programme_fields(), clusters=[cluster, other_cluster]
    )
    assert set(programme.clusters.all()) == {cluster, other_cluster}
    other_organiser = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=other_organiser)

    # The co-organiser edits the programme, but cannot drop the first cluster.
    services.programme_update(
        programme=programme, by=other_organiser, changes={"summary": "Both clusters."}
    )
    with pytest.raises(ValidationError, match="only remove clusters that you organise"):
        services.programme_update(
            programme=programme, by=other_organiser, changes={}, clusters=[other_cluster]
        )
    assert set(programme.clusters.all()) == {cluster, other_cluster}


def test_a_programme_needs_one_cluster_its_creator_organises(other_cluster, organiser):
    with pytest.raises(ValidationError, match="one that you organise"):
        services.programme_create(
            by=organiser, fields=_programme_fields(), clusters=[other_cluster]
        )
    assert not Programme.objects.exists()
