"""Reads of members data, already scoped to what the requesting user may see."""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from members.models import Cluster, ClusterOrganiser, Organisation, Profile, User


def clusters_for_user(*, user: User) -> QuerySet[Cluster]:
    """Clusters a person belongs to: through their organisation, or as an organiser."""
    if not user.is_authenticated:
        return Cluster.objects.none()
    via_organisation = Organisation.clusters.through.objects.filter(
        cluster_id=OuterRef("pk"), organisation__profiles__user=user
    )
    as_organiser = ClusterOrganiser.objects.filter(cluster_id=OuterRef("pk"), user=user)
    return Cluster.objects.filter(Q(Exists(via_organisation)) | Q(Exists(as_organiser)))


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
        raise Http404("No such cluster.")
    return cluster


def profiles_visible_to(*, viewer: User) -> QuerySet[Profile]:
    """Profiles this person may see in the directory and on profile pages.

    - everyone sees their own profile;
    - "all members" profiles are seen by every signed-in member;
    - "cluster" profiles by people who share one of the profile organisation's clusters
      (as members or as organisers of that cluster);
    - hidden profiles only by their owner and staff.
    """
    base = Profile.objects.filter(user__is_active=True)
    if not viewer.is_authenticated:
        return base.none()
    if viewer.is_staff:
        return base
    viewer_clusters = clusters_for_user(user=viewer).values("pk")
    shares_cluster = Organisation.clusters.through.objects.filter(
        organisation_id=OuterRef("organisation_id"), cluster_id__in=viewer_clusters
    )
    return base.filter(
        Q(user=viewer)
        | Q(visibility=Profile.Visibility.MEMBERS)
        | (Q(visibility=Profile.Visibility.CLUSTER) & Exists(shares_cluster))
    )


def profile_list_for_directory(*, viewer: User) -> QuerySet[Profile]:
    return (
        profiles_visible_to(viewer=viewer)
        .exclude(Q(visibility=Profile.Visibility.HIDDEN) & ~Q(user=viewer))
        .select_related("organisation")
        .prefetch_related("expertise", "languages")
        .order_by("display_name", "pk")
    )


def profile_get_visible(*, viewer: User, pk: int) -> Profile:
    profile = (
        profiles_visible_to(viewer=viewer)
        .select_related("organisation", "user")
        .prefetch_related(
            "expertise", "interests", "languages", "sectors", "organisation__clusters"
        )
        .filter(pk=pk)
        .first()
    )
    if profile is None:
        raise Http404("No such member.")
    return profile


def profile_for_owner(*, user: User) -> Profile:
    return (
        Profile.objects.select_related("organisation")
        .prefetch_related("expertise", "interests", "languages", "sectors")
        .get(user=user)
    )


def organisation_list(*, search: str = "", kind: str = "") -> QuerySet[Organisation]:
    qs = Organisation.objects.prefetch_related("clusters", "sectors").order_by("name", "pk")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(region__icontains=search))
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def organisation_get(*, slug: str) -> Organisation:
    organisation = (
        Organisation.objects.prefetch_related("clusters", "sectors").filter(slug=slug).first()
    )
    if organisation is None:
        raise Http404("No such organisation.")
    return organisation


def organisation_members_visible(*, viewer: User, organisation: Organisation) -> QuerySet[Profile]:
    return profile_list_for_directory(viewer=viewer).filter(organisation=organisation)


def cluster_list() -> QuerySet[Cluster]:
    return Cluster.objects.prefetch_related("sectors").order_by("name")


def cluster_get(*, slug: str) -> Cluster:
    cluster = Cluster.objects.prefetch_related("sectors").filter(slug=slug).first()
    if cluster is None:
        raise Http404("No such cluster.")
    return cluster


def cluster_organisations(*, cluster: Cluster) -> QuerySet[Organisation]:
    return cluster.organisations.prefetch_related("sectors").order_by("name")


def cluster_member_profiles(*, cluster: Cluster) -> QuerySet[Profile]:
    """Every active member of a cluster, for its organisers (never for other members)."""
    return (
        Profile.objects.filter(user__is_active=True, organisation__clusters=cluster)
        .select_related("organisation", "user")
        .order_by("display_name", "pk")
    )


def cluster_organisers(*, cluster: Cluster) -> QuerySet[ClusterOrganiser]:
    return cluster.organiser_roles.select_related("user__profile").order_by("created_at")


def user_with_roles(*, user: User) -> User:
    return User.objects.prefetch_related(
        Prefetch("organiser_roles", queryset=ClusterOrganiser.objects.select_related("cluster"))
    ).get(pk=user.pk)
