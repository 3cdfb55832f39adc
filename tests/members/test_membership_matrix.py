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
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from django.utils.http import int_to_base36
from rest_framework.authtoken.models import Token

from events import campaigns, services
from events.attendance import checkin_token
from events.models import (
    CalendarFeed,
    Campaign,
    CampaignRecipient,
    Event,
    Invitation,
    Registration,
    StageRole,
)
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
from members import membership, privacy
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    Organisation,
    OrganisationDomain,
    Profile,
    User,
)
from members.preferences import OPTIONAL_KINDS, unsubscribe_token
from tests.events.factories import EventFactory, SessionFactory
from tests.factories import (
    ClusterFactory,
    ClusterOrganiserFactory,
    GenderIdentityFactory,
    OrganisationFactory,
    ProfileFactory,
    StaffFactory,
    UserFactory,
)
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic
from tests.routes import all_routes, parameters, substitute

pytestmark = pytest.mark.django_db

# Members-only content of cluster A (the stranger's organisation Acme is a member of A) …
A_MEMBERS_EVENT = "Cobalt Forge Members Briefing"
A_PROGRAMME = "Zephyr Mentoring Programme"
ACME_CLUSTER_PROFILE = "Quentin Clusterwise"  # visible to members of Acme's clusters
ACME_MEMBERS_PROFILE = "Mirela Memberwide"  # visible to every member of the site
A_MARKERS = frozenset([A_MEMBERS_EVENT, A_PROGRAMME, ACME_CLUSTER_PROFILE, ACME_MEMBERS_PROFILE])
# … and of cluster B, which no one at Acme belongs to.
B_MEMBERS_EVENT = "Basalt Harbour Members Evening"
BORG_CLUSTER_PROFILE = "Bruna Borgward"
B_MARKERS = frozenset([B_MEMBERS_EVENT, BORG_CLUSTER_PROFILE])
MARKERS = A_MARKERS | B_MARKERS

PUBLIC_EVENT = "Open Factory Day"
PASSWORD = "a-Long-and-Unusual-pass-42"

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


@dataclass
class World:
    cluster_a: Cluster
    cluster_b: Cluster
    acme: Organisation
    borg: Organisation
    gone: Organisation
    public_event: Event
    a_members_event: Event
    b_members_event: Event
    programme: Programme
    match: Match
    targets: list[Profile]  # Acme's and Borg's people, seen by the roles, none of them a role
    registrations: list[Registration]
    campaign: Campaign
    feed_token: str
    users: dict[str, User]  # the roles' accounts (no "anonymous")
    clients: dict[str, Client]  # clients signed in through the real sign-up view

    @property
    def events(self) -> list[Event]:
        return [self.public_event, self.a_members_event, self.b_members_event]

    @property
    def target_users(self) -> list[User]:
        return [p.user for p in self.targets]


def sign_up(email: str, name: str) -> tuple[Client, User]:
    """An account made through allauth's sign-up page; the client stays signed in."""
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "display_name": name},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email=email)
    assert client.session["_auth_user_id"] == str(user.pk)
    return client, user


def ask_to_join(client: Client, organisation: Organisation) -> Affiliation:
    response = client.post(
        "/me/organisation/", {"action": "request", "organisation": organisation.pk}
    )
    assert response.status_code == 302
    return Affiliation.objects.get(
        user_id=client.session["_auth_user_id"], organisation=organisation
    )


def joined_by_domain(email: str, name: str, organisation: Organisation, **profile) -> Profile:
    """A person with a verified address at the organisation's domain, who asked to join
    and was confirmed by the domain rule."""
    person = ProfileFactory(user=UserFactory(email=email), display_name=name, **profile)
    affiliation = membership.affiliation_request(user=person.user, organisation=organisation)
    assert affiliation.status == Affiliation.Status.CONFIRMED
    assert affiliation.confirmed_via == Affiliation.Via.DOMAIN
    person.refresh_from_db()
    return person


