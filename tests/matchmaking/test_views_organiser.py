"""The organisers' mentoring pages: access, authoring, review, matching, publication,
privacy of what they show, and query counts that do not grow with the programme."""

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from matchmaking import services
from matchmaking.explanations import render_all
from matchmaking.models import Application, Match, PairRule, Programme
from tests.factories import ClusterOrganiserFactory, OrganisationFactory, ProfileFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic

pytestmark = pytest.mark.django_db
Role = Application.Role


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster], title="Women in Leadership 2027")


def mentor(programme, name="", **kwargs):
    kwargs.setdefault("topics", [topic("Robotics")])
    application = ApplicationFactory(programme=programme, role=Role.MENTOR, **kwargs)
    if name:
        application.user.profile.display_name = name
        application.user.profile.save(update_fields=["display_name"])
    return application


def mentee(programme, name="", **kwargs):
    kwargs.setdefault("topics", [topic("Robotics")])
    application = ApplicationFactory(programme=programme, role=Role.MENTEE, **kwargs)
    if name:
        application.user.profile.display_name = name
        application.user.profile.save(update_fields=["display_name"])
    return application


def url(name, programme=None, *args):
    if programme is None:
        return reverse(f"matchmaking:{name}")
    return reverse(f"matchmaking:{name}", args=[programme.slug, *args])


def live_pairs(programme) -> set[tuple[int, int]]:
    return set(
        Match.objects.filter(programme=programme, status__in=Match.LIVE_STATUSES).values_list(
            "mentor_id", "mentee_id"
        )
    )


def _programme_form(cluster, **changes):
    data = {
        "title": "Digital skills mentoring",
        "summary": "Grow your digital skills.",
        "description": "",
        "clusters": [cluster.pk],
        "format": "one_to_one",
        "circle_size": 6,
        "circle_meeting_weeks": 4,
        "timezone": "Europe/Vienna",
        "applications_open_at": "2027-03-01T09:00",
        "applications_close_at": "2027-03-31T18:00",
        "starts_on": "2027-04-15",
        "ends_on": "2027-12-15",
        "mentee_eligibility": "members",
        "mentee_target_group": "",
        "mentor_eligibility": "members",
        "mentor_target_group": "",
        "weight_topics": 40,
        "weight_relevance": 20,
        "weight_seniority": 15,
        "weight_place": 15,
        "weight_preferences": 10,
        "acceptance_days": 14,
        "nudge_after_days": 30,
    }
    data.update(changes)
    return data


# --- access ----------------------------------------------------------------------------


def _every_manage_page(programme, match):
    gets = [
        url("programme_manage", programme),
        url("programme_edit", programme),
        url("programme_applications", programme),
        url("programme_matching", programme),
        url("organiser_match_end", programme, match.pk),
    ]
    posts = [
        (url("programme_edit", programme), {"title": "Taken over"}),
        (url("programme_status", programme), {"status": "matching"}),
        (url("application_review", programme, match.mentee_id), {"decision": "reject"}),
        (url("applications_approve_submitted", programme), {}),
        (url("matching_run", programme), {}),
        (url("matching_publish", programme), {}),
        (
            url("pair_rule_set", programme),
            {"mentor": match.mentor_id, "mentee": match.mentee_id, "kind": "forbid"},
        ),
        (url("organiser_match_end", programme, match.pk), {"reason": "Because."}),
    ]
    return gets, posts


