"""Reads of members data, already scoped to what the requesting user may see."""

from datetime import date, datetime, time
from functools import cache

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    ClusterOrganiser,
    Language,
    MembershipLog,
    Organisation,
    Profile,
    Sector,
    Topic,
    User,
)

PROFILE_CHOICE_LISTS = {"languages": "language_id", "sectors": "sector_id",
                        "expertise": "topic_id", "interests": "topic_id"}  # fmt: skip


def current_memberships_prefetch(prefix: str = "") -> Prefetch:
    """Prefetch an organisation's memberships in force today as `current_memberships`."""
    return Prefetch(
        f"{prefix}cluster_memberships",
        queryset=active_memberships().select_related("cluster").order_by("cluster__name"),
        to_attr="current_memberships",
    )


def clusters_for_user(*, user: User, day: date | None = None) -> QuerySet[Cluster]:
    """Clusters a person belongs to on `day` (today): through the organisation their
    confirmed affiliation is with, while its membership of the cluster is in force; or as
    organiser."""
    if not user.is_authenticated or not user.is_active:
        return Cluster.objects.none()
    via_organisation = active_memberships(day=day).filter(
        cluster_id=OuterRef("pk"), organisation__profiles__user=user
    )
    as_organiser = ClusterOrganiser.objects.filter(cluster_id=OuterRef("pk"), user=user)
    return Cluster.objects.filter(Q(Exists(via_organisation)) | Q(Exists(as_organiser)))


# Stand-ins for the person and the day in the SQL `viewer_clusters` compiles once.
_ANY_PERSON, _ANY_DAY = -4_242_424_242, date(1000, 1, 1)


@cache
def _viewer_clusters_sql(vendor: str) -> tuple[str, tuple, object]:
    """The SQL, its parameters, and the day's stand-in as the database adapter writes it."""
    person = User(pk=_ANY_PERSON, is_active=True)
    organises = clusters_managed_by(user=person).filter(pk=OuterRef("pk"))
    rows = (
        clusters_for_user(user=person, day=_ANY_DAY)
        .annotate(organises=Exists(organises))
        .order_by("pk")
        .values_list("pk", "organises")
    )
    sql, params = rows.query.get_compiler(connection=connection).as_sql()
    day = connection.ops.adapt_datefield_value(_ANY_DAY)
    if _ANY_PERSON not in params or day not in params:  # then the stand-ins would stay
        raise AssertionError("clusters_for_user no longer takes the person and the day")
    return sql, tuple(params), day


