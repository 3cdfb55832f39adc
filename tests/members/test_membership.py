"""Membership that means something: a person's link to an organisation is a request until
the organisation's admins, the cluster's organisers or a domain rule confirm it; cluster
membership of organisations has a status and dates; every decision is mailed and logged.

Checked where people notice it — the event pages, the directory, the requests page, the
campaign audience and the published pipeline — through `members.membership`."""

import contextlib
from datetime import date, datetime, time, timedelta

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events import campaigns
from events.models import Registration
from insights import services as insights_services
from insights.models import ReleasedCell
from members import membership, selectors
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    MembershipLog,
    OrganisationDomain,
    Profile,
    User,
)
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory, RegistrationFactory
from tests.factories import (
    ClusterFactory,
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
    UserFactory,
)
from tests.insights.drawing import draw_quarter

pytestmark = pytest.mark.django_db

A = Affiliation.Status
Action = MembershipLog.Action
NEW_PASSWORD = "a-Long-and-Unusual-pass-42"


# --- helpers ---------------------------------------------------------------------------


def today():
    return timezone.localdate()


def admin_of(organisation, **profile) -> User:
    """A confirmed member of `organisation` who is one of its admins."""
    admin_profile = ProfileFactory(organisation=organisation, **profile)
    Affiliation.objects.filter(user=admin_profile.user, status=A.CONFIRMED).update(is_admin=True)
    return admin_profile.user


def person(email: str, *, verified: bool = True, name: str = "") -> User:
    """A signed-up person with a profile and no organisation; their address verified or not."""
    user = UserFactory(email=email, email_address=False)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    ProfileFactory(user=user, display_name=name or f"Person {email}")
    return user


def confirmed_since(user, day) -> None:
    """Backdate a person's confirmed affiliation: they have worked there since `day`."""
    at = timezone.make_aware(datetime.combine(day, time(12)))
    Affiliation.objects.filter(user=user).update(requested_at=at, decided_at=at)


