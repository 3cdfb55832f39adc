"""A member's gender appears on no page that anyone else can open.

Every URL pattern of the site — ours, allauth's, the admin's and the API's — is found by
walking the URL resolver, filled in with the objects of two target members, and opened
as a fellow member of their cluster, as an organiser of that cluster and as staff. No
response may contain the targets' self-description or the word "woman". A new page is
covered the day it is added; a new URL parameter the test cannot fill makes it fail.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
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
    Session,
    StageRole,
)
from insights.models import Release
from matchmaking import services as mentoring
from matchmaking.brokerage import scheduling
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    Participant,
    ScheduleRun,
)
from matchmaking.models import Application, Circle, Feedback, Match, MeetingLog, PairRule, Programme
from members import contact, membership, privacy
from members.models import ContactMessage, ContactReport, Profile, User
from members.preferences import OPTIONAL_KINDS, unsubscribe_token
from tests.factories import (
    ClusterOrganiserFactory,
    GenderIdentityFactory,
    ProfileFactory,
    StaffFactory,
)
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    MarketItemFactory,
    ParticipantFactory,
    accepted,
)
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic
from tests.routes import all_routes, body, parameters, substitute

pytestmark = pytest.mark.django_db

SELF_DESCRIPTION = "Quasar-7731-identity"
WOMAN = re.compile(r"\bwoman\b", re.IGNORECASE)

# Patterns a GET cannot render, with the reason. Everything else is visited.
NOT_RENDERABLE_BY_GET = {
    "admin/logout/": "the admin signs out by POST only; GET answers 405 without a page",
}

# Pages on which the word "woman" is expected whoever looks at them. The self-description
# is still searched for there.
WORD_EXPECTED = {
    "me/gender/": "the viewer's own gender form lists every option, 'Woman' among them",
    "events/<slug:slug>/speakers/": (
        "the form for an external guest offers every gender option, 'Woman' among them"
    ),
    "mentoring/<slug:slug>/apply/<str:role>/": (
        "the viewer's own mentee application may name a preferred mentor gender, 'A woman' "
        "among the options"
    ),
}

# Query strings worth trying on top of the bare patterns: searches that find the targets.
EXTRA_PATHS = [
    "/members/?q=Tara",
    "/members/?q=Wanda&mentoring_stance=offers",
    "/api/v1/members/?q=Vale",
    "/organisations/?q=Keller",
    "/admin/members/user/?q=tara",
    "/admin/members/profile/?q=wanda",
    "/admin/members/profile/?visibility__exact=cluster",
    "/admin/members/genderidentity/?statistics_consent__exact=1",
    "/admin/account/emailaddress/?q=wanda",
    "/admin/autocomplete/?app_label=members&model_name=profile&field_name=user&term=",
    "/admin/autocomplete/?app_label=members&model_name=clusterorganiser&field_name=user&term=t",
]


@dataclass
class BrokerageDay:
    """The targets' brokerage day: both participants with an offer and a request, met
    (accepted, placed in the first slot at the first table), and a scheduler run."""

    event: Event
    participants: list[Participant]  # Tara's, Wanda's
    items: list[MarketItem]
    meeting: Meeting
    run: ScheduleRun


@dataclass
class Targets:
    self_described: Profile
    woman: Profile
    organisation_slug: str
    cluster_slug: str
    event: Event
    session: Session
    registrations: list[Registration]
    feed_token: str
    programme: Programme
    match: Match
    brokerage: BrokerageDay | None = None
    contact_message: ContactMessage | None = None  # Wanda wrote to Tara, Tara reported it
    contact_report: ContactReport | None = None

    @property
    def profiles(self) -> list[Profile]:
        return [self.self_described, self.woman]

    @property
    def users(self) -> list[User]:
        return [p.user for p in self.profiles]


@pytest.fixture
def targets(cluster, organisation, png) -> Targets:
    tara = ProfileFactory(
        user__email="tara.quell@example.org",
        display_name="Tara Quell",
        organisation=organisation,
        job_title="Process engineer",
        bio="Hydraulics and lean production.",
    )
    wanda = ProfileFactory(
        user__email="wanda.vale@example.org",
        display_name="Wanda Vale",
        organisation=organisation,
        mentoring_stance="offers",
    )
    GenderIdentityFactory(
        user=tara.user,
        gender="self_described",
        self_description=SELF_DESCRIPTION,
        statistics_consent=True,
    )
    GenderIdentityFactory(user=wanda.user, gender="woman", statistics_consent=True)
    tara.photo.save("tara.png", ContentFile(png), save=True)
    ClusterOrganiserFactory(cluster=cluster, user=wanda.user)
    Group.objects.create(name="Editors")
    event, session, registrations = a_conference_with_the_targets_on_stage(cluster, tara, wanda)
    feed = CalendarFeed.objects.create(user=tara.user)
    Token.objects.create(user=tara.user)
    programme, match = a_mentoring_programme_matching_the_targets(cluster, tara, wanda)
    privacy.statistics_access_log(user=wanda.user, view="balance_dashboard", cluster=cluster)
    # Membership decisions about the targets' organisation: a rule, a pending request.
    membership.domain_add(organisation=organisation, domain="keller.example", by=wanda.user)
    membership.affiliation_request(
        user=ProfileFactory(display_name="Pending Person").user, organisation=organisation
    )
    brokerage = a_brokerage_day_where_the_targets_met(cluster, tara, wanda)
    message = contact.contact_send(
        sender=wanda.user, recipient_profile=tara, subject="Your hydraulics talk",
        body="Could we meet next week?",
    )  # fmt: skip
    report = contact.contact_report(
        message=message, by=tara.user, reason=ContactReport.Reason.SPAM, details="Unwanted."
    )
    return Targets(
        tara, wanda, organisation.slug, cluster.slug, event, session, registrations, feed.token,
        programme, match, brokerage, message, report,
    )  # fmt: skip


def a_brokerage_day_where_the_targets_met(cluster, tara, wanda) -> BrokerageDay:
    """A brokerage day of the targets' cluster: both registered (confirmed) with an offer and
    a request each, an accepted meeting between them placed and published, and a run of the
    scheduler started by Wanda, an organiser of the cluster."""
    event = BrokerageEventFactory(
        clusters=[cluster], title="Hydraulics Brokerage Day", slug="hydraulics-brokerage-day",
        scheduling=BrokerageSettings.Scheduling.SCHEDULER,
    )  # fmt: skip
    participants, items = [], []
    for profile in (tara, wanda):
        participant = ParticipantFactory(
            event=event, user=profile.user, headline=f"{profile.display_name} at Keller"
        )
        participants.append(participant)
        for direction in (MarketItem.Direction.OFFER, MarketItem.Direction.REQUEST):
            items.append(
                MarketItemFactory(
                    participant=participant,
                    direction=direction,
                    title=f"{profile.display_name}: {direction.label}",
                )  # fmt: skip
            )
    assert (
        Registration.objects.filter(
            event=event, user__in=[tara.user, wanda.user], status=Registration.Status.CONFIRMED
        ).count()
        == 2
    )
    meeting = accepted(
        participants[1], participants[0], slot=event.meeting_slots.order_by("starts_at").first(),
        table=event.meeting_tables.order_by("position").first(), published_at=timezone.now(),
    )  # fmt: skip
    run = scheduling.schedule_run(event=event, by=wanda.user)
    return BrokerageDay(event, participants, items, meeting, run)


def a_mentoring_programme_matching_the_targets(cluster, tara, wanda):
    """Tara asked for a woman mentor; Wanda, a woman, agreed to be matched on it; the
    matcher paired them, both accepted, met and gave feedback."""
    programme = ProgrammeFactory(
        clusters=[cluster], title="Leadership mentoring", allow_mentor_gender_preference=True
    )
    leadership = topic("Leadership")
    other = ProfileFactory(display_name="Other Organisation Mentor").user
    mentor = ApplicationFactory(
        programme=programme, user=wanda.user, role="mentor", topics=[leadership],
        gender_may_be_matched=True, organisation=None,
    )  # fmt: skip
    ApplicationFactory(programme=programme, user=other, role="mentor", topics=[leadership])
    mentee = ApplicationFactory(
        programme=programme, user=tara.user, topics=[leadership], preferred_mentor_gender="woman"
    )
    assert privacy.genders_for_matching(user_ids=[wanda.user.pk]) == {wanda.user.pk: "woman"}
    PairRule.objects.create(programme=programme, mentor=mentor, mentee=mentee, kind="lock")
    organiser = wanda.user
    mentoring.programme_match_run(programme=programme, by=organiser)
    mentoring.programme_publish(programme=programme, by=organiser)
    match = Match.objects.get(programme=programme, mentee=mentee)
    for user in (wanda.user, tara.user):
        mentoring.match_respond(match=match, by=user, accept=True)
    mentoring.meeting_log_add(
        match=match, by=tara.user, met_on=timezone.localdate(), notes="First talk."
    )
    mentoring.feedback_submit(match=match, by=tara.user, rating=5, comment="Great.")
    Circle.objects.create(programme=programme, mentor=mentor, name="Leadership circle")
    assert MeetingLog.objects.exists() and Feedback.objects.exists()
    assert Application.objects.filter(preferred_mentor_gender="woman").exists()
    return programme, match


def a_conference_with_the_targets_on_stage(cluster, tara, wanda):
    """Both targets registered and on a panel, next to a guest whose gender is on record."""
    start = timezone.now() + timedelta(days=10)
    event = Event.objects.create(
        kind=Event.Kind.CONFERENCE,
        title="Automation Days",
        slug="automation-days",
        starts_at=start,
        ends_at=start + timedelta(hours=8),
        status=Event.Status.PUBLISHED,
        audience=Event.Audience.MEMBERS,
        online_url="https://meet.example.org/automation-days",
    )
    event.clusters.add(cluster)
    session = Session.objects.create(
        event=event,
        kind=Session.Kind.PANEL,
        title="Leadership on the shop floor",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    StageRole.objects.create(event=event, session=session, role="panellist", profile=tara)
    StageRole.objects.create(event=event, session=session, role="moderator", profile=wanda)
    StageRole.objects.create(
        event=event,
        session=session,
        role="panellist",
        guest_name="Greta Gast",
        guest_organisation="Guest Institute",
        guest_gender="woman",
        guest_gender_consent=True,
    )
    StageRole.objects.create(
        event=event,
        role="speaker",
        guest_name="Kira Keynote",
        guest_gender="woman",
        guest_gender_consent=True,
    )
    Invitation.objects.create(event=event, email=tara.user.email)
    registrations = []
    for profile in (tara, wanda):
        registrations.append(services.event_register(event=event, user=profile.user))
        services.event_register(event=event, user=profile.user, session=session)
    return event, session, registrations


@pytest.fixture
def viewers(cluster, organisation, targets) -> dict[str, User]:
    organiser = ProfileFactory(display_name="Otto Organiser").user
    ClusterOrganiserFactory(cluster=cluster, user=organiser)
    staff = StaffFactory(email="admin@example.org")
    ProfileFactory(user=staff, display_name="Staff Person")
    fellow = ProfileFactory(display_name="Bruno Weiss", organisation=organisation).user
    for viewer in (fellow, organiser, staff):
        # Registered viewers can open their own QR code and invitation too.
        services.event_register(event=targets.event, user=viewer)
    return {
        "member of the same cluster": fellow,
        "organiser of the cluster": organiser,
        "staff": staff,
    }


# --- finding and filling every URL pattern ----------------------------------------------


ADMIN_OBJECT = re.compile(r"admin/(\w+)/(\w+)/<path:object_id>/(?:\w+/)?")


def admin_objects(model, targets: Targets) -> list:
    """The most revealing objects of a model: the targets' own, else any."""
    if model is User:
        return targets.users
    if any(f.name == "user" and f.related_model is User for f in model._meta.fields):
        return list(model.objects.filter(user__in=targets.users))
    return list(model.objects.order_by("pk")[:2])