def viewer_clusters(*, user: User) -> list[tuple[int, bool]]:
    """(id, whether they organise it) of each cluster this person belongs to today, as
    `clusters_for_user` and `clusters_managed_by` say; [] for visitors and inactive accounts.

    Every page and API answer asks this first. It is their query, compiled once per process
    with stand-ins for the person and the day: Django took 2–3 ms to compile it on every
    request, more than the database takes to answer it.
    """
    if not user.is_authenticated or not user.is_active:
        return []
    sql, params, any_day = _viewer_clusters_sql(connection.vendor)
    day = connection.ops.adapt_datefield_value(timezone.localdate())
    values = [user.pk if p == _ANY_PERSON else day if p == any_day else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return [(pk, bool(organises)) for pk, organises in cursor.fetchall()]


def user_is_member(*, user: User) -> bool:
    """A member of this site: belongs to some cluster today, organises one, or is staff.
    Everyone else signed in is a visitor (public events, their own profile)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or clusters_for_user(user=user).exists()


def cluster_member_users(*, cluster: Cluster, start: date, end: date) -> QuerySet[User]:
    """People who were members of `cluster` on some day of [start, end): their affiliation
    was confirmed before the end and had not ended before the start, with an organisation
    whose membership of the cluster was in force in the period. Each person once."""
    organisations = ClusterMembership.objects.active_during(start, end).filter(cluster=cluster)
    start_at, end_at = (
        timezone.make_aware(datetime.combine(day, time.min)) for day in (start, end)
    )
    affiliations = Affiliation.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gte=start_at),
        status__in=[Affiliation.Status.CONFIRMED, Affiliation.Status.ENDED],
        decided_at__lt=end_at,
        organisation__in=organisations.values("organisation_id"),
    )
    return User.objects.filter(is_active=True, pk__in=affiliations.values("user_id"))


def active_memberships(*, day: date | None = None) -> QuerySet[ClusterMembership]:
    return ClusterMembership.objects.active_on(day or timezone.localdate())


def organisation_admins(*, organisation: Organisation) -> QuerySet[User]:
    return User.objects.filter(
        is_active=True,
        affiliations__organisation=organisation,
        affiliations__status=Affiliation.Status.CONFIRMED,
        affiliations__is_admin=True,
    ).order_by("pk")


def user_is_organisation_admin(*, user: User, organisation: Organisation) -> bool:
    return organisation_admins(organisation=organisation).filter(pk=user.pk).exists()


def user_organises_organisation(*, user: User, organisation: Organisation) -> bool:
    """An organiser of a cluster the organisation belongs to today. (Not of one it has
    left: confirming someone there would open only other clusters' doors.)"""
    return (
        active_memberships()
        .filter(organisation=organisation, cluster__organiser_roles__user=user)
        .exists()
    )


def organisations_decided_by(*, user: User) -> QuerySet[Organisation]:
    """Organisations whose people this person confirms: as their admin, as an organiser of
    one of their clusters, or all of them as staff."""
    if not user.is_authenticated or not user.is_active:
        return Organisation.objects.none()
    if user.is_staff:
        return Organisation.objects.all()
    admin_of = Affiliation.objects.filter(
        organisation_id=OuterRef("pk"), user=user, status=Affiliation.Status.CONFIRMED,
        is_admin=True,
    )  # fmt: skip
    organised = active_memberships().filter(
        organisation_id=OuterRef("pk"), cluster__organiser_roles__user=user
    )
    return Organisation.objects.filter(Q(Exists(admin_of)) | Q(Exists(organised)))


def pending_requests_for(*, user: User) -> QuerySet[Affiliation]:
    """Requests this person may answer, oldest first (never their own, unless staff)."""
    requests = Affiliation.objects.filter(
        status=Affiliation.Status.REQUESTED,
        organisation__in=organisations_decided_by(user=user).values("pk"),
    )
    if not user.is_staff:
        requests = requests.exclude(user=user)
    return requests.select_related("user__profile", "organisation").order_by("requested_at", "pk")


def affiliation_of(*, user: User) -> Affiliation | None:
    """The person's open affiliation (requested or confirmed), if any."""
    return (
        Affiliation.objects.filter(user=user, status__in=Affiliation.OPEN)
        .select_related("organisation")
        .first()
    )


def affiliations_history(*, user: User) -> QuerySet[Affiliation]:
    return Affiliation.objects.filter(user=user).select_related("organisation")


def organisation_affiliations(*, organisation: Organisation) -> QuerySet[Affiliation]:
    """The organisation's confirmed people, for its admins and organisers."""
    return (
        Affiliation.objects.filter(organisation=organisation, status=Affiliation.Status.CONFIRMED)
        .select_related("user__profile")
        .order_by("user__profile__display_name", "pk")
    )


def membership_log(*, organisation: Organisation | None = None, cluster: Cluster | None = None):
    log = MembershipLog.objects.select_related("actor", "person", "organisation", "cluster")
    if organisation is not None:
        log = log.filter(organisation=organisation)
    if cluster is not None:
        log = log.filter(
            Q(cluster=cluster)
            | Q(organisation__in=ClusterMembership.objects.filter(cluster=cluster).values(
                "organisation_id"
            ))
        )  # fmt: skip
    return log


def clusters_managed_by(*, user: User) -> QuerySet[Cluster]:
    """Clusters whose events, programmes and statistics this person manages."""
    if not user.is_authenticated or not user.is_active:
        return Cluster.objects.none()
    if user.is_staff:
        return Cluster.objects.all()
    return Cluster.objects.filter(organiser_roles__user=user)


def user_manages_cluster(*, user: User, cluster: Cluster) -> bool:
    return clusters_managed_by(user=user).filter(pk=cluster.pk).exists()


def organiser_emails(
    *, clusters: QuerySet[Cluster], first_user_id: int | None = None, limit: int = 3
) -> list[str]:
    """Addresses of the active organisers of `clusters` (one query): `first_user_id`
    first if they are one of them, then the longest-serving; at most `limit`."""
    roles = (
        ClusterOrganiser.objects.filter(cluster__in=clusters, user__is_active=True)
        .exclude(user__email="")
        .order_by("created_at", "pk")
        .values_list("user_id", "user__email")
    )
    emails: dict[int, str] = {}
    for user_id, email in roles:
        emails.setdefault(user_id, email)
    ordered = sorted(emails, key=lambda user_id: user_id != first_user_id)
    return list(dict.fromkeys(emails[user_id] for user_id in ordered))[:limit]


def user_is_organiser(*, user: User) -> bool:
    return clusters_managed_by(user=user).exists()


def cluster_get_managed(*, user: User, slug: str) -> Cluster:
    """The cluster, if this person organises it (or is staff); 404 otherwise."""
    cluster = clusters_managed_by(user=user).filter(slug=slug).first()
    if cluster is None:
        raise Http404(_("No such cluster."))
    return cluster


def viewer_cluster_ids(*, viewer: User) -> list[int]:
    """The clusters `profiles_visible_to` opens to this person (read once per page)."""
    return [pk for pk, _organises in viewer_clusters(user=viewer)]


def profiles_visible_to(
    *, viewer: User, viewer_clusters: list[int] | None = None
) -> QuerySet[Profile]:
    """Profiles this person may see in the directory and on profile pages.

    - everyone sees their own profile;
    - "all members" profiles are seen by every member (`user_is_member`);
    - "cluster" profiles by people who share one of the clusters the profile's
      organisation belongs to today (as members or as organisers of that cluster);
    - hidden profiles only by their owner and staff.

    A signed-in visitor whose affiliation is not confirmed sees their own profile only.
    """
    base = Profile.objects.filter(user__is_active=True)
    if not viewer.is_authenticated:
        return base.none()
    if viewer.is_staff:
        return base
    if viewer_clusters is None:
        viewer_clusters = viewer_cluster_ids(viewer=viewer)
    if not viewer_clusters:
        return base.filter(user=viewer)
    shares_cluster = active_memberships().filter(
        organisation_id=OuterRef("organisation_id"), cluster_id__in=viewer_clusters
    )
    return base.filter(
        Q(user=viewer)
        | Q(visibility=Profile.Visibility.MEMBERS)
        | (Q(visibility=Profile.Visibility.CLUSTER) & Exists(shares_cluster))
    )


def _directory(*, viewer: User, viewer_clusters: list[int] | None = None) -> QuerySet[Profile]:
    return (
        profiles_visible_to(viewer=viewer, viewer_clusters=viewer_clusters)
        .exclude(Q(visibility=Profile.Visibility.HIDDEN) & ~Q(user=viewer))
        .select_related("organisation")
        .order_by("display_name", "pk")
    )


def profile_list_for_directory(*, viewer: User) -> QuerySet[Profile]:
    return _directory(viewer=viewer).prefetch_related("expertise", "languages")


def directory_cards(*, viewer: User) -> tuple[QuerySet[Profile], bool]:
    """The directory page's profiles with just what a card shows, and whether the viewer is
    a member (`user_is_member`); the viewer's clusters are read once for both."""
    clusters = viewer_cluster_ids(viewer=viewer) if viewer.is_authenticated else []
    cards = (
        _directory(viewer=viewer, viewer_clusters=clusters)
        .only("display_name", "job_title", "mentoring_stance", "organisation__name")
        .prefetch_related(Prefetch("expertise", queryset=Topic.objects.only("name")))
    )
    is_member = viewer.is_authenticated and viewer.is_active and (viewer.is_staff or bool(clusters))
    return cards, is_member


@cache
def _choice_lists_sql(*, with_profile: bool) -> str:
    # Written out once: Django took some 5 ms to compile this union of seven selects on every
    # request; the database answers it in well under one. Names come from the models only.
    q = connection.ops.quote_name
    parts = [
        f"SELECT '{name}', {q('id')}, {q('name')}, {q(code)}, "  # noqa: S608
        f"ROW_NUMBER() OVER (ORDER BY {q('name')}, {q('id')}) FROM {q(model._meta.db_table)}"
        for name, model, code in (
            ("topics", Topic, "slug"),
            ("sectors", Sector, "slug"),
            ("languages", Language, "code"),
        )
    ]
    if with_profile:
        parts += [
            f"SELECT 'chosen:{name}', {q(column)}, '', '', 0 "  # noqa: S608
            f"FROM {q(getattr(Profile, name).through._meta.db_table)} WHERE {q('profile_id')} = %s"
            for name, column in PROFILE_CHOICE_LISTS.items()
        ]
    return " UNION ALL ".join(parts)


def choice_lists(*, profile: Profile | None = None) -> dict[str, list]:
    """The lists everyone chooses from — "topics", "sectors", "languages": (id, label, slug
    or code) in their order — and, with a profile, what it chose ("chosen:expertise": [ids],
    …). One query for all of them."""
    with connection.cursor() as cursor:
        cursor.execute(
            _choice_lists_sql(with_profile=profile is not None),
            [profile.pk] * len(PROFILE_CHOICE_LISTS) if profile is not None else [],
        )
        rows = sorted(cursor.fetchall(), key=lambda row: (row[0], row[4]))
    lists: dict[str, list] = {name: [] for name in ("topics", "sectors", "languages")}
    lists.update({f"chosen:{name}": [] for name in PROFILE_CHOICE_LISTS} if profile else {})
    for name, pk, label, code, _rank in rows:
        if name.startswith("chosen:"):
            lists[name].append(pk)
        else:  # a language by its name in the reader's language, as Language.__str__
            label = str(Language(code=code, name=label)) if name == "languages" else label
            lists[name].append((pk, label, code))
    return lists


def profile_get_visible(*, viewer: User, pk: int) -> Profile:
    profile = (
        profiles_visible_to(viewer=viewer)
        .select_related("organisation", "user")
        .prefetch_related(
            "expertise",
            "interests",
            "languages",
            "sectors",
            current_memberships_prefetch("organisation__"),
        )
        .filter(pk=pk)
        .first()
    )
    if profile is None:
        raise Http404(_("No such member."))
    return profile


def profile_for_owner(*, user: User) -> Profile:
    return (
        Profile.objects.select_related("organisation")
        .prefetch_related("expertise", "interests", "languages", "sectors")
        .get(user=user)
    )


def organisation_list(*, search: str = "", kind: str = "") -> QuerySet[Organisation]:
    qs = Organisation.objects.prefetch_related(current_memberships_prefetch(), "sectors").order_by(
        "name", "pk"
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(region__icontains=search))
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def organisation_get(*, slug: str) -> Organisation:
    organisation = (
        Organisation.objects.prefetch_related(current_memberships_prefetch(), "sectors")
        .filter(slug=slug)
        .first()
    )
    if organisation is None:
        raise Http404(_("No such organisation."))
    return organisation


def organisation_members_visible(*, viewer: User, organisation: Organisation) -> QuerySet[Profile]:
    return profile_list_for_directory(viewer=viewer).filter(organisation=organisation)


def cluster_list() -> QuerySet[Cluster]:
    return Cluster.objects.prefetch_related("sectors").order_by("name")


def cluster_get(*, slug: str) -> Cluster:
    cluster = Cluster.objects.prefetch_related("sectors").filter(slug=slug).first()
    if cluster is None:
        raise Http404(_("No such cluster."))
    return cluster


def cluster_organisations(*, cluster: Cluster) -> QuerySet[Organisation]:
    """The organisations in the cluster today (members and partners)."""
    current = active_memberships().filter(cluster=cluster).values("organisation_id")
    return Organisation.objects.filter(pk__in=current).prefetch_related("sectors").order_by("name")


def cluster_memberships(*, cluster: Cluster) -> QuerySet[ClusterMembership]:
    """Every membership of the cluster, former ones too, for its organisers."""
    return cluster.memberships.select_related("organisation").order_by("organisation__name")


def cluster_member_profiles(*, cluster: Cluster) -> QuerySet[Profile]:
    """Every member of a cluster today, for its organisers (never for other members)."""
    current = active_memberships().filter(cluster=cluster).values("organisation_id")
    return (
        Profile.objects.filter(user__is_active=True, organisation__in=current)
        .select_related("organisation", "user")
        .order_by("display_name", "pk")
    )


def cluster_organisers(*, cluster: Cluster) -> QuerySet[ClusterOrganiser]:
    return cluster.organiser_roles.select_related("user__profile").order_by("created_at")


def user_with_roles(*, user: User) -> User:
    return User.objects.prefetch_related(
        Prefetch("organiser_roles", queryset=ClusterOrganiser.objects.select_related("cluster"))
    ).get(pk=user.pk)
