"""Running the matching is a preview: applications stay open while the window is; closing
them is its own step (or the end of the window, or publishing); a preview that did not see
every application is not published."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from matchmaking import services
from matchmaking.models import Application, Match, MatchingRun, Programme
from tests.factories import ClusterOrganiserFactory, OrganisationFactory, ProfileFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic

pytestmark = pytest.mark.django_db
Role = Application.Role


@pytest.fixture
def programme(cluster):
    return ProgrammeFactory(clusters=[cluster], title="Women in Leadership 2027")


def mentor(programme, **kwargs):
    kwargs.setdefault("capacity", 2)
    return ApplicationFactory(
        programme=programme, role=Role.MENTOR, topics=[topic("Leadership")], **kwargs
    )


def mentee(programme, **kwargs):
    return ApplicationFactory(
        programme=programme, role=Role.MENTEE, topics=[topic("Leadership")], **kwargs
    )


def newcomer(programme):
    """A member of the programme's cluster who has not applied yet."""
    organisation = OrganisationFactory(clusters=list(programme.clusters.all()))
    return ProfileFactory(organisation=organisation).user


def url(name, programme, *args):
    return reverse(f"matchmaking:{name}", args=[programme.slug, *args])


def apply_url(programme, role="mentee"):
    return reverse("matchmaking:apply", kwargs={"slug": programme.slug, "role": role})


MENTEE_FORM = {
    "seniority": "1",
    "meeting_format": "online",
    "country": "AT",
    "timezone": "Europe/Vienna",
    "goals": "Lead my first team.",
}


def apply_as_mentee(client, programme):
    data = {**MENTEE_FORM, "topics": [topic("Leadership").pk], "languages": [language("en").pk]}
    return client.post(apply_url(programme), data)


def proposals(programme) -> set[tuple[int, int]]:
    return set(
        Match.objects.filter(programme=programme, published_at__isnull=True).values_list(
            "mentee_id", "mentor_id"
        )
    )


def reload(programme) -> Programme:
    return Programme.objects.get(pk=programme.pk)


# --- the preview leaves the window open ----------------------------------------------------


def test_run_matching_shows_the_proposals_and_a_member_can_still_apply(
    client_for, programme, organiser, member
):
    a_mentor, first = mentor(programme), mentee(programme)
    response = client_for(organiser).post(url("matching_run", programme), follow=True)
    page = response.content.decode()
    assert "1 of 1 mentees have a proposed mentor" in page
    assert "Applications stay open." in page
    assert proposals(programme) == {(first.pk, a_mentor.pk)}
    programme = reload(programme)
    assert programme.status == Programme.Status.OPEN and programme.accepts_applications
    assert not mail.outbox  # nobody is told of a preview

    client = client_for(member.user)
    detail = client.get(programme.get_absolute_url()).content.decode()
    assert "Open for applications" in detail and apply_url(programme) in detail
    assert apply_as_mentee(client, programme).status_code == 302
    assert Application.objects.filter(programme=programme, user=member.user).exists()
    # The applicant sees no proposal of the preview, theirs or anyone's.
    assert not client.get(reverse("matchmaking:my_mentoring")).context["matches"]


def test_a_new_run_sees_the_new_application_and_replaces_the_preview(programme, organiser):
    a_mentor, first = mentor(programme), mentee(programme)
    first_run = services.programme_match_run(programme=programme, by=organiser)
    late = services.application_submit(
        programme=programme, user=newcomer(programme), role=Role.MENTEE,
        fields={"goals": "Grow.", "timezone": "Europe/Vienna"},
        topics=[topic("Leadership")], languages=[language("en")],
    )  # fmt: skip
    services.application_review(application=late, by=organiser, approve=True)

    second_run = services.programme_match_run(programme=programme, by=organiser)
    assert (second_run.mentees, second_run.placed) == (2, 2)
    assert proposals(programme) == {(first.pk, a_mentor.pk), (late.pk, a_mentor.pk)}
    # The first preview's proposals are gone, not kept beside the second's.
    assert not Match.objects.filter(run=first_run).exists()
    assert Match.objects.filter(run=second_run).count() == 2
    assert reload(programme).accepts_applications


# --- closing applications --------------------------------------------------------------------


def test_closing_applications_is_an_explicit_organiser_step(
    client_for, programme, organiser, member, other_cluster
):
    mentor(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    close = {"status": Programme.Status.MATCHING}
    outsider = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=outsider)
    for user in (member.user, outsider):
        assert client_for(user).post(url("programme_status", programme), close).status_code == 404
    with pytest.raises(PermissionDenied):
        services.programme_set_status(programme=programme, by=member.user, status="matching")
    assert reload(programme).accepts_applications

    client = client_for(organiser)
    manage = client.get(url("programme_manage", programme)).content.decode()
    assert "Close applications now" in manage
    assert "running the matching does not close them" in manage
    assert "it cannot be undone" in manage
    # A GET changes nothing; the POST closes.
    assert client.get(url("programme_status", programme)).status_code == 405
    response = client.post(url("programme_status", programme), close, follow=True)
    assert "Applications are closed: nobody can apply any more." in response.content.decode()
    programme = reload(programme)
    assert programme.status == Programme.Status.MATCHING and not programme.accepts_applications

    refused = apply_as_mentee(client_for(member.user), programme)
    assert refused.status_code == 302
    assert not Application.objects.filter(user=member.user).exists()
    with pytest.raises(ValidationError, match="not open"):
        services.application_submit(
            programme=programme, user=member.user, role=Role.MENTEE, fields={"goals": "Grow."},
            topics=[topic("Leadership")], languages=[language("en")],
        )  # fmt: skip
    # Publishing after the explicit close works as it always did.
    assert services.programme_publish(programme=programme, by=organiser) == 1
    assert reload(programme).status == Programme.Status.RUNNING


