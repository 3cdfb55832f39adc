"""The permission matrix: every page of the site, opened by every role.

A stranger who signs up and asks to join a member organisation is an ordinary signed-in
visitor until the request is confirmed: on every URL pattern of the site (ours, allauth's,
the admin's and the API's, found by walking the URL resolver) they get exactly what a
visitor without any organisation gets, and no members-only content; so do a person whose
request was declined and a person whose organisation left the cluster. Once the
organisation's admin confirms the request, the same client gets exactly what a member of
that organisation gets: the members-only content of its cluster, never another cluster's.

The matrix is asserted as properties between roles, not as a typed table: a new page is
covered the day it is added, and a URL parameter this test cannot fill makes it fail.
"""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client

from events.models import Registration
from matchmaking.models import Application
from members import api_tokens, membership
from members.models import Affiliation, OrganisationDomain, User
from tests.matchmaking.factories import language, topic
from tests.matrix_world import (
    A_MARKERS,
    A_MEMBERS_EVENT,
    A_PROGRAMME,
    ACME_CLUSTER_PROFILE,
    ACME_MEMBERS_PROFILE,
    MARKERS,
    World,
    build_world,
    paths_to_visit,
)
from tests.routes import all_routes, body

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "visitor",
    "stranger",
    "declined",
    "former",
    "member",
    "org_admin",
    "organiser",
    "other_organiser",
    "staff",
)
NOT_YET_MEMBERS = ("stranger", "declined", "former")
CONFIRMED_STRANGER = "stranger, once confirmed"

# Patterns a GET cannot be sent to, with the reason. None so far: a POST-only page answers
# GET with 405 or a sign-in redirect, and that answer is a cell of the matrix like any other
# (the admin's logout too: it signs out by POST only).
NOT_RENDERABLE_BY_GET: dict[str, str] = {}

# Pages whose address is the credential (a signed token for one person, as in a mail):
# what they show depends on the token, not on who opens them, so anonymous people and
# visitors see the members-only event the token's owner was invited to or registered for.
CAPABILITY_ROUTES = {
    "events/feeds/me/<str:token>.ics": "the secret calendar feed of a registered member",
    "events/rsvp/<str:token>/": "the RSVP link of an invitation mailed to a member",
}


@pytest.fixture
def world(db, png) -> World:
    return build_world(png=png)


@dataclass
class Viewer:
    user: User | None  # None: anonymous
    client: Client


@pytest.fixture
def viewers(world) -> dict[str, Viewer]:
    result = {"anonymous": Viewer(None, Client())}
    for role in ROLES[1:]:
        user = world.users[role]
        client = world.clients.get(role)
        if client is None:
            client = Client()
            client.force_login(user)
        result[role] = Viewer(user, client)
    return result


# --- walking the matrix ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    status: int
    markers: frozenset[str]


def walk(viewer: Viewer, visits: dict[str, list[str]]) -> dict[str, Seen]:
    """Every path opened by one viewer: its status and the members-only markers shown."""
    seen = {}
    client = viewer.client
    for paths in visits.values():
        for path in paths:
            session_before = client.cookies.get(settings.SESSION_COOKIE_NAME)
            response = client.get(path)
            assert response.status_code < 500, path
            text = body(response)
            seen[path] = Seen(response.status_code, frozenset(m for m in MARKERS if m in text))
            if (
                viewer.user is not None
                and client.cookies.get(settings.SESSION_COOKIE_NAME) != session_before
            ):
                # A page that signed the viewer out (a new or deleted session cookie) would
                # turn the rest of the walk anonymous.
                client.force_login(viewer.user)
    return seen


def route_of(path: str, visits: dict[str, list[str]]) -> str:
    return next(route for route, paths in visits.items() if path in paths)


def status_differences(matrix: dict[str, dict[str, Seen]], role: str, baseline: str) -> list[str]:
    return [
        f"{path}: {baseline} {matrix[baseline][path].status}, {role} {seen.status}"
        for path, seen in matrix[role].items()
        if seen.status != matrix[baseline][path].status
    ]


def report_size(capsys, visits: dict[str, list[str]], columns: list[str]) -> None:
    requests = sum(len(paths) for paths in visits.values()) * len(columns)
    with capsys.disabled():
        print(
            f"\npermission matrix: {len(visits)} routes × {len(columns)} roles "
            f"= {len(visits) * len(columns)} cells ({requests} requests); roles: "
            + ", ".join(columns)
        )