@pytest.mark.parametrize("who", ["member", "other_organiser"])
def test_people_who_do_not_manage_the_programme_get_404_everywhere(
    who, client_for, programme, member, other_cluster, organiser
):
    a_mentor, a_mentee = mentor(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    match = Match.objects.get(programme=programme)
    rule = services.pair_rule_set(
        programme=programme, by=organiser, mentor=a_mentor, mentee=a_mentee, kind="lock"
    )
    if who == "member":
        user = member.user
    else:
        user = ProfileFactory().user
        ClusterOrganiserFactory(cluster=other_cluster, user=user)
    client = client_for(user)
    gets, posts = _every_manage_page(programme, match)
    for page in gets:
        assert client.get(page).status_code == 404, page
    for page, data in posts:
        assert client.post(page, data).status_code == 404, page
    assert client.post(url("pair_rule_remove", programme, rule.pk)).status_code == 404
    assert PairRule.objects.filter(pk=rule.pk).exists()
    assert Match.objects.filter(programme=programme, published_at__isnull=True).count() == 1
    programme.refresh_from_db()
    assert (programme.title, programme.status) == ("Women in Leadership 2027", "open")
    listing = client.get(url("manage_list"))
    assert listing.status_code == 200
    assert "Women in Leadership 2027" not in listing.content.decode()


def test_only_organisers_may_create_a_programme(client_for, member, organiser):
    member_client = client_for(member.user)
    assert member_client.get(url("programme_create")).status_code == 404
    assert "New programme" not in member_client.get(url("manage_list")).content.decode()
    organiser_client = client_for(organiser)
    assert organiser_client.get(url("programme_create")).status_code == 200
    assert "New programme" in organiser_client.get(url("manage_list")).content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client_for, programme):
    response = client_for(None).get(url("programme_manage", programme))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_staff_manage_every_programme(client_for, staff, programme):
    assert client_for(staff).get(url("programme_manage", programme)).status_code == 200


# --- authoring -------------------------------------------------------------------------


def test_create_reads_the_window_in_the_programme_time_zone(client_for, organiser, cluster):
    response = client_for(organiser).post(url("programme_create"), _programme_form(cluster))
    programme = Programme.objects.get(title="Digital skills mentoring")
    assert response.status_code == 302
    assert response["Location"] == url("programme_manage", programme)
    # 09:00 in Vienna in March (UTC+1) is 08:00 UTC.
    assert programme.applications_open_at == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    assert programme.status == Programme.Status.DRAFT
    assert list(programme.clusters.all()) == [cluster]
    assert programme.created_by == organiser


def test_create_with_applications_closing_before_they_open_saves_nothing(
    client_for, organiser, cluster
):
    data = _programme_form(cluster, applications_close_at="2027-02-01T09:00")
    response = client_for(organiser).post(url("programme_create"), data)
    assert response.status_code == 400
    assert "Applications must close after they open." in response.content.decode()
    assert response.context["form"].errors["applications_close_at"]
    assert not Programme.objects.exists()


def test_create_refuses_a_cluster_the_organiser_does_not_organise(
    client_for, organiser, cluster, other_cluster
):
    data = _programme_form(cluster, clusters=[other_cluster.pk])
    response = client_for(organiser).post(url("programme_create"), data)
    assert response.status_code == 400
    assert response.context["form"].errors["clusters"]
    assert not Programme.objects.exists()


def test_edit_shows_local_times_and_saves_changes(client_for, organiser, programme):
    client = client_for(organiser)
    response = client.get(url("programme_edit", programme))
    assert response.status_code == 200
    form = response.context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if name == "clusters":
            data[name] = [c.pk for c in value]
        elif isinstance(value, datetime):
            data[name] = value.strftime("%Y-%m-%dT%H:%M")
        elif value is None or value is False:
            continue
        else:
            data[name] = value
    data["title"] = "Women in Leadership 2027 (spring)"
    response = client.post(url("programme_edit", programme), data)
    assert response.status_code == 302, response.context["form"].errors
    before = programme.applications_open_at
    programme.refresh_from_db()
    assert programme.title == "Women in Leadership 2027 (spring)"
    assert abs((programme.applications_open_at - before).total_seconds()) < 60


def test_status_buttons_open_close_and_complete(client_for, organiser, cluster):
    programme = ProgrammeFactory(clusters=[cluster], status=Programme.Status.DRAFT)
    client = client_for(organiser)
    assert (
        "Open for applications" in client.get(url("programme_manage", programme)).content.decode()
    )
    client.post(url("programme_status", programme), {"status": "open"})
    programme.refresh_from_db()
    assert programme.status == "open"
    response = client.post(url("programme_status", programme), {"status": "completed"}, follow=True)
    assert "cannot become “Completed”" in response.content.decode()
    client.post(url("programme_status", programme), {"status": "matching"})
    programme.refresh_from_db()
    assert programme.status == "matching"