def mails(kind: str) -> list[str]:
    """Recipients of the outbox messages of one membership kind, in the order written."""
    return list(
        OutboxMessage.objects.filter(kind=f"membership.{kind}")
        .order_by("pk")
        .values_list("recipient", flat=True)
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def event_page(client, event) -> int:
    return client.get(reverse("events:detail", kwargs={"slug": event.slug})).status_code


def page(response) -> str:
    return response.content.decode()


def history(user) -> list[dict]:
    return list(Registration.objects.filter(user=user).order_by("pk").values())


@pytest.fixture
def admin(organisation) -> User:
    return admin_of(organisation, display_name="Greta Admin")


@pytest.fixture
def members_event(cluster):
    return EventFactory(clusters=[cluster], title="Members' robotics day")


@pytest.fixture
def other_organiser(other_cluster) -> User:
    user = ProfileFactory(display_name="Pierre Organiser").user
    ClusterOrganiserFactory(cluster=other_cluster, user=user)
    return user


@pytest.fixture
def acme(cluster):
    return OrganisationFactory(name="Acme Robotics", slug="acme", clusters=[cluster])


@pytest.fixture
def acme_rule(acme, staff):
    return membership.domain_add(organisation=acme, domain="acme.example", by=staff)


# --- 1. a stranger signs up and waits outside until confirmed ---------------------------


def test_a_stranger_who_signs_up_stays_outside_until_the_organisation_admin_confirms(
    cluster, organisation, admin, member, organiser, members_event
):
    stranger_client = Client()
    response = stranger_client.post(
        reverse("account_signup"),
        {
            "email": "ines.duarte@newcomer.example",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "display_name": "Inês Duarte",
        },
    )
    assert response.status_code == 302
    stranger = User.objects.get(email="ines.duarte@newcomer.example")

    response = stranger_client.post(
        reverse("members:my_organisation"),
        {"action": "request", "organisation": organisation.pk},
    )
    assert response.status_code == 302
    request = Affiliation.objects.get(user=stranger)
    assert request.status == A.REQUESTED

    # Before confirmation: an ordinary signed-in visitor.
    register_url = reverse("events:register", kwargs={"slug": members_event.slug})
    assert event_page(stranger_client, members_event) == 404
    assert stranger_client.post(register_url).status_code == 404
    assert not Registration.objects.filter(user=stranger).exists()
    profile_url = reverse("members:profile_detail", kwargs={"pk": member.pk})
    assert stranger_client.get(profile_url).status_code == 404
    assert member not in selectors.profiles_visible_to(viewer=stranger)
    assert list(selectors.clusters_for_user(user=stranger)) == []
    assert not selectors.user_is_member(user=stranger)
    campaign = campaigns.campaign_create(event=members_event, by=organiser, clusters=[cluster])
    audience, _ = campaigns.campaign_audience(campaign=campaign)
    assert member.user in audience
    assert stranger not in audience
    this_day = (today(), today() + timedelta(days=1))
    counted = selectors.cluster_member_users(cluster=cluster, start=this_day[0], end=this_day[1])
    assert member.user in counted
    assert stranger not in counted
    assert mails("affiliation_requested") == [admin.email]
    [asked] = OutboxMessage.objects.filter(kind="membership.affiliation_requested")
    assert "Inês Duarte" in asked.body_text
    assert reverse("members:membership_requests") in asked.body_text

    before = timezone.now()
    response = signed_in(admin).post(
        reverse("members:membership_requests"),
        {"decision": "confirm", "affiliation": [request.pk]},
    )
    assert response.status_code == 302

    assert stranger in campaigns.campaign_audience(campaign=campaign)[0]
    assert stranger in selectors.cluster_member_users(
        cluster=cluster, start=this_day[0], end=this_day[1]
    )
    assert list(selectors.clusters_for_user(user=stranger)) == [cluster]
    assert stranger_client.get(profile_url).status_code == 200
    assert event_page(stranger_client, members_event) == 200
    assert stranger_client.post(register_url).status_code == 302
    assert Registration.objects.get(user=stranger, event=members_event).status == "confirmed"
    assert mails("affiliation_confirmed") == [stranger.email]
    log = MembershipLog.objects.get(action=Action.CONFIRMED, person=stranger)
    assert log.actor == admin
    assert log.organisation == organisation
    assert before <= log.at <= timezone.now()
    request.refresh_from_db()
    assert (request.status, request.confirmed_via) == (A.CONFIRMED, "organisation_admin")
    assert Profile.objects.get(user=stranger).organisation == organisation


def test_a_request_to_an_organisation_without_admins_goes_to_its_clusters_organisers(
    cluster, organisation, organiser, other_organiser
):
    newcomer = person("noor@newcomer.example")

    membership.affiliation_request(user=newcomer, organisation=organisation)

    assert mails("affiliation_requested") == [organiser.email]


# --- 2. the domain rule -----------------------------------------------------------------


def test_a_verified_address_at_the_domain_joins_at_once_when_asking(cluster, acme, acme_rule):
    engineer = person("x@acme.example")

    affiliation = membership.affiliation_request(user=engineer, organisation=acme)

    assert (affiliation.status, affiliation.confirmed_via) == (A.CONFIRMED, "domain")
    assert Profile.objects.get(user=engineer).organisation == acme
    assert list(selectors.clusters_for_user(user=engineer)) == [cluster]
    assert mails("affiliation_requested") == []  # nobody has to answer
    assert mails("affiliation_confirmed") == ["x@acme.example"]
    log = MembershipLog.objects.get(action=Action.CONFIRMED, person=engineer)
    assert log.actor is None  # decided by the rule


def test_confirming_an_address_at_the_domain_through_allauth_joins_at_once(
    cluster, acme, acme_rule
):
    engineer = person("ines@home.example")
    address = EmailAddress.objects.create(
        user=engineer, email="ines@acme.example", primary=False, verified=False
    )
    assert membership.affiliation_apply_address_rules(user=engineer) is None
    assert not Affiliation.objects.filter(user=engineer).exists()

    key = EmailConfirmationHMAC(address).key
    response = Client().post(reverse("account_confirm_email", kwargs={"key": key}))

    assert response.status_code == 302
    assert EmailAddress.objects.get(pk=address.pk).verified
    affiliation = Affiliation.objects.get(user=engineer)
    assert (affiliation.status, affiliation.confirmed_via) == (A.CONFIRMED, "domain")
    assert affiliation.organisation == acme
    assert list(selectors.clusters_for_user(user=engineer)) == [cluster]


def test_signing_up_with_an_address_at_the_domain_joins_only_once_it_is_confirmed(acme, acme_rule):
    client = Client()
    client.post(
        reverse("account_signup"),
        {
            "email": "joao@acme.example",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "display_name": "João Pereira",
        },
    )
    newcomer = User.objects.get(email="joao@acme.example")
    assert not Affiliation.objects.filter(user=newcomer).exists()  # typed, not verified
    membership.affiliation_request(user=newcomer, organisation=acme)
    assert Affiliation.objects.get(user=newcomer).status == A.REQUESTED

    key = EmailConfirmationHMAC(EmailAddress.objects.get(user=newcomer)).key
    client.post(reverse("account_confirm_email", kwargs={"key": key}))

    affiliation = Affiliation.objects.get(user=newcomer)
    assert (affiliation.status, affiliation.confirmed_via) == (A.CONFIRMED, "domain")


def test_an_unverified_address_at_the_domain_is_only_a_request(acme, acme_rule, admin):
    claimant = person("x@acme.example", verified=False)
    EmailAddress.objects.create(user=claimant, email="x@home.example", verified=True)

    affiliation = membership.affiliation_request(user=claimant, organisation=acme)

    assert affiliation.status == A.REQUESTED
    assert Profile.objects.get(user=claimant).organisation is None
    assert list(selectors.clusters_for_user(user=claimant)) == []
    assert membership.affiliation_apply_address_rules(user=claimant) is None
    assert Affiliation.objects.get(user=claimant).status == A.REQUESTED


@pytest.mark.parametrize(
    "address",
    [
        "x@acme.example.evil",
        "x@evilacme.example",
        "x@mail.acme.example",
        "x@\u0430cme.example",  # Cyrillic а: looks like acme.example
    ],
)
def test_look_alike_domains_do_not_join(address, cluster, acme, acme_rule):
    impostor = person(address)

    assert membership.affiliation_apply_address_rules(user=impostor) is None
    affiliation = membership.affiliation_request(user=impostor, organisation=acme)

    assert affiliation.status == A.REQUESTED
    assert Profile.objects.get(user=impostor).organisation is None
    assert list(selectors.clusters_for_user(user=impostor)) == []


def test_the_domain_is_matched_whatever_its_case(acme, acme_rule):
    shouting = person("X@ACME.Example")

    affiliation = membership.affiliation_request(user=shouting, organisation=acme)

    assert (affiliation.status, affiliation.confirmed_via) == (A.CONFIRMED, "domain")


def test_a_domain_rule_written_in_capitals_matches_lower_case_addresses(acme, staff):
    membership.domain_add(organisation=acme, domain="@ACME.Example.", by=staff)
    engineer = person("x@acme.example")

    assert OrganisationDomain.objects.get().domain == "acme.example"
    assert membership.affiliation_request(user=engineer, organisation=acme).status == A.CONFIRMED


# --- 3. managing domain rules -----------------------------------------------------------


def test_an_organisation_admin_may_add_only_the_domain_of_their_own_verified_address(acme):
    boss = admin_of(acme, user=UserFactory(email="boss@acme.example"))

    with pytest.raises(ValidationError) as refused:
        membership.domain_add(organisation=acme, domain="rival.example", by=boss)
    assert refused.value.code == "not_own_domain"
    with pytest.raises(ValidationError):
        membership.domain_add(organisation=acme, domain="mail.acme.example", by=boss)
    assert not OrganisationDomain.objects.exists()

    rule = membership.domain_add(organisation=acme, domain="ACME.example", by=boss)
    assert (rule.organisation, rule.domain) == (acme, "acme.example")
    log = MembershipLog.objects.get(action=Action.DOMAIN_ADDED)
    assert (log.actor, log.organisation, log.detail) == (boss, acme, "acme.example")


def test_an_admin_whose_address_at_the_domain_is_not_verified_cannot_add_it(acme):
    boss = admin_of(acme, user=UserFactory(email="boss@acme.example", email_address=False))
    EmailAddress.objects.create(user=boss, email="boss@acme.example", verified=False)

    with pytest.raises(ValidationError):
        membership.domain_add(organisation=acme, domain="acme.example", by=boss)
    assert not OrganisationDomain.objects.exists()


def test_an_admin_is_refused_another_domain_on_the_people_page_too(acme):
    boss = admin_of(acme, user=UserFactory(email="boss@acme.example"))

    response = signed_in(boss).post(
        reverse("members:organisation_people", kwargs={"slug": acme.slug}),
        {"action": "add_domain", "domain": "rival.example"},
    )

    assert response.status_code == 400
    assert "your own verified" in page(response)
    assert not OrganisationDomain.objects.exists()


@pytest.mark.parametrize("decider", ["gmail_admin", "organiser", "staff"])
def test_free_mail_domains_are_refused_for_everyone(decider, acme, organiser, staff):
    gmail_admin = admin_of(acme, user=UserFactory(email="acme.boss@gmail.com"))
    by = {"gmail_admin": gmail_admin, "organiser": organiser, "staff": staff}[decider]

    with pytest.raises(ValidationError) as refused:
        membership.domain_add(organisation=acme, domain="Gmail.com", by=by)

    assert refused.value.code == "free_mail"
    assert not OrganisationDomain.objects.exists()


def test_a_domain_another_organisation_owns_is_refused(acme, organisation, organiser, staff):
    membership.domain_add(organisation=acme, domain="acme.example", by=staff)

    for spelling in ("acme.example", "ACME.example."):
        with pytest.raises(ValidationError) as refused:
            membership.domain_add(organisation=organisation, domain=spelling, by=organiser)
        assert refused.value.code == "domain_taken"
    assert list(OrganisationDomain.objects.values_list("organisation", "domain")) == [
        (acme.pk, "acme.example")
    ]


def test_adding_a_rule_confirms_the_pending_requests_of_verified_addresses_there(acme, organiser):
    verified = person("ada@acme.example")
    unverified = person("bob@acme.example", verified=False)
    elsewhere = person("cem@home.example")
    for someone in (verified, unverified, elsewhere):
        membership.affiliation_request(user=someone, organisation=acme)
    assert Affiliation.objects.filter(status=A.REQUESTED).count() == 3

    membership.domain_add(organisation=acme, domain="acme.example", by=organiser)

    status = dict(Affiliation.objects.values_list("user__email", "status"))
    assert status == {
        "ada@acme.example": A.CONFIRMED,
        "bob@acme.example": A.REQUESTED,
        "cem@home.example": A.REQUESTED,
    }
    assert Profile.objects.get(user=verified).organisation == acme
    assert mails("affiliation_confirmed") == ["ada@acme.example"]


def test_removing_a_rule_keeps_those_it_confirmed_and_confirms_nobody_new(
    acme, acme_rule, organiser
):
    early = person("ada@acme.example")
    membership.affiliation_request(user=early, organisation=acme)

    membership.domain_remove(rule=acme_rule, by=organiser)
    late = person("bob@acme.example")

    assert membership.affiliation_request(user=late, organisation=acme).status == A.REQUESTED
    assert Profile.objects.get(user=early).organisation == acme


# --- 4. former members ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left_in_days", "sees_it"),
    [(1, True), (0, False), (-30, False)],
    ids=["last day before leaving", "the day of leaving", "a month after"],
)
def test_a_former_member_loses_members_only_events_on_the_day_it_leaves(
    left_in_days, sees_it, cluster, organisation, organiser, member, members_event
):
    membership.cluster_membership_set(
        cluster=cluster,
        organisation=organisation,
        status=ClusterMembership.Status.FORMER,
        joined_on=None,
        left_on=today() + timedelta(days=left_in_days),
        by=organiser,
    )

    assert event_page(signed_in(member.user), members_event) == (200 if sees_it else 404)
    assert selectors.user_is_member(user=member.user) is sees_it


