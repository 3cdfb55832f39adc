"""A small site where every URL pattern can be opened, for the tests that walk them all.

Two clusters: A (Aurora), organised by Olga, with the member organisation Acme (and Gone,
which left it a month ago); B (Boreal), organised by Otto, with Borg. Every object a URL
points at belongs to one of the targets (Acme's and Borg's people) or to a cluster, never
to one of the roles that open them, so every role opens them as a third party: an event of
each audience, a mentoring programme of A with a match, a brokerage day of A (Quentin and
Mirela take part and meet; Hedda, hidden from the directory, asked Quentin to meet), a sent
campaign, check-in codes, a calendar feed, an API token, a message Mirela wrote to Quentin
through the site and a reported one.

`build_world()` makes it; `fillings()` gives the values for a route's parameters, the
first of them always an object of cluster A (members-only where there is such a thing);
`paths_to_visit()` every pattern's concrete paths.
"""

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.http import HttpResponse
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
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingBlock,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
    Table,
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
from members import contact, membership, privacy
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    ContactMessage,
    ContactReport,
    ImportJob,
    Organisation,
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

# Members-only content of cluster A (the stranger's organisation Acme is a member of A) …
A_MEMBERS_EVENT = "Cobalt Forge Members Briefing"
A_PROGRAMME = "Zephyr Mentoring Programme"
ACME_CLUSTER_PROFILE = "Quentin Clusterwise"  # visible to members of Acme's clusters
ACME_MEMBERS_PROFILE = "Mirela Memberwide"  # visible to every member of the site
A_BROKERAGE_EVENT = "Cobalt Valley Brokerage Day"  # members-only, Quentin and Mirela take part
A_MARKERS = frozenset(
    [A_MEMBERS_EVENT, A_PROGRAMME, ACME_CLUSTER_PROFILE, ACME_MEMBERS_PROFILE, A_BROKERAGE_EVENT]
)
# A participant of the brokerage day whose profile is hidden from the directory: no page
# shows her to anyone but herself and the day's organisers.
HIDDEN_PARTICIPANT = "Hedda Hiddenwood"
# … and of cluster B, which no one at Acme belongs to.
B_MEMBERS_EVENT = "Basalt Harbour Members Evening"
BORG_CLUSTER_PROFILE = "Bruna Borgward"
B_MARKERS = frozenset([B_MEMBERS_EVENT, BORG_CLUSTER_PROFILE])
MARKERS = A_MARKERS | B_MARKERS

PUBLIC_EVENT = "Open Factory Day"
PASSWORD = "a-Long-and-Unusual-pass-42"


@dataclass
class BrokerageDay:
    """Cluster A's brokerage day: Quentin and Mirela met (accepted, placed at a table in
    the first slot, published by a scheduler run); Hedda, whose profile is hidden, asked
    Quentin to meet (pending)."""

    event: Event
    settings: BrokerageSettings
    block: MeetingBlock
    slots: list[Slot]
    tables: list[Table]
    participants: list[Participant]  # Quentin's, Mirela's, Hedda's
    items: list[MarketItem]
    accepted: Meeting
    pending: Meeting
    run: ScheduleRun

    @property
    def meetings(self) -> list[Meeting]:
        return [self.accepted, self.pending]


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
    brokerage: BrokerageDay
    contact_message: ContactMessage  # Mirela wrote to Quentin through the site
    targets: list[Profile]  # Acme's and Borg's people, seen by the roles, none of them a role
    registrations: list[Registration]
    campaign: Campaign
    feed_token: str
    import_jobs: dict[str, ImportJob]  # by kind, all started by a co-organiser of A
    users: dict[str, User]  # the roles' accounts (no "anonymous")
    clients: dict[str, Client]  # clients signed in through the real sign-up view

    @property
    def events(self) -> list[Event]:
        """A's members-only event first: the one the permission matrix opens."""
        return [
            self.a_members_event, self.public_event, self.b_members_event, self.brokerage.event
        ]  # fmt: skip

    @property
    def target_users(self) -> list[User]:
        return [p.user for p in self.targets]

    @property
    def participant(self) -> User:
        """Quentin: a participant of the brokerage day (and the mentee of the match), who
        alone opens the participants' pages among the people the crawls sign in as."""
        return self.brokerage.participants[0].user


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