def test_applications_close_by_themselves_when_the_window_ends(
    client_for, programme, organiser, member
):
    mentor(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    Programme.objects.filter(pk=programme.pk).update(
        applications_close_at=timezone.now() - timedelta(minutes=1)
    )
    programme = reload(programme)
    assert programme.status == Programme.Status.OPEN  # no task ran: the time decides
    assert not programme.accepts_applications
    with pytest.raises(ValidationError, match="not open"):
        services.application_submit(
            programme=programme, user=member.user, role=Role.MENTEE, fields={"goals": "Grow."},
            topics=[topic("Leadership")], languages=[language("en")],
        )  # fmt: skip
    detail = client_for(member.user).get(programme.get_absolute_url()).content.decode()
    assert "Applications closed" in detail and apply_url(programme) not in detail

    manage = client_for(organiser).get(url("programme_manage", programme)).content.decode()
    assert "Applications closed" in manage
    assert "The application window has ended" in manage
    assert "Close applications now" not in manage
    # The preview from before the end is still the one to publish: nothing changed since.
    assert services.programme_publish(programme=programme, by=organiser) == 1


# --- publishing ------------------------------------------------------------------------------


def test_publishing_while_applications_are_open_closes_them_and_says_so(
    client_for, programme, organiser, member, django_capture_on_commit_callbacks
):
    pair = mentor(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    client = client_for(organiser)
    matching = client.get(url("programme_matching", programme)).content.decode()
    assert "Publish 1 proposal and close applications" in matching
    assert "A run is a preview" in matching
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("matching_publish", programme), follow=True)
    assert "1 proposal published" in response.content.decode()
    assert "Applications are now closed." in response.content.decode()
    programme = reload(programme)
    assert programme.status == Programme.Status.RUNNING and not programme.accepts_applications
    # As before: both people are told, and the match awaits their answers.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(a.user.email for a in pair)
    match = Match.objects.get(programme=programme)
    assert match.published_at is not None and match.respond_by is not None
    assert MatchingRun.objects.get(programme=programme).published_at is not None


def _submit(programme, organiser, applications):
    services.application_submit(
        programme=programme, user=newcomer(programme), role=Role.MENTEE,
        fields={"goals": "Grow.", "timezone": "Europe/Vienna"},
        topics=[topic("Leadership")], languages=[language("en")],
    )  # fmt: skip


def _approve(programme, organiser, applications):
    services.application_review(application=applications["waiting"], by=organiser, approve=True)


def _reject(programme, organiser, applications):
    services.application_review(application=applications["mentee"], by=organiser, approve=False)


def _withdraw(programme, organiser, applications):
    mentee = applications["mentee"]
    services.application_withdraw(application=mentee, by=mentee.user)


@pytest.mark.parametrize("change", [_submit, _approve, _reject, _withdraw])
def test_a_preview_that_missed_an_application_change_is_not_published(
    client_for, programme, organiser, change
):
    applications = {
        "mentor": mentor(programme),
        "mentee": mentee(programme),
        "other": mentee(programme),
        "waiting": mentee(programme, status=Application.Status.SUBMITTED),
    }
    services.programme_match_run(programme=programme, by=organiser)
    change(programme, organiser, applications)

    with pytest.raises(ValidationError, match="run the matching again, then publish"):
        services.programme_publish(programme=programme, by=organiser)
    assert not Match.objects.filter(published_at__isnull=False).exists()
    assert not mail.outbox
    page = client_for(organiser).get(url("programme_matching", programme)).content.decode()
    assert "came in or changed after this run" in page
    assert url("matching_publish", programme) not in page  # no publish button

    # Run again: the new preview saw everything and publishes.
    services.programme_match_run(programme=programme, by=organiser)
    page = client_for(organiser).get(url("programme_matching", programme)).content.decode()
    assert "came in or changed after this run" not in page
    assert services.programme_publish(programme=programme, by=organiser) >= 1


def test_a_published_programme_can_rerun_and_publish_for_declined_mentees(
    programme, organiser, django_capture_on_commit_callbacks
):
    """Publishing stays as it was: after a decline, a new run publishes to the freed mentee."""
    mentor(programme, capacity=1), mentor(programme, capacity=1)
    a, b = mentee(programme), mentee(programme)
    services.programme_match_run(programme=programme, by=organiser)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.programme_publish(programme=programme, by=organiser) == 2
    declined = Match.objects.get(mentee=a)
    services.match_respond(match=declined, by=a.user, accept=False)
    # The declined pair is never made again and the other mentor is taken: a new mentor.
    third = mentor(programme, capacity=1)
    services.programme_match_run(programme=programme, by=organiser)
    assert services.programme_publish(programme=programme, by=organiser) == 1
    assert Match.objects.get(mentee=a, status=Match.Status.PROPOSED).mentor == third
    assert Match.objects.get(mentee=b).published_at is not None