@pytest.fixture
def world(db, png) -> World:
    today = timezone.localdate()
    Member = ClusterMembership.Status
    cluster_a = ClusterFactory(name="Aurora Automation Cluster", slug="aurora")
    cluster_b = ClusterFactory(name="Boreal Logistics Cluster", slug="boreal")
    organiser = ProfileFactory(display_name="Olga Organiser").user
    ClusterOrganiserFactory(cluster=cluster_a, user=organiser)
    other_organiser = ProfileFactory(display_name="Otto Otherorganiser").user
    ClusterOrganiserFactory(cluster=cluster_b, user=other_organiser)
    staff = StaffFactory(email="staff@example.org")
    ProfileFactory(user=staff, display_name="Site Staff")

    acme = OrganisationFactory(name="Acme Drives", slug="acme")
    borg = OrganisationFactory(name="Borg Freight", slug="borg")
    gone = OrganisationFactory(name="Gone Tooling", slug="gone")
    for cluster, organisation, joined_on, by in [
        (cluster_a, acme, today - timedelta(days=400), organiser),
        (cluster_b, borg, None, other_organiser),
        (cluster_a, gone, today - timedelta(days=900), organiser),
    ]:
        membership.cluster_membership_set(
            cluster=cluster, organisation=organisation, status=Member.MEMBER,
            joined_on=joined_on, left_on=None, by=by,
        )  # fmt: skip
    membership.domain_add(organisation=acme, domain="acme.example", by=organiser)
    membership.domain_add(organisation=borg, domain="borg.example", by=other_organiser)

    quentin = joined_by_domain(
        "quentin@acme.example", ACME_CLUSTER_PROFILE, acme,
        visibility=Profile.Visibility.CLUSTER, mentoring_stance="seeks",
    )  # fmt: skip
    mirela = joined_by_domain(
        "mirela@acme.example", ACME_MEMBERS_PROFILE, acme,
        visibility=Profile.Visibility.MEMBERS, mentoring_stance="offers",
    )  # fmt: skip
    bruna = joined_by_domain("bruna@borg.example", BORG_CLUSTER_PROFILE, borg)
    quentin.photo.save("quentin.png", ContentFile(png), save=True)
    GenderIdentityFactory(user=quentin.user, gender="man")

    org_admin = joined_by_domain("ada@acme.example", "Ada Acmeadmin", acme).user
    [admin_affiliation] = Affiliation.objects.filter(user=org_admin)
    membership.affiliation_set_admin(affiliation=admin_affiliation, by=organiser, is_admin=True)
    member = joined_by_domain("max@acme.example", "Max Acmemember", acme).user
    former = ProfileFactory(
        user=UserFactory(email="fiona@gone.example"), display_name="Fiona Former"
    ).user
    membership.affiliation_decide(
        affiliation=membership.affiliation_request(user=former, organisation=gone),
        by=organiser,
        confirm=True,
    )
    # Gone left cluster A a month ago; Fiona is still confirmed at Gone.
    membership.cluster_membership_set(
        cluster=cluster_a, organisation=gone, status=Member.FORMER,
        joined_on=today - timedelta(days=900), left_on=today - timedelta(days=30), by=organiser,
    )  # fmt: skip
    assert Profile.objects.get(user=former).organisation == gone

    visitor_client, visitor = sign_up("vera.visitor@example.net", "Vera Visitor")
    stranger_client, stranger = sign_up("sam.stranger@example.net", "Sam Stranger")
    declined_client, declined = sign_up("dora.declined@example.net", "Dora Declined")
    assert ask_to_join(stranger_client, acme).status == Affiliation.Status.REQUESTED
    membership.affiliation_decide(
        affiliation=ask_to_join(declined_client, acme), by=org_admin, confirm=False
    )

    public_event = EventFactory(
        title=PUBLIC_EVENT, slug="open-factory-day", audience=Event.Audience.PUBLIC,
        clusters=[cluster_a],
    )  # fmt: skip
    a_members_event = EventFactory(
        title=A_MEMBERS_EVENT, slug="a-members-briefing", clusters=[cluster_a]
    )
    b_members_event = EventFactory(
        title=B_MEMBERS_EVENT, slug="b-members-evening", clusters=[cluster_b]
    )
    registrations, campaign, feed_token = the_targets_at_the_events(
        public_event, a_members_event, b_members_event, targets=(quentin, mirela, bruna),
        organiser=organiser,
    )  # fmt: skip
    Group.objects.create(name="Editors")
    privacy.statistics_access_log(user=organiser, view="balance_dashboard", cluster=cluster_a)
    programme, match = a_mentoring_programme(cluster_a, mentor=mirela, mentee=quentin)
    return World(
        cluster_a=cluster_a, cluster_b=cluster_b, acme=acme, borg=borg, gone=gone,
        public_event=public_event, a_members_event=a_members_event,
        b_members_event=b_members_event, programme=programme, match=match,
        targets=[quentin, mirela, bruna], registrations=registrations, campaign=campaign,
        feed_token=feed_token,
        users={
            "visitor": visitor, "stranger": stranger, "declined": declined, "former": former,
            "member": member, "org_admin": org_admin, "organiser": organiser,
            "other_organiser": other_organiser, "staff": staff,
        },
        clients={"visitor": visitor_client, "stranger": stranger_client,
                 "declined": declined_client},
    )  # fmt: skip