def a_campaign(targets: Targets) -> Campaign:
    """A sent campaign to the targets' cluster, with both targets among its recipients."""
    campaign = Campaign.objects.filter(event=targets.event).first()
    if campaign is None:
        organiser = targets.users[1]
        campaign = Campaign.objects.create(
            event=targets.event, created_by=organiser, status=Campaign.Status.SENT
        )
        campaign.clusters.set(targets.event.clusters.all())
        for user in targets.users:
            CampaignRecipient.objects.create(campaign=campaign, email=user.email, user=user)
    return campaign


def import_job_fillings(route: str, targets: Targets) -> list[dict[str, str]]:
    """Imports Wanda (an organiser) ran: the conference's attendance, naming both targets;
    a CRM preview and its import. Staff may open them; the other viewers get 404."""
    from events import attendance_jobs
    from members import crm_import
    from members.models import Cluster

    wanda = targets.woman.user
    if route.startswith("events/"):
        listed = "Name,Email\n" + "".join(f"Someone,{user.email}\n" for user in targets.users)
        job = attendance_jobs.attendance_import_queue(
            event=targets.event, by=wanda, file_name="zoom.csv", content=listed.encode()
        )
        attendance_jobs.attendance_import_run(job_id=job.pk)
        return [{"slug": targets.event.slug, "job_id": str(job.pk)}]
    cluster = Cluster.objects.get(slug=targets.cluster_slug)
    preview = crm_import.crm_import_preview_queue(
        cluster=cluster, by=wanda, file_name="crm.csv", text="name,country\nAcme,AT\n"
    )
    crm_import.crm_import_preview_run(job_id=preview.pk)
    applied = crm_import.crm_import_apply_queue(preview=preview, cluster=cluster, by=wanda)
    crm_import.crm_import_apply_run(job_id=applied.pk)
    return [{"slug": targets.cluster_slug, "job_id": str(job.pk)} for job in (preview, applied)]