# --- the tests ---------------------------------------------------------------------------


def test_allow_lists_name_real_patterns():
    routes = set(all_routes())

    assert set(NOT_RENDERABLE_BY_GET) <= routes
    assert set(CAPABILITY_ROUTES) <= routes


def test_a_stranger_declined_or_former_member_gets_what_a_visitor_gets_on_every_page(
    world, viewers, capsys
):
    visits = paths_to_visit(world, skip=NOT_RENDERABLE_BY_GET)
    matrix = {role: walk(viewers[role], visits) for role in ROLES}
    report_size(capsys, visits, list(ROLES))

    # The visitor is the baseline: without a token, visitors see no members-only content.
    for role in ("anonymous", "visitor"):
        shown = {
            path: sorted(seen.markers)
            for path, seen in matrix[role].items()
            if seen.markers and route_of(path, visits) not in CAPABILITY_ROUTES
        }
        assert not shown, f"{role} sees members-only content: {shown}"
    for role in NOT_YET_MEMBERS:
        differences = status_differences(matrix, role, "visitor")
        assert not differences, f"{role} is not treated as a visitor:\n" + "\n".join(differences)
        leaks = {
            path: sorted(seen.markers - matrix["visitor"][path].markers)
            for path, seen in matrix[role].items()
            if seen.markers - matrix["visitor"][path].markers
        }
        assert not leaks, f"{role} sees more than a visitor: {leaks}"

    # The matrix is not flat: the same pages answer members, organisers and staff.
    a_event = f"/events/{world.a_members_event.slug}/"
    assert matrix["visitor"][a_event].status == 404
    assert matrix["member"][a_event].status == 200
    assert A_MEMBERS_EVENT in matrix["member"][a_event].markers
    assert matrix["visitor"][f"/events/{world.public_event.slug}/"].status == 200
    assert matrix["stranger"]["/me/organisation/"].status == 200
    assert matrix["org_admin"]["/memberships/requests/"].status == 200
    assert matrix["org_admin"]["/organisations/acme/people/"].status == 200
    assert matrix["org_admin"]["/organisations/borg/people/"].status == 404
    assert matrix["organiser"]["/clusters/aurora/manage/memberships/"].status == 200
    assert matrix["other_organiser"]["/clusters/aurora/manage/memberships/"].status == 404
    assert matrix["staff"]["/admin/members/affiliation/"].status == 200
    # An organiser of B alone sees nothing members-only of A's events and programme.
    seen_by_b = {
        path: sorted(seen.markers & {A_MEMBERS_EVENT, A_PROGRAMME})
        for path, seen in matrix["other_organiser"].items()
        if seen.markers & {A_MEMBERS_EVENT, A_PROGRAMME}
        and route_of(path, visits) not in CAPABILITY_ROUTES
    }
    assert not seen_by_b, seen_by_b


def test_once_the_org_admin_confirms_the_stranger_gets_what_a_member_gets_on_every_page(
    world, viewers, capsys
):
    stranger = viewers["stranger"]
    affiliation = Affiliation.objects.get(user=stranger.user, status=Affiliation.Status.REQUESTED)

    response = viewers["org_admin"].client.post(
        "/memberships/requests/", {"decision": "confirm", "affiliation": affiliation.pk}
    )

    assert response.status_code == 302
    affiliation.refresh_from_db()
    assert affiliation.status == Affiliation.Status.CONFIRMED
    assert affiliation.confirmed_via == Affiliation.Via.ORGANISATION_ADMIN
    visits = paths_to_visit(world, skip=NOT_RENDERABLE_BY_GET)
    matrix = {
        "member": walk(viewers["member"], visits),
        CONFIRMED_STRANGER: walk(stranger, visits),  # the same client as before
    }
    report_size(capsys, visits, list(matrix))

    differences = status_differences(matrix, CONFIRMED_STRANGER, "member")
    assert not differences, "the confirmed stranger is not a member:\n" + "\n".join(differences)
    different_content = {
        path: (sorted(matrix["member"][path].markers), sorted(seen.markers))
        for path, seen in matrix[CONFIRMED_STRANGER].items()
        if seen.markers != matrix["member"][path].markers
    }
    assert not different_content, f"(member, confirmed stranger) see: {different_content}"
    shown = set().union(*(seen.markers for seen in matrix[CONFIRMED_STRANGER].values()))
    assert shown == A_MARKERS, f"missing {A_MARKERS - shown}, beyond A: {shown - A_MARKERS}"
    # On the pages themselves, not only through a member's calendar feed or RSVP link.
    quentin, mirela, bruna = world.targets
    pages = {
        f"/events/{world.a_members_event.slug}/": (200, A_MEMBERS_EVENT),
        f"/mentoring/{world.programme.slug}/": (200, A_PROGRAMME),
        f"/members/{quentin.pk}/": (200, ACME_CLUSTER_PROFILE),
        f"/members/{mirela.pk}/": (200, ACME_MEMBERS_PROFILE),
        f"/events/{world.b_members_event.slug}/": (404, None),
        f"/members/{bruna.pk}/": (404, None),
    }
    for path, (status, marker) in pages.items():
        seen = matrix[CONFIRMED_STRANGER][path]
        assert seen.status == status, path
        assert marker is None or marker in seen.markers, path


