"""The membership side of the demo network (`members/demo.py`): what an organiser and an
organisation admin see after `seed_demo`, and that running it again changes nothing."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from insights.models import Release, ReleasedCell
from insights.services import pipeline_release_draw, quarter_to_release
from members import membership, selectors
from members.demo import (
    DOMAIN_RULE,
    DOMAIN_RULE_ORGANISATION,
    FORMER_MEMBER,
    PENDING_EMAIL,
    demo_plan,
    demo_seed,
    recently_confirmed,
)
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    MembershipLog,
    Organisation,
    OrganisationDomain,
    Profile,
    User,
)
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory
from tests.factories import UserFactory

MECHATRONICS_ORGANISER = "organiser@mechatronics.example"
MARITIME_ORGANISER = "organiser@maritime.example"
ADMIN = "anna.keller@demo.example"
FORMER_PEOPLE = (
    "magdalena.wojcik@baltic-hull-coatings.example",
    "piotr.zielinski@baltic-hull-coatings.example",
)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The members demo once for this module, in a transaction rolled back at the end;
    each test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield demo_seed()
        transaction.set_rollback(True)


def _user(email: str) -> User:
    return User.objects.get(email=email)


def _snapshot() -> dict[str, list]:
    """Every membership row the seed writes, field by field."""
    return {
        "memberships": list(
            ClusterMembership.objects.order_by("pk").values_list(
                "pk", "cluster_id", "organisation_id", "status", "joined_on", "left_on"
            )
        ),
        "affiliations": list(
            Affiliation.objects.order_by("pk").values_list(
                "pk",
                "user_id",
                "organisation_id",
                "status",
                "is_admin",
                "confirmed_via",
                "requested_at",
                "decided_at",
                "ended_at",
            )
        ),  # fmt: skip
        "profiles": list(Profile.objects.order_by("pk").values_list("pk", "organisation_id")),
        "domains": list(OrganisationDomain.objects.order_by("pk").values_list()),
        "log": list(MembershipLog.objects.order_by("pk").values_list()),
        "outbox": list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True)),
    }


@pytest.mark.django_db
def test_every_demo_person_with_an_organisation_is_confirmed_there(seeded):
    plan = demo_plan()
    for person in plan.people:
        user = _user(person.email)
        affiliation = selectors.affiliation_of(user=user)
        if person.organisation:
            assert affiliation.status == Affiliation.Status.CONFIRMED, person.email
            assert affiliation.organisation.slug == person.organisation
            assert affiliation.confirmed_via in {
                Affiliation.Via.EXISTING,
                Affiliation.Via.ORGANISER,
            }
            assert affiliation.decided_at <= timezone.now()
            assert user.profile.organisation_id == affiliation.organisation_id
        else:
            assert user.profile.organisation_id is None, person.email
    confirmed = Affiliation.objects.filter(status=Affiliation.Status.CONFIRMED)
    assert confirmed.filter(confirmed_via=Affiliation.Via.ORGANISER).count() >= 3
    # The fixed member logins belong to their clusters today.
    for email in (ADMIN, "luca.romano@demo.example", "jan.devries@demo.example"):
        assert selectors.clusters_for_user(user=_user(email)).exists()


@pytest.mark.django_db
def test_memberships_are_years_old_and_a_few_are_partners(seeded):
    today = timezone.localdate()
    memberships = ClusterMembership.objects.all()
    assert memberships.filter(joined_on__isnull=True).count() == 0
    assert all(m.joined_on <= today - timedelta(days=2 * 365) for m in memberships)
    partners = memberships.filter(status=ClusterMembership.Status.PARTNER)
    assert 2 <= partners.count() < memberships.count() // 5
    assert all(m.is_active_on(today) for m in partners)


@pytest.mark.django_db
def test_the_pending_request_is_listed_for_the_clusters_organiser(seeded, client_for):
    requester = _user(PENDING_EMAIL)
    request = selectors.affiliation_of(user=requester)
    assert request.status == Affiliation.Status.REQUESTED
    assert request.organisation.slug == DOMAIN_RULE_ORGANISATION
    assert requester.profile.organisation is None
    assert not selectors.clusters_for_user(user=requester).exists()

    for email in (MECHATRONICS_ORGANISER, ADMIN):  # the cluster's organiser, the admin
        response = client_for(_user(email)).get(reverse("members:membership_requests"))
        assert response.status_code == 200
        assert [a.pk for a in response.context["page_obj"].object_list] == [request.pk]
        assert PENDING_EMAIL in response.content.decode()
    # Another cluster's organiser does not answer for this company.
    response = client_for(_user(MARITIME_ORGANISER)).get(reverse("members:membership_requests"))
    assert request.pk not in [a.pk for a in response.context["page_obj"].object_list]


@pytest.mark.django_db
def test_the_subsidiarys_subdomain_does_not_pass_the_domain_rule(seeded):
    requester = _user(PENDING_EMAIL)
    assert EmailAddress.objects.get(user=requester).verified

    membership.affiliation_apply_address_rules(user=requester)

    assert selectors.affiliation_of(user=requester).status == Affiliation.Status.REQUESTED


@pytest.mark.django_db
def test_the_domain_rule_company_has_its_rule_and_one_admin(seeded, client_for):
    company = Organisation.objects.get(slug=DOMAIN_RULE_ORGANISATION)
    assert list(company.domains.values_list("domain", flat=True)) == [DOMAIN_RULE]
    assert list(selectors.organisation_admins(organisation=company)) == [_user(ADMIN)]

    response = client_for(_user(ADMIN)).get(
        reverse("members:organisation_people", kwargs={"slug": company.slug})
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert DOMAIN_RULE in page
    assert response.context["log"]

    # The rule works: a verified address exactly at the domain joins at once.
    newcomer = UserFactory(email=f"new.hire@{DOMAIN_RULE}")
    affiliation = membership.affiliation_request(user=newcomer, organisation=company)
    assert affiliation.status == Affiliation.Status.CONFIRMED
    assert affiliation.confirmed_via == Affiliation.Via.DOMAIN


@pytest.mark.django_db
def test_the_former_members_people_no_longer_see_members_only_events(seeded, client_for):
    former = Organisation.objects.get(slug=FORMER_MEMBER.slug)
    maritime = Cluster.objects.get(slug="maritime")
    left = ClusterMembership.objects.get(organisation=former, cluster=maritime)
    today = timezone.localdate()
    assert left.status == ClusterMembership.Status.FORMER
    assert today - timedelta(days=365) < left.left_on <= today - timedelta(days=60)
    assert left.joined_on < left.left_on - timedelta(days=3 * 365)
    event = EventFactory(clusters=[maritime], audience="members", title="Shore power for ferries")

    current = client_for(_user("jan.devries@demo.example")).get(event.get_absolute_url())
    assert current.status_code == 200
    for email in FORMER_PEOPLE:
        person = _user(email)
        assert person.profile.organisation == former  # they still work there
        assert not selectors.clusters_for_user(user=person).exists()
        assert client_for(person).get(event.get_absolute_url()).status_code == 404


@pytest.mark.django_db
def test_the_membership_logs_are_not_empty(seeded, client_for):
    for cluster in Cluster.objects.all():
        organiser = cluster.organiser_roles.get().user
        response = client_for(organiser).get(
            reverse("members:cluster_memberships", kwargs={"slug": cluster.slug})
        )
        assert response.status_code == 200
        assert list(response.context["log"]), cluster.slug
    former_log = selectors.membership_log(cluster=Cluster.objects.get(slug="maritime"))
    assert former_log.filter(action=MembershipLog.Action.CLUSTER_CHANGED).exists()


@pytest.mark.django_db
def test_past_quarters_count_the_members_of_then(seeded):
    plan = demo_plan()
    recent = recently_confirmed(plan)
    start = quarter_to_release()
    a_year_before = start.replace(year=start.year - 1)
    for cluster in Cluster.objects.all():
        in_cluster = {o.slug for o in plan.organisations if cluster.slug in o.clusters}
        people = [p for p in plan.people if p.organisation in in_cluster]
        there_before = [p for p in people if p.email not in recent]

        release = pipeline_release_draw(cluster=cluster, start=start)

        assert release.subject == Release.Subject.PIPELINE
        members = ReleasedCell.objects.get(release=release, measure="members")
        assert members.total >= len(there_before) > 50
        earlier = selectors.cluster_member_users(
            cluster=cluster, start=a_year_before, end=a_year_before + timedelta(days=90)
        )
        assert earlier.count() >= len(there_before)


@pytest.mark.django_db
def test_a_second_run_changes_nothing_and_queues_no_mail(seeded):
    before = _snapshot()

    again = demo_seed()

    assert again.created == {} and again.updated == {}
    assert _snapshot() == before
    assert seeded.created["affiliations"] > 300


@pytest.mark.django_db
def test_a_run_brings_back_what_someone_changed_while_trying_the_demo(seeded):
    organiser, admin, requester = (
        _user(MECHATRONICS_ORGANISER), _user(ADMIN), _user(PENDING_EMAIL)
    )  # fmt: skip
    membership.affiliation_decide(
        affiliation=selectors.affiliation_of(user=requester), by=organiser, confirm=True
    )
    membership.affiliation_end(affiliation=selectors.affiliation_of(user=admin), by=admin)

    demo_seed()

    assert selectors.affiliation_of(user=requester).status == Affiliation.Status.REQUESTED
    assert Profile.objects.get(user=requester).organisation is None
    back = selectors.affiliation_of(user=admin)
    assert back.status == Affiliation.Status.CONFIRMED and back.is_admin
    assert Profile.objects.get(user=admin).organisation.slug == DOMAIN_RULE_ORGANISATION
    # Her leaving stays in her history.
    assert Affiliation.objects.filter(user=admin, status=Affiliation.Status.ENDED).exists()