def fillings(route: str, targets: Targets) -> list[dict[str, str]] | None:
    """Values for a route's parameters; None when the test does not know how to fill it."""
    names = parameters(route)
    if not names:
        return [{}]
    pks = [{"pk": str(p.pk)} for p in targets.profiles]
    explicit = {
        "members/<int:pk>/": pks,
        "members/<int:pk>/photo/": pks,
        "api/v1/members/<int:pk>/": pks,
        "organisations/<slug:slug>/": [{"slug": targets.organisation_slug}],
        "clusters/<slug:slug>/": [{"slug": targets.cluster_slug}],
        "clusters/<slug:slug>/manage/": [{"slug": targets.cluster_slug}],
        "clusters/<slug:slug>/manage/memberships/": [{"slug": targets.cluster_slug}],
        "clusters/<slug:slug>/manage/import/": [{"slug": targets.cluster_slug}],
        "organisations/<slug:slug>/people/": [{"slug": targets.organisation_slug}],
        "admin/members/user/<id>/password/": [{"id": str(u.pk)} for u in targets.users],
        "events/feeds/me/<str:token>.ics": [{"token": targets.feed_token}],
        "events/feeds/cluster/<slug:cluster_slug>.ics": [{"cluster_slug": targets.cluster_slug}],
        "events/balance/<slug:cluster_slug>/": [{"cluster_slug": targets.cluster_slug}],
        "events/balance/<slug:cluster_slug>/balance.csv": [{"cluster_slug": targets.cluster_slug}],
        "events/balance/<slug:cluster_slug>/report/<int:year>/": [
            {"cluster_slug": targets.cluster_slug, "year": str(targets.event.starts_at.year)}
        ],
        "api/v1/events/<int:pk>/": [{"pk": str(targets.event.pk)}],
        "api/v1/events/<int:pk>/register/": [{"pk": str(targets.event.pk)}],
        "api/v1/events/<int:pk>/cancel/": [{"pk": str(targets.event.pk)}],
        "admin/(?P<url>.*)$": [{"url": "no-such-admin-page/"}],
        "members/<int:pk>/contact/": pks,
        "contact/report/<str:token>/": [
            {"token": contact.report_token(message=targets.contact_message)}
        ],
        "clusters/<slug:slug>/manage/contact-reports/": [{"slug": targets.cluster_slug}],
        "events/<slug:slug>/balance/brokerage/": [
            {"slug": targets.brokerage.event.slug},
            {"slug": targets.event.slug},
        ],
        "unsubscribe/<str:token>/": [
            {"token": unsubscribe_token(user=u, kind=kind)}
            for u in targets.users
            for kind in OPTIONAL_KINDS
        ],
    }
    if route in explicit:
        return explicit[route]
    if route.startswith("mentoring/"):
        return mentoring_fillings(route, names, targets)
    if route.startswith(("networking/", "api/v1/brokerage/")):
        return brokerage_fillings(route, names, targets)
    if route.startswith("events/") and names == ("slug",):
        return [{"slug": targets.event.slug}]
    if route.startswith("events/") and names == ("slug", "session_id"):
        return [{"slug": targets.event.slug, "session_id": str(targets.session.pk)}]
    if names == ("slug", "job_id"):
        return import_job_fillings(route, targets)
    if route.startswith("events/") and names == ("slug", "campaign_id"):
        return [{"slug": targets.event.slug, "campaign_id": str(a_campaign(targets).pk)}]
    if route == "events/rsvp/<str:token>/":
        return [
            {"token": campaigns.rsvp_token(campaign=a_campaign(targets), email=u.email)}
            for u in targets.users
        ]
    if route.startswith("events/") and names == ("slug", "token"):
        return [
            {"slug": targets.event.slug, "token": checkin_token(registration_id=r.pk)}
            for r in targets.registrations
        ]
    if names == ("key",) and "confirm-email" in route:
        return [
            {"key": EmailConfirmationHMAC(EmailAddress.objects.get(user=u)).key}
            for u in targets.users
        ]
    if names == ("uidb36", "key"):
        return [
            {"uidb36": int_to_base36(u.pk), "key": default_token_generator.make_token(u)}
            for u in targets.users
        ]
    if names == ("content_type_id", "object_id"):
        return [
            {
                "content_type_id": str(ContentType.objects.get_for_model(obj).pk),
                "object_id": str(obj.pk),
            }
            for obj in [*targets.profiles, *targets.users]
        ]
    if names == ("app_label",):
        labels = sorted({model._meta.app_label for model in admin.site._registry})
        return [{"app_label": label} for label in labels]
    if match := ADMIN_OBJECT.fullmatch(route):
        model = apps.get_model(match.group(1), match.group(2))
        objects = admin_objects(model, targets)
        assert objects, f"create a {model.__name__} in the fixtures so {route} can be opened"
        return [{"object_id": str(obj.pk)} for obj in objects]
    return None