def test_before_confirmation_the_stranger_can_register_or_apply_for_nothing_members_only(
    world, viewers
):
    stranger = viewers["stranger"]
    event, programme = world.a_members_event, world.programme
    session = event.sessions.get()
    token = api_tokens.api_token_create(user=stranger.user).key
    by_token = Client(HTTP_AUTHORIZATION=f"Token {token}")
    affiliation = Affiliation.objects.get(user=stranger.user)
    application = {
        "topics": [topic("Leadership").pk],
        "languages": [language("en").pk],
        "seniority": "1",
        "meeting_format": "online",
        "timezone": "Europe/Vienna",
        "availability": "Evenings",
        "goals": "Lead my first team.",
    }

    def attempts() -> dict[str, int]:
        return {
            "register page": stranger.client.post(f"/events/{event.slug}/register/").status_code,
            "session page": stranger.client.post(
                f"/events/{event.slug}/sessions/{session.pk}/register/"
            ).status_code,
            "API, session": stranger.client.post(
                f"/api/v1/events/{event.pk}/register/", {}, content_type="application/json"
            ).status_code,
            "API, token": by_token.post(
                f"/api/v1/events/{event.pk}/register/", {}, content_type="application/json"
            ).status_code,
            "apply as mentee": stranger.client.post(
                f"/mentoring/{programme.slug}/apply/mentee/", application
            ).status_code,
            "apply as mentor": stranger.client.post(
                f"/mentoring/{programme.slug}/apply/mentor/", {**application, "seniority": "3"}
            ).status_code,
            "confirm own request": stranger.client.post(
                "/memberships/requests/", {"decision": "confirm", "affiliation": affiliation.pk}
            ).status_code,
            "add a domain rule": stranger.client.post(
                f"/organisations/{world.acme.slug}/people/",
                {"action": "add_domain", "domain": "example.net"},
            ).status_code,
        }

    refused = attempts()

    assert set(refused.values()) <= {403, 404}, refused
    assert not Registration.objects.filter(user=stranger.user).exists()
    assert not Application.objects.filter(user=stranger.user).exists()
    affiliation.refresh_from_db()
    assert affiliation.status == Affiliation.Status.REQUESTED
    assert not OrganisationDomain.objects.filter(domain="example.net").exists()
    # The same token registers for a public event: the refusals above were not the API's.
    public = by_token.post(
        f"/api/v1/events/{world.public_event.pk}/register/", {}, content_type="application/json"
    )
    assert public.status_code == 201
    assert Registration.objects.filter(user=stranger.user, event=world.public_event).exists()

    # Once confirmed, the same attempts go through (the requests were not malformed).
    membership.affiliation_decide(
        affiliation=affiliation, by=world.users["org_admin"], confirm=True
    )
    stranger.client.post(f"/events/{event.slug}/register/")
    stranger.client.post(f"/mentoring/{programme.slug}/apply/mentee/", application)
    assert Registration.objects.filter(user=stranger.user, event=event, session=None).exists()
    assert Application.objects.filter(user=stranger.user, programme=programme).exists()