def test_an_organisation_whose_membership_starts_tomorrow_has_no_access_today(
    cluster, organisation, organiser, member, members_event
):
    membership.cluster_membership_set(
        cluster=cluster,
        organisation=organisation,
        status=ClusterMembership.Status.MEMBER,
        joined_on=today() + timedelta(days=1),
        left_on=None,
        by=organiser,
    )

    assert event_page(signed_in(member.user), members_event) == 404
    assert list(selectors.clusters_for_user(user=member.user)) == []


def test_a_former_member_still_counts_for_the_periods_it_was_a_member(
    cluster, organisation, organiser, admin, member
):
    left = today()
    for someone in (member.user, admin):
        confirmed_since(someone, left - timedelta(days=365))
    membership.cluster_membership_set(
        cluster=cluster,
        organisation=organisation,
        status=ClusterMembership.Status.FORMER,
        joined_on=None,
        left_on=left,
        by=organiser,
    )

    def counted(start, end):
        return set(selectors.cluster_member_users(cluster=cluster, start=start, end=end))

    assert counted(left - timedelta(days=90), left) == {member.user, admin}
    assert counted(left - timedelta(days=1), left) == {member.user, admin}
    assert counted(left, left + timedelta(days=1)) == set()
    assert mails("cluster_membership_changed") == [admin.email]