def test_health_hides_satisfaction_below_the_group_size(client_for, organiser, programme):
    mentor(programme)
    mentee(programme)
    response = client_for(organiser).get(url("programme_manage", programme))
    page = response.content.decode()
    assert response.context["health"].applicants == 2
    assert response.context["health"].satisfaction is None
    assert "—" in page
    assert "Shown from" in page


# --- applications ----------------------------------------------------------------------


def test_approve_and_reject_applications(client_for, organiser, programme):
    first = mentee(programme, status=Application.Status.SUBMITTED)
    second = mentee(programme, status=Application.Status.SUBMITTED)
    client = client_for(organiser)
    response = client.post(
        url("application_review", programme, first.pk), {"decision": "approve", "next": "?role="}
    )
    assert response["Location"] == url("programme_applications", programme) + "?role="
    client.post(url("application_review", programme, second.pk), {"decision": "reject"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.reviewed_by) == (Application.Status.APPROVED, organiser)
    assert second.status == Application.Status.REJECTED


def test_approve_all_submitted(client_for, organiser, programme):
    waiting = [mentee(programme, status=Application.Status.SUBMITTED) for _ in range(3)]
    rejected = mentee(programme, status=Application.Status.REJECTED)
    response = client_for(organiser).post(
        url("applications_approve_submitted", programme), follow=True
    )
    assert "3 applications approved." in response.content.decode()
    assert all(
        a.status == Application.Status.APPROVED
        for a in Application.objects.filter(pk__in=[w.pk for w in waiting])
    )
    rejected.refresh_from_db()
    assert rejected.status == Application.Status.REJECTED


def test_applications_filter_by_role_and_status(client_for, organiser, programme):
    mentor(programme, name="Martha Mentor")
    mentee(programme, name="Mia Mentee", status=Application.Status.SUBMITTED)
    client = client_for(organiser)
    page = client.get(url("programme_applications", programme), {"role": "mentor"})
    assert "Martha Mentor" in page.content.decode()
    assert "Mia Mentee" not in page.content.decode()
    page = client.get(url("programme_applications", programme), {"status": "submitted"})
    assert "Mia Mentee" in page.content.decode()
    assert "Martha Mentor" not in page.content.decode()


def test_applications_page_never_shows_a_preferred_mentor_gender(client_for, organiser, cluster):
    programme = ProgrammeFactory(
        clusters=[cluster], allow_mentor_gender_preference=True, title="Leadership"
    )
    mentor(programme, gender_may_be_matched=True)
    avoided = mentor(programme, name="Avoided Person")
    for _ in range(3):
        mentee(programme, preferred_mentor_gender="woman", avoid=[avoided.user])
    response = client_for(organiser).get(url("programme_applications", programme))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("<tr>") >= 6
    assert "woman" not in page.lower()
    assert "gender" not in page.lower()
    assert "rather not" not in page.lower()


# --- matching --------------------------------------------------------------------------


def test_run_matching_shows_proposals_reasons_and_the_certificate(client_for, organiser, programme):
    mentor(programme, name="Martha Mentor")
    mentee(programme, name="Mia Mentee")
    mentee(programme, name="Nora Nomatch", languages=[language("de")])
    client = client_for(organiser)
    empty = client.get(url("programme_matching", programme)).content.decode()
    assert "Matching has not run yet." in empty
    assert "No proposals yet." in empty
    response = client.post(url("matching_run", programme), follow=True)
    page = response.content.decode()
    assert "1 of 2 mentees have a proposed mentor" in page
    assert "Martha Mentor" in page and "Mia Mentee" in page
    assert "Robotics" in page  # the pair's reason names the shared topic
    assert "LP dual bound" in page
    assert "certified optimal" in page
    run = response.context["run"]
    assert run.certified and run.gap == 0
    # The unplaced mentee, with why.
    assert "Nora Nomatch" in page
    assert "No mentor speaks" in page


def test_a_locked_pair_survives_a_re_run(client_for, organiser, programme):
    first = mentor(programme, topics=[topic("Robotics")])
    second = mentor(programme, topics=[topic("Gardening")])
    person = mentee(programme, topics=[topic("Robotics")])
    client = client_for(organiser)
    client.post(url("matching_run", programme))
    assert live_pairs(programme) == {(first.pk, person.pk)}
    response = client.post(
        url("pair_rule_set", programme),
        {"mentor": second.pk, "mentee": person.pk, "kind": "lock"},
        follow=True,
    )
    assert "Locked" in response.content.decode()
    client.post(url("matching_run", programme))
    assert live_pairs(programme) == {(second.pk, person.pk)}
    match = Match.objects.get(programme=programme, mentee=person)
    assert "Locked by the organisers" in render_all(match.rules)


def test_never_pair_is_never_proposed_again(client_for, organiser, programme):
    first = mentor(programme, topics=[topic("Robotics")])
    second = mentor(programme, topics=[topic("Gardening")])
    person = mentee(programme, topics=[topic("Robotics")])
    client = client_for(organiser)
    client.post(url("matching_run", programme))
    assert live_pairs(programme) == {(first.pk, person.pk)}
    client.post(
        url("pair_rule_set", programme), {"mentor": first.pk, "mentee": person.pk, "kind": "forbid"}
    )
    assert live_pairs(programme) == set()  # the forbidden proposal is gone at once
    client.post(url("matching_run", programme))
    assert live_pairs(programme) == {(second.pk, person.pk)}
    rule = PairRule.objects.get(programme=programme)
    page = client.get(url("programme_matching", programme)).content.decode()
    assert "Never pair" in page
    client.post(url("pair_rule_remove", programme, rule.pk))
    assert not PairRule.objects.exists()


def test_rules_for_applications_of_another_programme_are_404(client_for, organiser, programme):
    foreign = mentor(ProgrammeFactory(clusters=programme.clusters.all()))
    person = mentee(programme)
    response = client_for(organiser).post(
        url("pair_rule_set", programme), {"mentor": foreign.pk, "mentee": person.pk, "kind": "lock"}
    )
    assert response.status_code == 404
    assert not PairRule.objects.exists()


def test_publish_tells_both_people(
    client_for, organiser, programme, django_capture_on_commit_callbacks
):
    a_mentor = mentor(programme)
    a_mentee = mentee(programme)
    client = client_for(organiser)
    client.post(url("matching_run", programme))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("matching_publish", programme), follow=True)
    assert "1 proposal published" in response.content.decode()
    recipients = {address for message in mail.outbox for address in message.to}
    assert {a_mentor.user.email, a_mentee.user.email} <= recipients
    match = Match.objects.get(programme=programme)
    assert match.published_at is not None
    response = client.post(url("matching_publish", programme), follow=True)
    assert "no new proposals" in response.content.decode()