def mentoring_fillings(route: str, names: tuple[str, ...], targets: Targets) -> list[dict]:
    """The targets' programme, their applications, their match, the organisers' rule."""
    slug = {"slug": targets.programme.slug}
    if names == ("slug",):
        return [slug]
    if names == ("slug", "role"):
        return [{**slug, "role": role} for role in ("mentee", "mentor")]
    if "/applications/" in route:
        pks = targets.programme.applications.filter(user__in=targets.users).values_list("pk")
    elif "/rules/" in route:
        pks = targets.programme.pair_rules.values_list("pk")
    elif "/matches/" in route:
        pks = [(targets.match.pk,)]
    else:
        return None
    return [{**(slug if "slug" in names else {}), "pk": str(pk)} for (pk,) in pks]


def brokerage_fillings(route: str, names: tuple[str, ...], targets: Targets) -> list[dict] | None:
    """The targets' brokerage day: its block, slots and tables, the targets' participants,
    their offers and requests, and their meeting."""
    day = targets.brokerage
    event = day.event
    pks = {
        "block_id": list(event.meeting_blocks.values_list("pk", flat=True)),
        "slot_id": list(event.meeting_slots.values_list("pk", flat=True)),
        "table_id": list(event.meeting_tables.values_list("pk", flat=True)),
        "meeting_id": [day.meeting.pk],
    }
    if "/offers/" in route:
        pks["pk"] = [item.pk for item in day.items]
    elif "/people/" in route:
        pks["pk"] = [p.pk for p in day.participants]
    elif "meeting/" in route or "/requests/" in route:
        pks["pk"] = [day.meeting.pk]
    values: list[dict] = [{"slug": event.slug} if "slug" in names else {}]
    for name in names:
        if name == "slug":
            continue
        if name not in pks:
            return None
        values = [{**v, name: str(pk)} for v in values for pk in pks[name]]
    return values