def test_the_pipeline_of_an_earlier_quarter_counts_an_organisation_that_has_left_since(
    settings, cluster, organisation, organiser
):
    settings.PRIVACY_NOISE_SIGMA = 0
    this_quarter, _ = insights_services.quarter_of(today())
    last_quarter, _ = insights_services.quarter_of(this_quarter - timedelta(days=1))
    stayer = OrganisationFactory(name="Stays GmbH", clusters=[cluster])
    for _ in range(3):
        confirmed_since(ProfileFactory(organisation=organisation).user, date(2020, 1, 1))
    for _ in range(2):
        confirmed_since(ProfileFactory(organisation=stayer).user, date(2020, 1, 1))
    membership.cluster_membership_set(
        cluster=cluster,
        organisation=organisation,
        status=ClusterMembership.Status.FORMER,
        joined_on=None,
        left_on=this_quarter,  # a member all of last quarter, none of this one
        by=organiser,
    )

    def members_counted(quarter) -> int:
        release = draw_quarter(cluster, quarter)
        return ReleasedCell.objects.get(release=release, measure="members").total

    assert members_counted(last_quarter) == 5
    assert members_counted(this_quarter) == 2


def test_figures_of_a_past_period_count_who_was_a_member_then(cluster, organisation, admin):
    """A person who has left the organisation since still counts for the period they were
    in it; a person confirmed after the period does not."""
    start, end = today() - timedelta(days=120), today() - timedelta(days=30)
    left_since = ProfileFactory(organisation=organisation, display_name="Left Since")
    confirmed_since(left_since.user, start - timedelta(days=10))
    membership.affiliation_end(
        affiliation=Affiliation.objects.get(user=left_since.user), by=left_since.user
    )
    joined_later = ProfileFactory(organisation=organisation, display_name="Joined Later")
    confirmed_since(admin, start - timedelta(days=10))

    then = set(selectors.cluster_member_users(cluster=cluster, start=start, end=end))

    assert then == {admin, left_since.user}
    assert list(selectors.clusters_for_user(user=left_since.user)) == []
    assert list(selectors.clusters_for_user(user=joined_later.user)) == [cluster]