def the_targets_at_the_events(
    public_event, a_members_event, b_members_event, *, targets, organiser
):
    """Every event with a session; Quentin registered for A's events, invited to A's
    members-only event by a campaign, with a calendar feed and an API token; Mirela
    speaking there; Bruna registered for B's members-only event."""
    quentin, mirela, bruna = targets
    for event in (public_event, a_members_event, b_members_event):
        SessionFactory(event=event, title=f"Workshop {event.pk}")
    StageRole.objects.create(event=a_members_event, role="speaker", profile=mirela)
    Invitation.objects.create(event=a_members_event, email=quentin.user.email)
    registrations = [
        services.event_register(event=a_members_event, user=quentin.user),
        services.event_register(event=public_event, user=quentin.user),
        services.event_register(event=b_members_event, user=bruna.user),
    ]
    campaign = Campaign.objects.create(
        event=a_members_event, created_by=organiser, status=Campaign.Status.SENT
    )
    campaign.clusters.set(a_members_event.clusters.all())
    CampaignRecipient.objects.create(campaign=campaign, email=quentin.user.email, user=quentin.user)
    feed = CalendarFeed.objects.create(user=quentin.user)
    Token.objects.create(user=quentin.user)
    return registrations, campaign, feed.token


def a_mentoring_programme(cluster: Cluster, *, mentor: Profile, mentee: Profile):
    """A published programme of cluster A; two of Acme's people matched and meeting."""
    programme = ProgrammeFactory(clusters=[cluster], title=A_PROGRAMME, slug="zephyr-mentoring")
    leadership = topic("Leadership")
    mentor_application = ApplicationFactory(
        programme=programme, user=mentor.user, role=Application.Role.MENTOR,
        topics=[leadership], languages=[language("en")],
    )  # fmt: skip
    mentee_application = ApplicationFactory(
        programme=programme, user=mentee.user, topics=[leadership], languages=[language("en")]
    )
    PairRule.objects.create(
        programme=programme, mentor=mentor_application, mentee=mentee_application,
        kind=PairRule.Kind.LOCK,
    )  # fmt: skip
    now = timezone.now()
    run = MatchingRun.objects.create(programme=programme, mentees=1, mentors=1, placed=1)
    match = Match.objects.create(
        programme=programme, run=run, mentor=mentor_application, mentee=mentee_application,
        status=Match.Status.ACTIVE, mentor_answer=Match.Answer.ACCEPTED,
        mentee_answer=Match.Answer.ACCEPTED, published_at=now, accepted_at=now,
        respond_by=now + timedelta(days=7),
    )  # fmt: skip
    MeetingLog.objects.create(match=match, met_on=timezone.localdate(), logged_by=mentee.user)
    Feedback.objects.create(match=match, author=mentee.user, rating=5)
    Circle.objects.create(programme=programme, mentor=mentor_application, name="Leaders circle")
    return programme, match


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


# --- filling every URL pattern with this world's objects ---------------------------------


def admin_object(model, world: World):
    """An object of the model to open in the admin: a target's own, else the first."""
    if model is User:
        return world.target_users[0]
    if any(f.name == "user" and f.related_model is User for f in model._meta.fields):
        mine = model.objects.filter(user__in=world.target_users).order_by("pk").first()
        if mine is not None:
            return mine
    return model.objects.order_by("pk").first()