def build_world(*, png: bytes) -> World:
    """The world, its roles' accounts made, three of them through the sign-up page."""
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
    other_member = joined_by_domain("bodo@borg.example", "Bodo Borgmember", borg).user
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
    import_jobs = imports_of_a_co_organiser(cluster_a, a_members_event)
    brokerage = a_brokerage_day(cluster_a, organiser=organiser, people=(quentin, mirela))
    contact_message = ContactMessage.objects.create(
        sender=mirela.user, recipient=quentin.user, subject="Your gripper demo",
        body="Could we see it running next week?",
    )  # fmt: skip
    # Mirela reported an advert Quentin sent her: the organisers of A have a report.
    advert = ContactMessage.objects.create(
        sender=quentin.user, recipient=mirela.user, subject="Grippers on sale",
        body="Buy three, get one free.",
    )  # fmt: skip
    ContactReport.objects.create(
        message=advert, reporter=mirela.user, sender=quentin.user,
        reason=ContactReport.Reason.SPAM,
    )  # fmt: skip
    return World(
        cluster_a=cluster_a, cluster_b=cluster_b, acme=acme, borg=borg, gone=gone,
        public_event=public_event, a_members_event=a_members_event,
        b_members_event=b_members_event, programme=programme, match=match,
        brokerage=brokerage, contact_message=contact_message, targets=[quentin, mirela, bruna],
        registrations=registrations, campaign=campaign, feed_token=feed_token,
        import_jobs=import_jobs,
        users={
            "visitor": visitor, "stranger": stranger, "declined": declined, "former": former,
            "member": member, "org_admin": org_admin, "organiser": organiser,
            "other_organiser": other_organiser, "other_member": other_member, "staff": staff,
        },
        clients={"visitor": visitor_client, "stranger": stranger_client,
                 "declined": declined_client},
    )  # fmt: skip


def imports_of_a_co_organiser(cluster: Cluster, event: Event) -> dict[str, ImportJob]:
    """Imports into cluster A and its members-only event, queued by another
    organiser of A (an import's page is its starter's and staff's)."""
    cora = ProfileFactory(display_name="Cora Coorganiser").user
    ClusterOrganiserFactory(cluster=cluster, user=cora)
    Kind = ImportJob.Kind
    scopes = {
        Kind.ATTENDANCE: f"event:{event.pk}",
        Kind.CRM_PREVIEW: f"cluster:{cluster.pk}",
        Kind.CRM_APPLY: f"cluster:{cluster.pk}",
    }
    return {
        kind: ImportJob.objects.create(
            kind=kind,
            scope=scope,
            actor=cora,
            file_name="list.csv",
        )
        for kind, scope in scopes.items()
    }


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


def a_brokerage_day(cluster: Cluster, *, organiser: User, people: tuple[Profile, ...]):
    """A members-only brokerage day of cluster A, run by its scheduler: one block of three
    20-minute slots (the last a break), two tables and an online room; Quentin, Mirela
    and Hedda (hidden from the directory, at Acme too) registered and in the marketplace
    with offers and requests."""
    quentin, mirela = people
    acme = quentin.organisation
    hedda = joined_by_domain(
        "hedda@acme.example", HIDDEN_PARTICIPANT, acme, visibility=Profile.Visibility.HIDDEN
    )
    event = EventFactory(
        title=A_BROKERAGE_EVENT, slug="cobalt-brokerage-day", kind=Event.Kind.BROKERAGE,
        clusters=[cluster],
    )  # fmt: skip
    now = timezone.now()
    settings_ = BrokerageSettings.objects.create(
        event=event, scheduling=BrokerageSettings.Scheduling.SCHEDULER,
        schedule_published_at=now,
    )  # fmt: skip
    block = MeetingBlock.objects.create(
        event=event, name="Afternoon meetings", starts_at=event.starts_at,
        ends_at=event.starts_at + timedelta(minutes=60), slot_minutes=20,
    )  # fmt: skip
    slots = [
        Slot.objects.create(
            event=event,
            block=block,
            is_break=i == 2,
            starts_at=block.starts_at + timedelta(minutes=20 * i),
            ends_at=block.starts_at + timedelta(minutes=20 * (i + 1)),
        )  # fmt: skip
        for i in range(3)
    ]
    tables = [
        Table.objects.create(event=event, name="Table 1", position=1),
        Table.objects.create(event=event, name="Table 2", position=2),
        Table.objects.create(
            event=event, name="Online room", position=3, online_url="https://meet.example/r1"
        ),
    ]
    robotics, logistics = topic("Robotics"), topic("Logistics")
    participants, items = [], []
    offers = {
        quentin: ("Vision-guided gripping", MarketItem.Type.TECHNOLOGY, "Pilot partners"),
        mirela: ("Drive retrofits for SMEs", MarketItem.Type.EXPERTISE, "Research partner"),
        hedda: ("Test bench time", MarketItem.Type.PRODUCT, "Co-investment"),
    }
    for person, (offer, kind, wanted) in offers.items():
        services.event_register(event=event, user=person.user)
        participant = Participant.objects.create(
            event=event, user=person.user, organisation_kind=acme.kind, max_meetings=6,
            headline=f"{offer} from Acme",
        )  # fmt: skip
        participant.blocks.set([block])
        participants.append(participant)
        for direction, title, type_ in [
            (MarketItem.Direction.OFFER, offer, kind),
            (MarketItem.Direction.REQUEST, wanted, MarketItem.Type.COOPERATION),
        ]:
            item = MarketItem.objects.create(
                participant=participant, direction=direction, type=type_, title=title,
                description=f"{title}: let us talk.",
            )  # fmt: skip
            item.topics.set([robotics if direction == MarketItem.Direction.OFFER else logistics])
            items.append(item)
    assert all(
        r.status == Registration.Status.CONFIRMED
        for r in Registration.objects.filter(event=event)
    )  # fmt: skip
    q, m, h = participants
    accepted = Meeting.objects.create(
        event=event, requester=q, recipient=m, message="Shall we talk about grippers?",
        status=Meeting.Status.ACCEPTED, answered_at=now, slot=slots[0], table=tables[0],
        published_at=now,
    )  # fmt: skip
    MeetingSeat.objects.bulk_create(
        [MeetingSeat(meeting=accepted, participant=p, slot=slots[0]) for p in (q, m)]
    )
    pending = Meeting.objects.create(
        event=event, requester=h, recipient=q, message="Our test bench could suit you.",
        expires_at=now + timedelta(hours=settings_.request_expiry_hours),
    )  # fmt: skip
    run = ScheduleRun.objects.create(
        event=event, started_by=organiser, outcome=ScheduleRun.Outcome.OPTIMAL, accepted=1,
        scheduled=1, upper_bound=1, bound_detail={"tables_x_slots": 6, "free_slots": 2},
        seconds=0.01, assignment=[[accepted.pk, slots[0].pk, tables[0].pk]], published_at=now,
    )  # fmt: skip
    return BrokerageDay(
        event=event, settings=settings_, block=block, slots=slots, tables=tables,
        participants=participants, items=items, accepted=accepted, pending=pending, run=run,
    )  # fmt: skip


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
    never to a role, so that every role opens them as a third party. The first filling is
    always cluster A's (members-only where the route has such objects)."""
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
        "members/<int:pk>/contact/": targets,
        "contact/report/<str:token>/": [
            {"token": contact.report_token(message=world.contact_message)}
        ],
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
    if route.startswith(("networking/", "api/v1/brokerage/")) or "balance/brokerage" in route:
        return brokerage_fillings(route, names, world)
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
    if names == ("slug", "job_id"):
        jobs = world.import_jobs
        if route.startswith("events/"):
            job = jobs[ImportJob.Kind.ATTENDANCE]
            return [{"slug": world.a_members_event.slug, "job_id": str(job.pk)}]
        if route.startswith("clusters/"):
            return [
                {"slug": world.cluster_a.slug, "job_id": str(jobs[kind].pk)}
                for kind in (ImportJob.Kind.CRM_PREVIEW, ImportJob.Kind.CRM_APPLY)
            ]
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