def test_an_organiser_cannot_confirm_themselves_into_another_clusters_organisation(
    cluster, other_cluster, other_organisation, organiser, outsider
):
    other_event = EventFactory(clusters=[other_cluster], title="Maritime members only")
    membership.cluster_membership_set(
        cluster=cluster,
        organisation=other_organisation,
        status=ClusterMembership.Status.PARTNER,
        joined_on=None,
        left_on=None,
        by=organiser,
    )
    own_request = membership.affiliation_request(user=organiser, organisation=other_organisation)

    with contextlib.suppress(PermissionDenied):  # refusing is the fix we expect
        membership.affiliation_decide(affiliation=own_request, by=organiser, confirm=True)

    client = signed_in(organiser)
    assert event_page(client, other_event) == 404
    # (The organisation's people with cluster visibility are seen by the organiser now,
    # rightly: their organisation is a partner of the organiser's cluster.)
    assert Affiliation.objects.get(pk=own_request.pk).status == A.REQUESTED
    assert own_request not in selectors.pending_requests_for(user=organiser)


# --- 5. leaving and removal -------------------------------------------------------------


def test_leaving_ends_access_at_once_and_keeps_registrations_and_attendance(
    organisation, admin, member, members_event
):
    past = EventFactory(
        clusters=members_event.clusters.all(), starts_at=timezone.now() - timedelta(days=30)
    )
    RegistrationFactory(
        event=past, user=member.user, status="attended", checked_in_at=past.starts_at
    )
    RegistrationFactory(event=members_event, user=member.user)
    kept = history(member.user)
    client = signed_in(member.user)
    assert event_page(client, members_event) == 200

    response = client.post(reverse("members:my_organisation"), {"action": "leave"})

    assert response.status_code == 302
    assert event_page(client, members_event) == 404
    assert history(member.user) == kept
    assert Profile.objects.get(pk=member.pk).organisation is None
    affiliation = Affiliation.objects.get(user=member.user)
    assert affiliation.status == A.ENDED and affiliation.ended_at is not None
    log = MembershipLog.objects.get(action=Action.LEFT)
    assert (log.actor, log.person, log.organisation) == (member.user, member.user, organisation)
    assert mails("affiliation_left") == [admin.email]


def test_removal_on_the_people_page_ends_access_at_once_and_mails_the_person(
    organisation, admin, member, members_event
):
    RegistrationFactory(event=members_event, user=member.user)
    kept = history(member.user)
    affiliation = Affiliation.objects.get(user=member.user)

    response = signed_in(admin).post(
        reverse("members:organisation_people", kwargs={"slug": organisation.slug}),
        {"action": "remove", "affiliation": affiliation.pk},
    )

    assert response.status_code == 302
    assert event_page(signed_in(member.user), members_event) == 404
    assert history(member.user) == kept
    assert Profile.objects.get(pk=member.pk).organisation is None
    assert mails("affiliation_removed") == [member.user.email]
    log = MembershipLog.objects.get(action=Action.REMOVED)
    assert (log.actor, log.person) == (admin, member.user)


def test_an_organisation_admin_who_leaves_is_no_longer_an_admin(organisation, admin):
    affiliation = Affiliation.objects.get(user=admin)

    membership.affiliation_end(affiliation=affiliation, by=admin)

    affiliation.refresh_from_db()
    assert (affiliation.status, affiliation.is_admin) == (A.ENDED, False)
    assert list(selectors.organisation_admins(organisation=organisation)) == []
    client = signed_in(admin)
    assert client.get(reverse("members:membership_requests")).status_code == 404
    people = reverse("members:organisation_people", kwargs={"slug": organisation.slug})
    assert client.get(people).status_code == 404


@pytest.mark.parametrize("remover", ["the person", "admin", "organiser", "staff"])
def test_the_person_their_admin_their_organiser_and_staff_may_end_a_membership(
    remover, member, admin, organiser, staff
):
    by = {"the person": member.user, "admin": admin, "organiser": organiser, "staff": staff}
    affiliation = Affiliation.objects.get(user=member.user)

    membership.affiliation_end(affiliation=affiliation, by=by[remover])

    assert Affiliation.objects.get(pk=affiliation.pk).status == A.ENDED
    assert Profile.objects.get(pk=member.pk).organisation is None


@pytest.mark.parametrize(
    "remover", ["colleague", "admin elsewhere", "organiser elsewhere", "member elsewhere"]
)
def test_nobody_else_may_remove_a_member(
    remover, organisation, member, colleague, other_organisation, other_organiser, outsider
):
    by = {
        "colleague": colleague.user,
        "admin elsewhere": admin_of(other_organisation),
        "organiser elsewhere": other_organiser,
        "member elsewhere": outsider.user,
    }[remover]
    affiliation = Affiliation.objects.get(user=member.user)

    with pytest.raises(PermissionDenied):
        membership.affiliation_end(affiliation=affiliation, by=by)
    response = signed_in(by).post(
        reverse("members:organisation_people", kwargs={"slug": organisation.slug}),
        {"action": "remove", "affiliation": affiliation.pk},
    )

    assert response.status_code == 404
    assert Affiliation.objects.get(pk=affiliation.pk).status == A.CONFIRMED
    assert Profile.objects.get(pk=member.pk).organisation == organisation
    assert not MembershipLog.objects.filter(action=Action.REMOVED).exists()


# --- 6. decisions -----------------------------------------------------------------------


