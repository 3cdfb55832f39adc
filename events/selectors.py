"""Reads of events, already scoped to what the requesting user may see."""

import datetime as dt
import hashlib
from collections.abc import Callable

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.lookups import IsNull
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from events import fragments, list_version
from events.models import Event, Invitation, Registration, Session
from members import page_cache
from members.models import User
from members.selectors import clusters_managed_by, viewer_clusters


def _organising_cluster_is_one_of(cluster_ids: list[int]) -> Q:
    # A scalar subquery, probed per event through the (event_id, cluster_id) unique index.
    # As EXISTS inside an OR, PostgreSQL hashed every event those clusters ever held on
    # every query (17,000 rows at 50,000 events): the list grew with the history.
    first = Event.clusters.through.objects.filter(
        event_id=OuterRef("pk"), cluster_id__in=cluster_ids
    ).values("cluster_id")[:1]
    return Q(IsNull(Subquery(first), False))


def events_managed_by(*, user: User) -> QuerySet[Event]:
    """Events of the clusters this person organises (every status), or all for staff."""
    if not user.is_authenticated or not user.is_active:
        return Event.objects.none()
    if user.is_staff:
        return Event.objects.all()
    managed = list(clusters_managed_by(user=user).values_list("pk", flat=True))
    if not managed:
        return Event.objects.none()
    return Event.objects.filter(_organising_cluster_is_one_of(managed))


def user_manages_event(*, user: User, event: Event) -> bool:
    return events_managed_by(user=user).filter(pk=event.pk).exists()


def viewer_scope(*, user: User) -> tuple[list[int], list[int]]:
    """The clusters a signed-in person belongs to and those they manage (ids), which with
    their invitations and registrations decide what they see; empty for visitors and staff."""
    if not user.is_authenticated or user.is_staff:
        return [], []
    # One query: a cluster someone organises is one of theirs (`clusters_for_user`).
    rows = viewer_clusters(user=user)
    return [pk for pk, _ in rows], [pk for pk, organises in rows if organises]


def page_ids_and_count(queryset: QuerySet, *, number: int, size: int) -> tuple[list[int], int]:
    """The ids on page `number` (from 1) of `queryset` and how many rows it has in all, in
    one query: COUNT(*) OVER () beside the page's ids, where a count and the page took two
    full passes over the visibility rules. A page out of range (no row to carry the
    total), or DISTINCT (which the window would not see), costs a second query: the count.
    """
    if number < 1:
        return [], queryset.count()
    offset = (number - 1) * size
    if queryset.query.distinct:
        return list(queryset.values_list("pk", flat=True)[offset : offset + size]), queryset.count()
    counted = queryset.annotate(total_rows=Window(Count("pk")))
    rows = list(counted.values_list("pk", "total_rows")[offset : offset + size])
    if not rows:  # past the end: no row carries the total
        return [], queryset.count()
    return [pk for pk, _ in rows], rows[0][1]


def events_visible_to(
    *, user: User, scope: tuple[list[int], list[int]] | None = None
) -> QuerySet[Event]:
    """Published (or past/cancelled) events this person may see, plus those they manage.

    Public events are seen by everyone; members-only events by members and organisers of
    an organising cluster; invitation-only events by the invited and the registered.
    The viewer's clusters are looked up once and passed as constants: a nested subquery
    per event row made the list ten times slower on 5,000 events. `scope` is
    `viewer_scope(user=user)` when the caller already has it.
    """
    shown = Q(status__in=[Event.Status.PUBLISHED, Event.Status.COMPLETED, Event.Status.CANCELLED])
    public = Q(audience=Event.Audience.PUBLIC)
    if not user.is_authenticated:
        return Event.objects.filter(shown & public)
    if user.is_staff:
        return Event.objects.all()
    my_clusters, managed = scope if scope is not None else viewer_scope(user=user)
    invited = Exists(Invitation.objects.filter(event_id=OuterRef("pk"), email__iexact=user.email))
    registered = Exists(
        Registration.objects.filter(
            event_id=OuterRef("pk"),
            user=user,
            status__in=Registration.ACTIVE_STATUSES + Registration.SEAT_STATUSES,
        )
    )
    visible = public | (Q(audience=Event.Audience.INVITATION) & (invited | registered))
    if my_clusters:
        visible |= Q(audience=Event.Audience.MEMBERS) & _organising_cluster_is_one_of(my_clusters)
    condition = shown & visible
    if managed:
        condition |= _organising_cluster_is_one_of(managed)
    return Event.objects.filter(condition)