def brokerage_fillings(route: str, names: tuple[str, ...], world: World) -> list[dict] | None:
    """A's brokerage day; the meetings, people and offers named by their place in the
    route (Quentin's own first, then Mirela's; Hedda, hidden, last)."""
    day = world.brokerage
    quentin, mirela, hedda = day.participants
    pks = {
        "block_id": [day.block.pk],
        "slot_id": [slot.pk for slot in day.slots],
        "table_id": [table.pk for table in day.tables],
        "meeting_id": [day.accepted.pk],
        "run_id": [day.run.pk],
    }
    if "/offers/" in route:
        pks["pk"] = [quentin.items.first().pk, mirela.items.first().pk]
    elif "/people/" in route:
        pks["pk"] = [mirela.pk, quentin.pk, hedda.pk]
    elif "meeting/" in route or "/requests/" in route:
        # The pending request Quentin received first: the API answers it.
        pks["pk"] = [day.pending.pk, day.accepted.pk]
    values: list[dict] = [{"slug": day.event.slug} if "slug" in names else {}]
    for name in names:
        if name == "slug":
            continue
        if name not in pks:
            return None
        values = [{**v, name: str(pk)} for v in values for pk in pks[name]]
    return values


def paths_to_visit(world: World, *, skip: Collection[str] = ()) -> dict[str, list[str]]:
    """Every pattern's concrete paths, keyed by route. Fails on a pattern it cannot fill."""
    unfillable, visits = [], {}
    for route in all_routes():
        if route in skip:
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


def html_pages(
    visits: dict[str, list[str]], *, viewers: dict[str, object], **headers
) -> Iterator[tuple[str, str, str, HttpResponse]]:
    """GET every path as each viewer (a user, or None for a visitor) and yield the HTML
    answers as (role, route, path, response). A page that signs its viewer out (the
    sign-out and account pages) is followed by signing them in again."""
    for role, user in viewers.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        for route, paths in visits.items():
            for path in paths:
                session_before = client.cookies.get(settings.SESSION_COOKIE_NAME)
                response = client.get(path, **headers)
                if user is not None and (
                    client.cookies.get(settings.SESSION_COOKIE_NAME) != session_before
                ):
                    client.force_login(user)
                if response.get("Content-Type", "").startswith("text/html"):
                    yield role, route, path, response