def test_declining_mails_the_person_and_keeps_them_outside(organisation, admin, members_event):
    newcomer = person("noor@newcomer.example")
    request = membership.affiliation_request(user=newcomer, organisation=organisation)

    membership.affiliation_decide(affiliation=request, by=admin, confirm=False)

    request.refresh_from_db()
    assert request.status == A.DECLINED and request.decided_at is not None
    assert mails("affiliation_declined") == [newcomer.email]
    assert Profile.objects.get(user=newcomer).organisation is None
    assert event_page(signed_in(newcomer), members_event) == 404
    log = MembershipLog.objects.get(action=Action.DECLINED)
    assert (log.actor, log.person, log.organisation) == (admin, newcomer, organisation)


@pytest.mark.parametrize("first", [True, False], ids=["confirmed", "declined"])
@pytest.mark.parametrize("second", [True, False], ids=["then confirm", "then decline"])
def test_a_decided_request_cannot_be_decided_again(first, second, organisation, admin, staff):
    newcomer = person("noor@newcomer.example")
    request = membership.affiliation_request(user=newcomer, organisation=organisation)
    membership.affiliation_decide(affiliation=request, by=admin, confirm=first)
    logged = MembershipLog.objects.count()

    with pytest.raises(ValidationError) as refused:
        membership.affiliation_decide(affiliation=request, by=staff, confirm=second)

    assert refused.value.code == "already_decided"
    assert Affiliation.objects.get(pk=request.pk).status == (A.CONFIRMED if first else A.DECLINED)
    assert MembershipLog.objects.count() == logged


def test_a_confirmed_member_cannot_ask_to_join_another_organisation(
    organisation, other_organisation, member
):
    with pytest.raises(ValidationError) as refused:
        membership.affiliation_request(user=member.user, organisation=other_organisation)

    [message] = refused.value.messages
    assert "Keller Antriebstechnik" in message and "Leave it first" in message
    assert list(Affiliation.objects.filter(user=member.user).values_list("status", flat=True)) == [
        A.CONFIRMED
    ]
    assert Profile.objects.get(pk=member.pk).organisation == organisation


def test_a_confirmed_member_asking_elsewhere_on_the_page_is_told_to_leave_first(
    organisation, other_organisation, member
):
    response = signed_in(member.user).post(
        reverse("members:my_organisation"),
        {"action": "request", "organisation": other_organisation.pk},
    )

    assert response.status_code == 400
    assert Profile.objects.get(pk=member.pk).organisation == organisation
    assert "Leave it first" in page(response)


def test_a_new_request_withdraws_a_pending_one_elsewhere(organisation, other_organisation):
    newcomer = person("noor@newcomer.example")
    first = membership.affiliation_request(user=newcomer, organisation=organisation)

    second = membership.affiliation_request(user=newcomer, organisation=other_organisation)

    first.refresh_from_db()
    assert first.status == A.WITHDRAWN and first.ended_at is not None
    assert second.status == A.REQUESTED
    assert selectors.affiliation_of(user=newcomer) == second
    log = MembershipLog.objects.get(action=Action.WITHDRAWN)
    assert (log.actor, log.organisation) == (newcomer, organisation)


def test_asking_the_same_organisation_twice_changes_nothing(organisation, admin):
    newcomer = person("noor@newcomer.example")
    first = membership.affiliation_request(user=newcomer, organisation=organisation)

    again = membership.affiliation_request(user=newcomer, organisation=organisation)

    assert again == first
    assert Affiliation.objects.filter(user=newcomer).count() == 1
    assert mails("affiliation_requested") == [admin.email]


def test_withdrawing_takes_the_request_off_the_deciders_list(organisation, admin, colleague):
    newcomer = person("noor@newcomer.example")
    request = membership.affiliation_request(user=newcomer, organisation=organisation)
    assert list(selectors.pending_requests_for(user=admin)) == [request]
    with pytest.raises(PermissionDenied):
        membership.affiliation_withdraw(affiliation=request, by=colleague.user)

    response = signed_in(newcomer).post(reverse("members:my_organisation"), {"action": "withdraw"})

    assert response.status_code == 302
    assert Affiliation.objects.get(pk=request.pk).status == A.WITHDRAWN
    assert list(selectors.pending_requests_for(user=admin)) == []
    assert selectors.affiliation_of(user=newcomer) is None


def test_a_confirmed_membership_cannot_be_withdrawn_only_left(member):
    affiliation = Affiliation.objects.get(user=member.user)

    with pytest.raises(ValidationError):
        membership.affiliation_withdraw(affiliation=affiliation, by=member.user)

    assert Affiliation.objects.get(pk=affiliation.pk).status == A.CONFIRMED