def paths_to_visit(targets: Targets) -> dict[str, list[str]]:
    """Every pattern's concrete paths, keyed by route. Fails on a pattern it cannot fill."""
    unfillable, visits = [], {}
    for route in all_routes():
        if route in NOT_RENDERABLE_BY_GET:
            continue
        values = fillings(route, targets)
        if values is None:
            unfillable.append(f"{route} {parameters(route)}")
            continue
        visits[route] = [substitute(route, v) for v in values]
        for path in visits[route]:
            resolved = resolve(path.split("?")[0]).route
            assert resolved == route, f"{path} resolves to {resolved}, not to {route}"
    assert not unfillable, "teach this test to fill:\n" + "\n".join(unfillable)
    return visits


# --- the tests ------------------------------------------------------------------------


def test_allow_lists_name_real_patterns():
    routes = set(all_routes())

    assert set(NOT_RENDERABLE_BY_GET) <= routes
    assert set(WORD_EXPECTED) <= routes


@pytest.mark.parametrize(
    "viewer_kind", ["member of the same cluster", "organiser of the cluster", "staff"]
)
def test_no_page_of_the_site_shows_another_members_gender(
    client, targets, viewers, viewer_kind, settings
):
    # Every gender release due at once (the event and the programme are still to come),
    # so the figures pages show released figures, not only the notice of a release.
    settings.PRIVACY_RELEASE_AFTER_HOURS = -10 * 365 * 24
    viewer = viewers[viewer_kind]
    visits = paths_to_visit(targets)
    leaks, statuses = [], {}

    def visit(route: str, path: str, **headers) -> None:
        client.force_login(viewer)  # some allauth pages sign a foreign key's viewer out
        response = client.get(path, **headers)
        assert response.status_code < 500, path
        statuses[path] = response.status_code
        text = body(response)
        if SELF_DESCRIPTION in text:
            leaks.append(f"{path}: the self-description")
        if route not in WORD_EXPECTED and WOMAN.search(text):
            leaks.append(f"{path}: the word 'woman'")

    for route, paths in visits.items():
        for path in paths:
            visit(route, path)
            if path.startswith("/api/"):
                visit(route, path, HTTP_ACCEPT="text/html")  # the browsable API
    for path in EXTRA_PATHS:
        visit(resolve(path.split("?")[0]).route, path)

    assert not leaks, "\n".join(leaks)

    # The figures pages that opened showed the targets' event and programme released.
    if viewer_kind != "member of the same cluster":
        assert Release.objects.filter(event=targets.event).exists()
        assert Release.objects.filter(programme=targets.programme).exists()

    # The test saw the targets: their pages opened, so a leak would have been caught.
    for profile in targets.profiles:
        assert statuses[f"/members/{profile.pk}/"] == 200
        assert statuses[f"/api/v1/members/{profile.pk}/"] == 200
    assert statuses[f"/members/{targets.self_described.pk}/photo/"] == 200
    if viewer_kind != "member of the same cluster":
        assert statuses[f"/clusters/{targets.cluster_slug}/manage/"] == 200
    if viewer_kind == "staff":
        for user in targets.users:
            assert statuses[f"/admin/members/user/{user.pk}/change/"] == 200
            record = user.gender_identity
            assert statuses[f"/admin/members/genderidentity/{record.pk}/change/"] == 200
        for profile in targets.profiles:
            assert statuses[f"/admin/members/profile/{profile.pk}/change/"] == 200


def test_the_gender_form_of_a_viewer_is_not_prefilled_with_someone_elses(
    client_for, targets, viewers
):
    page = client_for(viewers["member of the same cluster"]).get("/me/gender/").content.decode()

    assert not re.search(r'value="woman"[^>]*checked', page)
    assert not re.search(r'value="self_described"[^>]*checked', page)
    assert re.search(r'value="undisclosed"[^>]*checked', page)


def test_the_owner_does_see_their_own_gender(client_for, targets):
    tara = client_for(targets.self_described.user)
    wanda = client_for(targets.woman.user)

    assert SELF_DESCRIPTION in tara.get("/me/").content.decode()
    assert SELF_DESCRIPTION in tara.get("/me/data.json").content.decode()
    assert WOMAN.search(wanda.get("/me/").content.decode())
    assert '"gender": "woman"' in wanda.get("/me/data.json").content.decode()