def test_circle_proposals_are_grouped_by_circle(client_for, organiser, cluster):
    programme = ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES, circle_size=3)
    mentor(programme, name="Martha Mentor")
    for _ in range(3):
        mentee(programme)
    client = client_for(organiser)
    client.post(url("matching_run", programme))
    page = client.get(url("programme_matching", programme)).content.decode()
    assert "Circle of Martha Mentor" in page
    assert "3 mentees" in page


def test_organiser_ends_a_running_match_early_without_seeing_its_goals(
    client_for, organiser, programme
):
    mentor(programme)
    mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    services.programme_publish(programme=programme, by=organiser)
    match = Match.objects.get(programme=programme)
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.ACTIVE, goals="Secret goal text", progress="Secret progress"
    )
    client = client_for(organiser)
    matching = client.get(url("programme_matching", programme)).content.decode()
    assert url("organiser_match_end", programme, match.pk) in matching
    assert "Secret goal text" not in matching
    page = client.get(url("organiser_match_end", programme, match.pk)).content.decode()
    assert "Secret goal text" not in page and "Secret progress" not in page
    response = client.post(url("organiser_match_end", programme, match.pk), {"reason": ""})
    assert response.status_code == 400
    match.refresh_from_db()
    assert match.status == Match.Status.ACTIVE
    response = client.post(
        url("organiser_match_end", programme, match.pk), {"reason": "The mentor moved away."}
    )
    assert response.status_code == 302
    match.refresh_from_db()
    assert (match.status, match.end_reason) == (Match.Status.ENDED_EARLY, "The mentor moved away.")