def test_every_decision_is_logged_with_who_and_when(cluster, organisation, admin, organiser, staff):
    start = timezone.now()
    ada = person("ada@newcomer.example")
    bob = person("bob@newcomer.example")

    request = membership.affiliation_request(user=ada, organisation=organisation)
    membership.affiliation_decide(affiliation=request, by=admin, confirm=True)
    membership.affiliation_set_admin(affiliation=request, by=organiser, is_admin=True)
    membership.affiliation_set_admin(affiliation=request, by=staff, is_admin=False)
    membership.affiliation_end(affiliation=request, by=admin)
    declined = membership.affiliation_request(user=bob, organisation=organisation)
    membership.affiliation_decide(affiliation=declined, by=organiser, confirm=False)
    rule = membership.domain_add(organisation=organisation, domain="keller.example", by=organiser)
    membership.domain_remove(rule=rule, by=staff)
    membership.cluster_membership_set(
        cluster=cluster,
        organisation=organisation,
        status=ClusterMembership.Status.PARTNER,
        joined_on=None,
        left_on=None,
        by=organiser,
    )
    end = timezone.now()

    log = MembershipLog.objects.order_by("pk")
    assert [(e.action, e.actor, e.person) for e in log] == [
        (Action.REQUESTED, ada, ada),
        (Action.CONFIRMED, admin, ada),
        (Action.ADMIN_GRANTED, organiser, ada),
        (Action.ADMIN_REVOKED, staff, ada),
        (Action.REMOVED, admin, ada),
        (Action.REQUESTED, bob, bob),
        (Action.DECLINED, organiser, bob),
        (Action.DOMAIN_ADDED, organiser, None),
        (Action.DOMAIN_REMOVED, staff, None),
        (Action.CLUSTER_CHANGED, organiser, None),
    ]
    assert all(e.organisation == organisation for e in log)
    assert all(start <= e.at <= end for e in log)
    assert log.last().cluster == cluster


# --- 7. pages ---------------------------------------------------------------------------


@pytest.fixture
def two_requests(organisation, other_organisation):
    """A pending request for an organisation of `cluster`, one for one of `other_cluster`."""
    ada = person("ada@newcomer.example", name="Ada Asks")
    yann = person("yann@newcomer.example", name="Yann Asks")
    return (
        membership.affiliation_request(user=ada, organisation=organisation),
        membership.affiliation_request(user=yann, organisation=other_organisation),
    )


def listed_requests(user) -> list[Affiliation]:
    response = signed_in(user).get(reverse("members:membership_requests"))
    assert response.status_code == 200
    return list(response.context["page_obj"].object_list)


def test_the_requests_page_lists_exactly_the_requests_the_viewer_answers_for(
    two_requests, organisation, admin, organiser, other_organiser, staff
):
    keller, le_goff = two_requests
    admin_elsewhere = admin_of(OrganisationFactory(clusters=[organisation.clusters.get()]))

    assert listed_requests(admin) == [keller]
    assert listed_requests(organiser) == [keller]
    assert listed_requests(other_organiser) == [le_goff]
    assert listed_requests(staff) == [keller, le_goff]
    assert listed_requests(admin_elsewhere) == []
    shown = page(signed_in(organiser).get(reverse("members:membership_requests")))
    assert "Ada Asks" in shown and "Yann Asks" not in shown


@pytest.mark.parametrize("viewer", ["plain member", "organiser of an unrelated cluster"])
def test_the_requests_page_is_not_found_for_people_who_answer_for_nobody(
    viewer, two_requests, colleague
):
    unrelated = ClusterFactory(name="Aerospace Valley")
    lonely_organiser = UserFactory()
    ClusterOrganiserFactory(cluster=unrelated, user=lonely_organiser)
    user = {"plain member": colleague.user, "organiser of an unrelated cluster": lonely_organiser}

    client = signed_in(user[viewer])

    assert client.get(reverse("members:membership_requests")).status_code == 404
    response = client.post(
        reverse("members:membership_requests"),
        {"decision": "confirm", "affiliation": [r.pk for r in two_requests]},
    )
    assert response.status_code == 404
    assert {r.status for r in Affiliation.objects.filter(pk__in=[r.pk for r in two_requests])} == {
        A.REQUESTED
    }


def test_an_organiser_cannot_confirm_a_request_of_another_clusters_organisation(
    two_requests, organiser
):
    keller, le_goff = two_requests

    signed_in(organiser).post(
        reverse("members:membership_requests"),
        {"decision": "confirm", "affiliation": [le_goff.pk]},
    )

    assert Affiliation.objects.get(pk=le_goff.pk).status == A.REQUESTED
    with pytest.raises(PermissionDenied):
        membership.affiliation_decide(affiliation=le_goff, by=organiser, confirm=True)


def test_the_people_page_opens_only_for_the_organisations_deciders(
    organisation, other_organisation, admin, organiser, staff, colleague, outsider,
    other_organiser,
):  # fmt: skip
    url = reverse("members:organisation_people", kwargs={"slug": organisation.slug})
    newcomer = person("noor@newcomer.example")
    membership.affiliation_request(user=newcomer, organisation=organisation)
    deciders = [admin, organiser, staff]
    others = [
        colleague.user,
        outsider.user,
        other_organiser,
        admin_of(other_organisation),
        newcomer,
    ]

    assert [signed_in(u).get(url).status_code for u in deciders] == [200, 200, 200]
    assert [signed_in(u).get(url).status_code for u in others] == [404] * 5


