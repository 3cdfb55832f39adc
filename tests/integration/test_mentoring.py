"""Mentoring on the production path: real PostgreSQL, a real worker and SMTP server.

Published proposals reach both people through the worker with their reasons and a link
to the match; both accepting sends the introduction. Two organisers pressing "run
matching" at once, and a mentor and mentee accepting at the same instant, are
serialised by row locks: one set of proposals, and a match that ends up accepted.
"""

import re

import pytest

from matchmaking import services
from matchmaking.models import Match, MatchingRun
from tests.factories import ClusterOrganiserFactory, ProfileFactory
from tests.integration.threads import run_together
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

pytestmark = pytest.mark.integration


def a_programme(cluster, *, mentors: int, mentees: int):
    programme = ProgrammeFactory(clusters=[cluster], title="Women in Leadership 2027")
    cyber = topic("Cybersecurity")
    for _ in range(mentors):
        ApplicationFactory(programme=programme, role="mentor", topics=[cyber], capacity=2)
    for _ in range(mentees):
        ApplicationFactory(programme=programme, topics=[cyber])
    return programme


def test_published_proposals_and_the_introduction_arrive_through_the_worker(
    postgres, celery_worker, smtp_server, client, cluster, organiser
):
    mailbox, _ = smtp_server
    programme = a_programme(cluster, mentors=1, mentees=1)
    services.programme_match_run(programme=programme, by=organiser)
    services.programme_publish(programme=programme, by=organiser)

    received = mailbox.wait_for(2, timeout=60)
    match = Match.objects.get()
    addressed = {message["To"]: message for message in received}
    assert set(addressed) == {match.mentor.user.email, match.mentee.user.email}
    to_mentee = addressed[match.mentee.user.email]
    text = to_mentee.get_body(preferencelist=("plain",)).get_content()
    assert "Cybersecurity" in text  # the reason travels with the proposal
    link = re.search(r"https?://\S+/mentoring/matches/(\d+)/", text)
    assert link and int(link.group(1)) == match.pk

    client.force_login(match.mentee.user)
    assert client.get(f"/mentoring/matches/{match.pk}/").status_code == 200

    services.match_respond(match=match, by=match.mentor.user, accept=True)
    services.match_respond(match=match, by=match.mentee.user, accept=True)
    received = mailbox.wait_for(4, timeout=60)
    introductions = [m for m in received[2:] if m["To"] == match.mentee.user.email]
    assert introductions, [m["Subject"] for m in received]
    body = introductions[0].get_body(preferencelist=("plain",)).get_content()
    assert match.mentor.user.email in body  # the introduction gives the partner's address


def test_two_organisers_running_matching_at_once_leave_one_set_of_proposals(
    postgres, transactional_db, cluster
):
    programme = a_programme(cluster, mentors=5, mentees=12)
    organisers = [ProfileFactory().user for _ in range(2)]
    for user in organisers:
        ClusterOrganiserFactory(cluster=cluster, user=user)

    results, errors = run_together(
        [lambda user=user: services.programme_match_run(programme=programme, by=user)
         for user in organisers]
    )  # fmt: skip

    assert not errors, errors
    assert MatchingRun.objects.filter(programme=programme).count() == 2
    proposals = Match.objects.filter(programme=programme, status=Match.Status.PROPOSED)
    assert proposals.count() == 10  # 5 mentors × capacity 2; each mentee at most once
    assert len(set(proposals.values_list("mentee_id", flat=True))) == 10
    latest = MatchingRun.objects.filter(programme=programme).latest()
    assert set(proposals.values_list("run_id", flat=True)) == {latest.pk}


def test_mentor_and_mentee_accepting_at_the_same_instant_start_the_match(
    postgres, transactional_db, cluster, organiser
):
    programme = a_programme(cluster, mentors=1, mentees=1)
    services.programme_match_run(programme=programme, by=organiser)
    services.programme_publish(programme=programme, by=organiser)
    match = Match.objects.get()

    _, errors = run_together(
        [lambda user=person: services.match_respond(match=match, by=user, accept=True)
         for person in (match.mentor.user, match.mentee.user)]
    )  # fmt: skip

    assert not errors, errors
    match.refresh_from_db()
    assert (match.mentor_answer, match.mentee_answer) == ("accepted", "accepted")
    assert match.status == Match.Status.ACCEPTED