def cached_page_ids_and_count(
    *,
    name: str,
    user: User,
    scope: tuple[list[int], list[int]],
    parts: list,
    queryset: Callable[[], QuerySet[Event]],
    number: int,
    size: int,
    expires: Callable[[], dt.datetime | None] | None = None,
) -> tuple[list[int], int]:
    """`page_ids_and_count` of a list of visible events, kept in the cache while nothing it
    depends on has changed: the events and what the filters name (`list_version`), what
    opens events to this person (scope, address, registrations for invitation-only
    events), and the query (`parts`). Counting every visible event took most of a list's
    time. `queryset` is called only when the page is not in the cache.

    `expires`: when a list that depends on the clock changes next (the event list page's
    upcoming events lose one when it ends, its past events gain one); the entry is used
    only until then.
    """
    if not page_cache.enabled():
        return page_ids_and_count(queryset(), number=number, size=size)
    depends_on = [
        list_version.current(),
        fragments.viewer_key(user=user, clusters=scope[0], managed=scope[1]),
        getattr(user, "email", ""),
        invitation_events_registered_for(user=user),
        parts,
        number,
        size,
    ]
    key = f"events:page-ids:{name}:" + hashlib.sha256(repr(depends_on).encode()).hexdigest()
    found = cache.get(key)
    if found is None or (found[2] is not None and found[2] <= timezone.now()):
        ids, count = page_ids_and_count(queryset(), number=number, size=size)
        found = (ids, count, expires() if expires else None)
        cache.set(key, found, timeout=page_cache.TIMEOUT)
    return found[0], found[1]


def invitation_events_registered_for(*, user: User) -> list[int]:
    """The invitation-only events that `events_visible_to` opens to this person because
    they hold a registration (ids, in order); none for visitors and staff (who see all)."""
    if not user.is_authenticated or user.is_staff:
        return []
    return list(
        Registration.objects.filter(
            user=user,
            status__in=Registration.ACTIVE_STATUSES + Registration.SEAT_STATUSES,
            event__audience=Event.Audience.INVITATION,
        )
        .order_by("event_id")
        .values_list("event_id", flat=True)
        .distinct()
    )


def event_get_visible(*, user: User, slug: str) -> Event:
    event = (
        events_visible_to(user=user)
        .select_related("language")
        .prefetch_related("clusters", "topics")
        .filter(slug=slug)
        .first()
    )
    if event is None:
        raise Http404(_("No such event."))
    return event


def event_get_managed(*, user: User, slug: str) -> Event:
    event = events_managed_by(user=user).filter(slug=slug).first()
    if event is None:
        raise Http404(_("No such event."))
    return event


def registration_for(
    *, event: Event, user: User, session: Session | None = None
) -> Registration | None:
    if not user.is_authenticated:
        return None
    return Registration.objects.filter(event=event, session=session, user=user).first()


def seats_taken(*, event: Event, session: Session | None = None) -> int:
    qs = Registration.objects.filter(status__in=Registration.SEAT_STATUSES)
    qs = qs.filter(session=session) if session else qs.filter(event=event, session__isnull=True)
    return qs.count()


def registration_counts(*, event: Event, session: Session | None = None) -> dict[str, int]:
    """Counts per registration status, in one query."""
    qs = (
        Registration.objects.filter(session=session)
        if session
        else Registration.objects.filter(event=event, session__isnull=True)
    )
    counts = dict.fromkeys(Registration.Status.values, 0)
    for row in qs.values("status").annotate(n=Count("pk")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def waitlist(*, event: Event, session: Session | None = None) -> QuerySet[Registration]:
    qs = Registration.objects.filter(status=Registration.Status.WAITLISTED)
    qs = qs.filter(session=session) if session else qs.filter(event=event, session__isnull=True)
    return qs.select_related("user__profile__organisation").order_by("waitlist_position", "pk")