def test_my_organisation_page_shows_the_pending_then_the_confirmed_state(
    cluster, organisation, admin
):
    newcomer = person("noor@newcomer.example")
    client = signed_in(newcomer)
    url = reverse("members:my_organisation")
    assert "open once your organisation confirms" in page(client.get(url))

    client.post(url, {"action": "request", "organisation": organisation.pk})
    pending = page(client.get(url))
    assert "Your request to join Keller Antriebstechnik is waiting" in pending
    assert "You are a member of" not in pending

    request = Affiliation.objects.get(user=newcomer)
    membership.affiliation_decide(affiliation=request, by=admin, confirm=True)
    confirmed = page(client.get(url))
    assert "You are a member of Keller Antriebstechnik" in confirmed
    assert cluster.name in confirmed
    assert "is waiting" not in confirmed


def test_a_non_members_directory_page_says_it_opens_once_confirmed(organisation, member):
    newcomer = person("noor@newcomer.example", name="Noor Newcomer")
    membership.affiliation_request(user=newcomer, organisation=organisation)

    response = signed_in(newcomer).get(reverse("members:directory"))

    assert response.status_code == 200
    assert [p.display_name for p in response.context["page_obj"].object_list] == ["Noor Newcomer"]
    assert "The directory opens once your organisation confirms" in page(response)


def test_typing_an_organisation_into_the_profile_form_makes_nobody_a_member(
    organisation, members_event
):
    visitor = person("noor@newcomer.example", name="Noor Newcomer")
    client = signed_in(visitor)

    response = client.post(
        reverse("members:profile_edit"),
        {
            "display_name": "Noor Newcomer",
            "organisation": organisation.pk,
            "timezone": "Europe/Vienna",
            "mentoring_stance": "neither",
            "visibility": "cluster",
        },
    )

    assert response.status_code == 302
    assert Profile.objects.get(user=visitor).organisation is None
    assert event_page(client, members_event) == 404


# --- 8. the migration of existing data --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_existing_profiles_and_cluster_links_migrate_to_confirmed_memberships():
    before = [("members", "0006_stage_consent")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        old_cluster = old.get_model("members", "Cluster").objects.create(
            name="Legacy Cluster", slug="legacy", country="AT"
        )
        old_organisation = old.get_model("members", "Organisation").objects.create(
            name="Legacy GmbH", slug="legacy-gmbh", country="AT"
        )
        old_organisation.clusters.add(old_cluster)
        old_user = old.get_model("members", "User").objects.create(
            email="old.timer@legacy.example", password="!"
        )
        old_profile = old.get_model("members", "Profile").objects.create(
            user=old_user, display_name="Old Timer", organisation=old_organisation
        )
        long_ago = timezone.now() - timedelta(days=730)
        old.get_model("members", "Profile").objects.filter(pk=old_profile.pk).update(
            created_at=long_ago
        )
        unattached = old.get_model("members", "User").objects.create(
            email="loner@legacy.example", password="!"
        )
        old.get_model("members", "Profile").objects.create(
            user=unattached, display_name="Loner", organisation=None
        )

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

        user = User.objects.get(email="old.timer@legacy.example")
        cluster = Cluster.objects.get(slug="legacy")
        affiliation = Affiliation.objects.get(user=user)
        assert (affiliation.status, affiliation.confirmed_via) == (A.CONFIRMED, "existing")
        assert affiliation.organisation.slug == "legacy-gmbh"
        assert user.profile.organisation == affiliation.organisation
        current = ClusterMembership.objects.active_on(today()).get()
        assert (current.cluster, current.organisation) == (cluster, affiliation.organisation)
        assert current.status == ClusterMembership.Status.MEMBER
        assert list(selectors.clusters_for_user(user=user)) == [cluster]
        assert not Affiliation.objects.filter(user__email="loner@legacy.example").exists()
        # A member since the profile existed: figures of last year count them.
        last_year = today() - timedelta(days=365)
        assert user in selectors.cluster_member_users(
            cluster=cluster, start=last_year, end=last_year + timedelta(days=90)
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


def test_each_organiser_is_told_of_a_request_in_their_own_language(
    cluster, organisation, organiser, other_organiser
):
    from django.utils import translation
    from django.utils.translation import gettext

    Profile.objects.filter(user=organiser).update(preferred_language="de")
    # The other organiser has no choice on record (or no profile): the site's default.
    Profile.objects.filter(user=other_organiser).update(preferred_language="")
    other_organiser.organiser_roles.get_or_create(cluster=cluster)
    newcomer = person("noor@newcomer.example", name="Noor")

    with translation.override("ro"):  # the page the newcomer asked from
        membership.affiliation_request(user=newcomer, organisation=organisation)

    subjects = dict(
        OutboxMessage.objects.filter(kind="membership.affiliation_requested").values_list(
            "recipient", "subject"
        )
    )
    for user, language in ((organiser, "de"), (other_organiser, "en")):
        with translation.override(language):
            expected = gettext("%(name)s asks to join %(org)s") % {
                "name": "Noor",
                "org": organisation.name,
            }
        assert subjects[user.email] == expected, (language, subjects)