def fillings(route: str, world: World) -> list[dict[str, str]] | None:
    """Values for a route's parameters; None when the test does not know how to fill it.

    Every object belongs to one of the targets (Acme's and Borg's people) or to a cluster,
    never to a role, so that every role opens them as a third party."""
    names = parameters(route)
    if not names:
        return [{}]
    slugs = {
        "organisations/": [o.slug for o in (world.acme, world.borg, world.gone)],
        "clusters/": [c.slug for c in (world.cluster_a, world.cluster_b)],
    }
    for prefix, values in slugs.items():
        if route.startswith(prefix) and names == ("slug",):
            return [{"slug": value} for value in values]
    cluster_slugs = [{"cluster_slug": c.slug} for c in (world.cluster_a, world.cluster_b)]
    targets = [{"pk": str(p.pk)} for p in world.targets]
    explicit = {
        "members/<int:pk>/": targets,
        "members/<int:pk>/photo/": targets,
        "api/v1/members/<int:pk>/": targets,
        "events/feeds/me/<str:token>.ics": [{"token": world.feed_token}],
        "events/feeds/cluster/<slug:cluster_slug>.ics": cluster_slugs,
        "events/balance/<slug:cluster_slug>/": cluster_slugs,
        "events/balance/<slug:cluster_slug>/balance.csv": cluster_slugs,
        "events/balance/<slug:cluster_slug>/report/<int:year>/": [
            {**c, "year": str(timezone.localdate().year)} for c in cluster_slugs
        ],
        "events/rsvp/<str:token>/": [
            {"token": campaigns.rsvp_token(campaign=world.campaign, email=r.email)}
            for r in world.campaign.recipients.all()
        ],
        "admin/members/user/<id>/password/": [{"id": str(world.target_users[0].pk)}],
        "admin/(?P<url>.*)$": [{"url": "no-such-admin-page/"}],
        "unsubscribe/<str:token>/": [
            {"token": unsubscribe_token(user=world.target_users[0], kind=kind)}
            for kind in OPTIONAL_KINDS
        ],
    }
    if route in explicit:
        return explicit[route]
    if route.startswith("api/v1/events/") and names == ("pk",):
        return [{"pk": str(e.pk)} for e in world.events]
    if route.startswith("mentoring/"):
        return mentoring_fillings(route, names, world)
    if route.startswith("events/") and names == ("slug",):
        return [{"slug": e.slug} for e in world.events]
    if route.startswith("events/") and names == ("slug", "session_id"):
        return [
            {"slug": e.slug, "session_id": str(s.pk)}
            for e in world.events
            for s in e.sessions.all()
        ]
    if route.startswith("events/") and names == ("slug", "campaign_id"):
        return [{"slug": world.campaign.event.slug, "campaign_id": str(world.campaign.pk)}]
    if route.startswith("events/") and names == ("slug", "token"):
        return [
            {"slug": r.event.slug, "token": checkin_token(registration_id=r.pk)}
            for r in world.registrations
        ]
    if names == ("key",) and "confirm-email" in route:
        address = EmailAddress.objects.get(user=world.target_users[0])
        return [{"key": EmailConfirmationHMAC(address).key}]
    if names == ("uidb36", "key"):
        user = world.target_users[0]
        return [{"uidb36": int_to_base36(user.pk), "key": default_token_generator.make_token(user)}]
    if names == ("content_type_id", "object_id"):
        return [
            {
                "content_type_id": str(ContentType.objects.get_for_model(obj).pk),
                "object_id": str(obj.pk),
            }
            for obj in (world.targets[0], world.a_members_event)
        ]
    if names == ("app_label",):
        labels = sorted({model._meta.app_label for model in admin.site._registry})
        return [{"app_label": label} for label in labels]
    if names == ("object_id",) and route.startswith("admin/"):
        app_label, model_name = route.split("/")[1:3]
        obj = admin_object(apps.get_model(app_label, model_name), world)
        assert obj is not None, f"create a {model_name} in the fixtures so {route} can be opened"
        return [{"object_id": str(obj.pk)}]
    return None


def mentoring_fillings(route: str, names: tuple[str, ...], world: World) -> list[dict] | None:
    """A's programme, the targets' applications and match, the organiser's pair rule."""
    programme = world.programme
    slug = {"slug": programme.slug}
    if names == ("slug",):
        return [slug]
    if names == ("slug", "role"):
        return [{**slug, "role": role} for role in Application.Role.values]
    if "/applications/" in route:
        pks = programme.applications.values_list("pk", flat=True)
    elif "/rules/" in route:
        pks = programme.pair_rules.values_list("pk", flat=True)
    elif "/matches/" in route:
        pks = [world.match.pk]
    else:
        return None
    return [{**(slug if "slug" in names else {}), "pk": str(pk)} for pk in pks]


def paths_to_visit(world: World) -> dict[str, list[str]]:
    """Every pattern's concrete paths, keyed by route. Fails on a pattern it cannot fill."""
    unfillable, visits = [], {}
    for route in all_routes():
        if route in NOT_RENDERABLE_BY_GET:
            continue
        values = fillings(route, world)
        if not values:
            unfillable.append(f"{route} {parameters(route)}")
            continue
        visits[route] = [substitute(route, v) for v in values]
        for path in visits[route]:
            resolved = resolve(path).route
            assert resolved == route, f"{path} resolves to {resolved}, not to {route}"
    assert not unfillable, "teach this test to fill:\n" + "\n".join(unfillable)
    return visits


# --- walking the matrix ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    status: int
    markers: frozenset[str]


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return headers + "\n" + content.decode("utf-8", errors="replace")


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
    visits = paths_to_visit(world)
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
    visits = paths_to_visit(world)
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
    assert stranger.client.post("/me/api-token/").status_code == 200
    token = Token.objects.get(user=stranger.user).key
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