def test_manage_list_counts_applications_and_matches(client_for, organiser, programme):
    mentor(programme)
    mentee(programme)
    mentee(programme, status=Application.Status.SUBMITTED)
    services.programme_match_run(programme=programme, by=organiser)
    Match.objects.filter(programme=programme).update(status=Match.Status.ACTIVE)
    response = client_for(organiser).get(url("manage_list"))
    row = response.context["page_obj"].object_list[0]
    assert (row.n_applications, row.n_submitted, row.n_matched) == (3, 1, 1)


# --- query counts ----------------------------------------------------------------------


def _grow(programme, organiser, *, mentors: int, mentees: int) -> None:
    """More people, one who cannot be placed, rules, a published run and a new run."""
    organisations = [OrganisationFactory(clusters=[*programme.clusters.all()]) for _ in range(5)]

    def person(role, n, **kwargs):
        organisation = organisations[n % len(organisations)]
        user = ProfileFactory(organisation=organisation).user
        return ApplicationFactory(
            programme=programme, role=role, user=user, topics=[topic(f"Topic {n % 7}")], **kwargs
        )

    new_mentors = [person(Role.MENTOR, n, capacity=4) for n in range(mentors)]
    new_mentees = [person(Role.MENTEE, n) for n in range(mentees)]
    person(Role.MENTEE, 0, languages=[language("de")])  # nobody speaks German
    person(Role.MENTEE, 1, status=Application.Status.SUBMITTED)
    run = services.programme_match_run(programme=programme, by=organiser)
    assert run.placed
    services.programme_publish(programme=programme, by=organiser)
    Match.objects.filter(
        programme=programme, mentee__in=new_mentees[: max(1, mentees // 4)]
    ).update(status=Match.Status.ACTIVE)
    services.pair_rule_set(
        programme=programme, by=organiser, mentor=new_mentors[0], mentee=new_mentees[-1],
        kind="forbid",
    )  # fmt: skip
    person(Role.MENTEE, 2)
    services.programme_match_run(programme=programme, by=organiser)


def _queries(client, pages) -> dict[str, int]:
    counts = {}
    for page in pages:
        assert client.get(page).status_code == 200, page
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page)
        assert response.status_code == 200
        counts[page] = len(queries)
    return counts


def test_organiser_pages_do_not_grow_with_the_programme(client_for, organiser, programme):
    client = client_for(organiser)
    pages = [
        url("manage_list"),
        url("programme_manage", programme),
        url("programme_applications", programme),
        url("programme_applications", programme) + "?role=mentee&page=2",
        url("programme_matching", programme),
        url("programme_matching", programme) + "?page=2",
    ]
    _grow(programme, organiser, mentors=2, mentees=4)
    small = _queries(client, pages)
    _grow(programme, organiser, mentors=40, mentees=160)
    assert Application.objects.filter(programme=programme).count() > 200
    assert Match.objects.filter(programme=programme).count() > 150
    large = _queries(client, pages)
    assert large == small


def test_admin_changelists_do_not_grow_with_the_programme(client_for, staff, organiser, programme):
    client = client_for(staff)
    pages = [
        reverse("admin:matchmaking_application_changelist"),
        reverse("admin:matchmaking_match_changelist"),
        reverse("admin:matchmaking_programme_changelist"),
        reverse("admin:matchmaking_matchingrun_changelist"),
        reverse("admin:matchmaking_pairrule_changelist"),
    ]
    _grow(programme, organiser, mentors=2, mentees=4)
    small = _queries(client, pages)
    _grow(programme, organiser, mentors=40, mentees=160)
    large = _queries(client, pages)
    assert large == small
