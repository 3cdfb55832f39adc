"""The member's mentoring pages: programmes, applying, my mentoring and the match page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from matchmaking.models import Application, Circle, Feedback, Match, MeetingLog, Programme
from tests.factories import ProfileFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic

pytestmark = pytest.mark.django_db

LIST = reverse("matchmaking:programme_list")
MINE = reverse("matchmaking:my_mentoring")


def apply_url(programme: Programme, role: str) -> str:
    return reverse("matchmaking:apply", kwargs={"slug": programme.slug, "role": role})


def mentee_data(**overrides) -> dict:
    data = {
        "topics": [topic("Leadership").pk],
        "languages": [language("en").pk],
        "seniority": "1",
        "meeting_format": "online",
        "country": "AT",
        "region": "Linz",
        "timezone": "Europe/Vienna",
        "availability": "Evenings",
        "goals": "Lead my first team.",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def published_match(programme, *, mentor_user=None, mentee_user=None, **fields) -> Match:
    now = timezone.now()
    mentor = ApplicationFactory(
        programme=programme,
        role=Application.Role.MENTOR,
        **({"user": mentor_user} if mentor_user else {}),
    )
    mentee = ApplicationFactory(
        programme=programme,
        role=Application.Role.MENTEE,
        **({"user": mentee_user} if mentee_user else {}),
    )
    values = {
        "published_at": now,
        "respond_by": now + timedelta(days=7),
        "reasons": ["Both care about leadership"],
        "rules": ["Both speak English", "Different organisations"],
    }
    values.update(fields)
    return Match.objects.create(programme=programme, mentor=mentor, mentee=mentee, **values)


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster], title="Women in Leadership 2027")


@pytest.fixture
def mentor_profile(organisation):
    return ProfileFactory(display_name="Maria Mentor", organisation=organisation)


# --- programmes --------------------------------------------------------------------------


def test_the_list_shows_my_clusters_programmes_and_another_clusters_programme_is_404(
    client_for, member, programme, other_cluster
):
    foreign = ProgrammeFactory(clusters=[other_cluster], title="Maritime mentoring")
    draft = ProgrammeFactory(title="Secret draft", status=Programme.Status.DRAFT)
    draft.clusters.set([programme.clusters.first()])
    client = client_for(member.user)

    page = client.get(LIST)

    assert page.status_code == 200
    assert "Women in Leadership 2027" in page.content.decode()
    assert "Maritime mentoring" not in page.content.decode()
    assert "Secret draft" not in page.content.decode()
    assert client.get(foreign.get_absolute_url()).status_code == 404
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get(apply_url(foreign, "mentee")).status_code == 404


def test_the_list_tells_me_where_i_applied_and_shows_an_empty_state(client_for, member, colleague):
    programme = ProgrammeFactory(clusters=list(member.organisation.clusters.all()))
    ApplicationFactory(programme=programme, user=member.user, status=Application.Status.SUBMITTED)

    assert "You applied: Submitted" in client_for(member.user).get(LIST).content.decode()
    assert "You applied" not in client_for(colleague.user).get(LIST).content.decode()
    lonely = ProfileFactory()
    assert (
        "No mentoring programme is open to you"
        in client_for(lonely.user).get(LIST).content.decode()
    )


def test_pages_need_sign_in(client, programme):
    assert client.get(LIST).status_code == 302
    assert client.get(programme.get_absolute_url()).status_code == 302


def test_the_programme_page_renders_markdown_safely_and_offers_both_roles(
    client_for, member, programme
):
    programme.description = "## Why\n\n**Grow** <script>alert(1)</script>"
    programme.save(update_fields=["description"])

    body = client_for(member.user).get(programme.get_absolute_url()).content.decode()

    assert "<strong>Grow</strong>" in body
    assert "<script>alert" not in body
    assert apply_url(programme, "mentee") in body
    assert apply_url(programme, "mentor") in body


def test_an_unknown_role_is_404(client_for, member, programme):
    assert client_for(member.user).get(apply_url(programme, "sponsor")).status_code == 404


# --- applying ----------------------------------------------------------------------------


def test_applying_without_topics_is_refused_with_the_reason_and_saves_nothing(
    client_for, member, programme
):
    response = client_for(member.user).post(
        apply_url(programme, "mentee"), mentee_data(topics=None)
    )

    assert response.status_code == 400
    assert "Choose at least one topic you want to grow in." in response.content.decode()
    assert not Application.objects.exists()


def test_the_mentor_form_is_prefilled_from_the_profile_and_applying_creates_the_application(
    client_for, member, programme
):
    robotics = topic("Robotics")
    member.expertise.set([robotics])
    member.languages.set([language("en")])
    member.timezone = "Europe/Vienna"
    member.save(update_fields=["timezone"])
    client = client_for(member.user)

    form = client.get(apply_url(programme, "mentor"))

    body = form.content.decode()
    assert form.status_code == 200
    assert re.search(rf'value="{robotics.pk}" id="id_topics_\d+" checked', body)
    assert body.count("checked") == len(form.context["form"].initial["languages"]) + 2
    assert "goals" not in form.context["form"].fields  # mentee-only
    assert "gender_may_be_matched" not in form.context["form"].fields  # not allowed here
    initial = form.context["form"].initial
    response = client.post(
        apply_url(programme, "mentor"),
        {
            "topics": initial["topics"],
            "languages": initial["languages"],
            "seniority": "3",
            "meeting_format": "either",
            "country": "AT",
            "timezone": initial["timezone"],
            "capacity": "2",
        },
    )

    assert response.status_code == 302
    application = Application.objects.get(user=member.user)
    assert application.role == Application.Role.MENTOR
    assert application.capacity == 2
    assert list(application.topics.all()) == [robotics]
    assert application.timezone == "Europe/Vienna"


def test_applying_twice_is_refused(client_for, member, programme):
    client = client_for(member.user)
    assert client.post(apply_url(programme, "mentee"), mentee_data()).status_code == 302

    again = client.post(apply_url(programme, "mentor"), mentee_data(), follow=True)

    assert "You have already applied to this programme." in again.content.decode()
    assert Application.objects.filter(user=member.user).count() == 1
    assert Application.objects.get(user=member.user).role == Application.Role.MENTEE


def test_a_target_group_track_asks_me_to_confirm_i_belong(client_for, member, programme):
    programme.mentee_eligibility = Programme.Eligibility.TARGET_GROUP
    programme.mentee_target_group = "Women working in the cluster"
    programme.save(update_fields=["mentee_eligibility", "mentee_target_group"])
    client = client_for(member.user)

    assert (
        "Women working in the cluster"
        in client.get(apply_url(programme, "mentee")).content.decode()
    )
    refused = client.post(apply_url(programme, "mentee"), mentee_data())
    assert refused.status_code == 400
    assert not Application.objects.exists()
    accepted = client.post(
        apply_url(programme, "mentee"), mentee_data(belongs_to_target_group="on")
    )
    assert accepted.status_code == 302
    assert Application.objects.get(user=member.user).belongs_to_target_group


def test_the_avoid_list_offers_only_mentors_of_this_programme(
    client_for, member, programme, mentor_profile, colleague
):
    ApplicationFactory(programme=programme, user=mentor_profile.user, role=Application.Role.MENTOR)
    ApplicationFactory(programme=programme, user=colleague.user, role=Application.Role.MENTEE)
    client = client_for(member.user)

    choices = client.get(apply_url(programme, "mentee")).context["form"].fields["avoid"].queryset

    assert list(choices) == [mentor_profile.user]
    client.post(apply_url(programme, "mentee"), mentee_data(avoid=[mentor_profile.user.pk]))
    assert list(Application.objects.get(user=member.user).avoid.all()) == [mentor_profile.user]


def test_only_the_applicant_withdraws(client_for, member, colleague, programme):
    application = ApplicationFactory(programme=programme, user=member.user)
    url = reverse("matchmaking:application_withdraw", kwargs={"pk": application.pk})

    assert client_for(colleague.user).post(url).status_code == 404
    assert client_for(member.user).get(url).status_code == 405
    response = client_for(member.user).post(url)

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == Application.Status.WITHDRAWN


# --- my mentoring and the match page -----------------------------------------------------


def test_my_mentoring_lists_my_applications_and_my_published_matches(
    client_for, member, mentor_profile, programme
):
    empty = client_for(member.user).get(MINE).content.decode()
    assert "No match yet" in empty
    match = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)
    hidden = ProgrammeFactory(clusters=list(programme.clusters.all()))
    published_match(hidden, mentee_user=member.user, published_at=None, respond_by=None)

    body = client_for(member.user).get(MINE).content.decode()

    assert "Maria Mentor" in body
    assert match.get_absolute_url() in body
    assert "Your answer is awaited by" in body
    assert body.count("<tr>") == 1 + 1 + 1 + 2  # two headers, one match, two applications


def test_the_match_page_is_404_for_a_third_member_and_for_the_organiser(
    client_for, member, colleague, organiser, mentor_profile, programme
):
    match = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)

    assert client_for(member.user).get(match.get_absolute_url()).status_code == 200
    assert client_for(mentor_profile.user).get(match.get_absolute_url()).status_code == 200
    assert client_for(colleague.user).get(match.get_absolute_url()).status_code == 404
    assert client_for(organiser).get(match.get_absolute_url()).status_code == 404
    respond = reverse("matchmaking:match_respond", kwargs={"pk": match.pk})
    assert client_for(colleague.user).post(respond, {"accept": "1"}).status_code == 404


def test_both_accepting_starts_the_mentoring_and_shows_the_partners_address(
    client_for, member, mentor_profile, programme, django_capture_on_commit_callbacks
):
    match = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)
    respond = reverse("matchmaking:match_respond", kwargs={"pk": match.pk})
    mentee, mentor = client_for(member.user), client_for(mentor_profile.user)
    before = mentee.get(match.get_absolute_url()).content.decode()
    assert "Both care about leadership" in before and "Both speak English" in before
    assert mentor_profile.user.email not in before
    assert "Accept" in before

    with django_capture_on_commit_callbacks(execute=True):
        mentee.post(respond, {"accept": "1"})
        waiting = mentee.get(match.get_absolute_url()).content.decode()
        mentor.post(respond, {"accept": "1"})

    assert "waiting for the other answer" in waiting
    match.refresh_from_db()
    assert match.status == Match.Status.ACCEPTED
    after = mentee.get(match.get_absolute_url()).content.decode()
    assert mentor_profile.user.email in after
    assert member.user.email in mentor.get(match.get_absolute_url()).content.decode()


def test_declining_ends_the_proposal(client_for, member, mentor_profile, programme):
    match = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)
    respond = reverse("matchmaking:match_respond", kwargs={"pk": match.pk})

    response = client_for(member.user).post(respond, {"accept": "0"}, follow=True)

    match.refresh_from_db()
    assert match.status == Match.Status.DECLINED
    assert match.mentee_answer == Match.Answer.DECLINED
    body = response.content.decode()
    assert "You declined the match" in body
    assert 'name="accept"' not in body
    assert mentor_profile.user.email not in body
    # A second answer is refused with the reason, not a crash.
    again = client_for(mentor_profile.user).post(respond, {"accept": "1"}, follow=True)
    assert "This match is not waiting for an answer." in again.content.decode()


def test_meetings_goals_and_feedback_of_a_running_match(
    client_for, member, mentor_profile, programme
):
    match = published_match(
        programme,
        mentor_user=mentor_profile.user,
        mentee_user=member.user,
        status=Match.Status.ACCEPTED,
        mentor_answer=Match.Answer.ACCEPTED,
        mentee_answer=Match.Answer.ACCEPTED,
        accepted_at=timezone.now() - timedelta(days=3),
    )
    kwargs = {"pk": match.pk}
    mentee, mentor = client_for(member.user), client_for(mentor_profile.user)
    assert "Your feedback" not in mentee.get(match.get_absolute_url()).content.decode()

    future = mentee.post(
        reverse("matchmaking:meeting_log", kwargs=kwargs),
        {"met_on": (timezone.localdate() + timedelta(days=2)).isoformat(), "notes": "x"},
    )
    assert future.status_code == 400
    assert "Log meetings that have taken place." in future.content.decode()
    assert not MeetingLog.objects.exists()

    mentee.post(
        reverse("matchmaking:meeting_log", kwargs=kwargs),
        {"met_on": timezone.localdate().isoformat(), "notes": "Talked about delegation."},
    )
    mentor.post(
        reverse("matchmaking:match_goals", kwargs=kwargs),
        {"goals": "Lead a team of five", "progress": "First 1:1s held"},
    )
    match.refresh_from_db()
    assert match.status == Match.Status.ACTIVE
    assert match.goals == "Lead a team of five"
    mentor_page = mentor.get(match.get_absolute_url()).content.decode()
    assert "Talked about delegation." in mentor_page
    assert "First 1:1s held" in mentor_page

    bad = mentee.post(reverse("matchmaking:match_feedback", kwargs=kwargs), {"rating": "9"})
    assert bad.status_code == 400
    mentee.post(
        reverse("matchmaking:match_feedback", kwargs=kwargs),
        {"rating": "5", "comment": "Very helpful"},
    )
    feedback = Feedback.objects.get(match=match, author=member.user)
    assert feedback.rating == 5
    assert "You rated it 5 out of 5." in mentee.get(match.get_absolute_url()).content.decode()
    assert "You rated it" not in mentor.get(match.get_absolute_url()).content.decode()

    early = mentor.post(reverse("matchmaking:match_end", kwargs=kwargs), {"completed": "0"})
    assert early.status_code == 400
    assert "Say briefly why it ends early." in early.content.decode()
    mentor.post(reverse("matchmaking:match_end", kwargs=kwargs), {"completed": "1"})
    match.refresh_from_db()
    assert match.status == Match.Status.COMPLETED


def test_a_mentees_preferred_mentor_gender_never_shows_on_the_mentors_match_page(
    client_for, member, mentor_profile, cluster
):
    programme = ProgrammeFactory(clusters=[cluster], allow_mentor_gender_preference=True)
    match = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)
    match.mentee.preferred_mentor_gender = "non_binary"
    match.mentee.save(update_fields=["preferred_mentor_gender"])

    body = client_for(mentor_profile.user).get(match.get_absolute_url()).content.decode()
    mine = client_for(mentor_profile.user).get(MINE).content.decode()

    for text in ("non_binary", "non-binary", "Non-binary", "gender"):
        assert text not in body
        assert text not in mine


# --- query counts ------------------------------------------------------------------------


def _queries(client, url, django_assert_max_num_queries) -> int:
    with django_assert_max_num_queries(40) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_programme_list_costs_the_same_for_2_or_10_programmes(
    client_for, member, cluster, django_assert_max_num_queries
):
    client = client_for(member.user)
    for _ in range(2):
        ApplicationFactory(programme=ProgrammeFactory(clusters=[cluster]), user=member.user)
    two = _queries(client, LIST, django_assert_max_num_queries)
    for _ in range(8):
        ApplicationFactory(programme=ProgrammeFactory(clusters=[cluster]), user=member.user)
    assert _queries(client, LIST, django_assert_max_num_queries) == two


def test_my_mentoring_costs_the_same_for_2_or_10_matches(
    client_for, member, cluster, django_assert_max_num_queries
):
    client = client_for(member.user)
    for _ in range(2):
        published_match(ProgrammeFactory(clusters=[cluster]), mentee_user=member.user)
    two = _queries(client, MINE, django_assert_max_num_queries)
    for _ in range(8):
        published_match(ProgrammeFactory(clusters=[cluster]), mentee_user=member.user)
    assert _queries(client, MINE, django_assert_max_num_queries) == two


def test_a_circle_member_sees_the_circle_and_the_other_members_names(
    client_for, member, colleague, mentor_profile, cluster
):
    programme = ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES)
    first = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)
    circle = Circle.objects.create(
        programme=programme, mentor=first.mentor, name="Circle of Maria Mentor: Leadership"
    )
    Match.objects.filter(pk=first.pk).update(circle=circle)
    second = Match.objects.create(
        programme=programme,
        mentor=first.mentor,
        mentee=ApplicationFactory(programme=programme, user=colleague.user),
        circle=circle,
        published_at=first.published_at,
        respond_by=first.respond_by,
    )

    body = client_for(member.user).get(first.get_absolute_url()).content.decode()

    assert "Circle of Maria Mentor: Leadership" in body
    assert "Bruno Weiss" in body
    assert client_for(member.user).get(second.get_absolute_url()).status_code == 404


def test_a_running_circle_match_shows_the_next_meeting_not_a_past_or_cancelled_one(
    client_for, member, mentor_profile, cluster
):
    from django.utils import formats

    from tests.events.factories import EventFactory, SessionFactory

    programme = ProgrammeFactory(clusters=[cluster], format=Programme.Format.CIRCLES)
    match = published_match(programme, mentor_user=mentor_profile.user, mentee_user=member.user)
    now = timezone.now().replace(microsecond=0)
    event = EventFactory(clusters=[cluster], starts_at=now - timedelta(days=14))
    SessionFactory(event=event, starts_at=now - timedelta(days=7))  # over
    SessionFactory(event=event, starts_at=now + timedelta(days=2), is_cancelled=True)
    upcoming = SessionFactory(event=event, starts_at=now + timedelta(days=9))
    SessionFactory(event=event, starts_at=now + timedelta(days=16))
    circle = Circle.objects.create(
        programme=programme, mentor=match.mentor, name="Circle of Maria", event=event
    )
    Match.objects.filter(pk=match.pk).update(circle=circle)
    client = client_for(member.user)

    Match.objects.filter(pk=match.pk).update(status=Match.Status.PROPOSED)
    assert "Next meeting:" not in client.get(match.get_absolute_url()).content.decode()

    Match.objects.filter(pk=match.pk).update(status=Match.Status.ACCEPTED)
    body = client.get(match.get_absolute_url()).content.decode()
    shown = formats.date_format(timezone.localtime(upcoming.starts_at), "DATETIME_FORMAT")
    assert "Next meeting:" in body
    assert body.count("Next meeting:") == 1 and shown in body


def test_organisers_find_the_programme_management_from_the_mentoring_pages(
    client_for, member, organiser, staff
):
    manage = f'href="{reverse("matchmaking:manage_list")}"'
    assert manage not in client_for(member.user).get(LIST).content.decode()
    assert manage in client_for(organiser).get(LIST).content.decode()
    assert manage in client_for(staff).get(LIST).content.decode()
