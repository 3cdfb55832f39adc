"""Reads behind the calendar files, already scoped to what the requester may see.

Also who organises an event as calendars and mail name it (`event_organisers`): looked
up once for many events and kept on each event instance, so a feed or a mailing of
any length asks the database once.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from events.models import CalendarFeed, Event, Registration, Session
from events.selectors import events_visible_to
from members.models import Cluster, ClusterOrganiser, User

# Feeds carry what is ahead plus a little history, so they stay small.
FEED_HISTORY = timedelta(days=180)


@dataclass(frozen=True)
class Organiser:
    """An address that reaches a person who runs the event, and the cluster they run."""

    email: str
    cluster_name: str
    # The site's sender, standing in for a cluster without organisers.
    is_site: bool = False


# Where `event_organisers` keeps its answer on an event instance.
_ORGANISERS = "_calendar_organisers"


def _site_organiser(cluster_name: str) -> Organiser:
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return Organiser(
        email=address or settings.DEFAULT_FROM_EMAIL, cluster_name=cluster_name, is_site=True
    )


def organisers_load(*, events: Iterable[Event]) -> None:
    """Look up the organisers of every event not looked up yet, in one query (two when
    some event has no organiser), and keep them on the instances.

    The order is the one of `members.selectors.organiser_emails`: active organisers of
    the event's clusters with an address, the event's creator first if they are one of
    them, then the longest-serving; each person once, with the cluster of their oldest
    role among the event's clusters.
    """
    pending = [event for event in events if _ORGANISERS not in event.__dict__]
    if not pending:
        return
    ids = {event.pk for event in pending}
    roles = (
        ClusterOrganiser.objects.filter(cluster__events__in=ids, user__is_active=True)
        .exclude(user__email="")
        .order_by("created_at", "pk")
        .values_list("cluster__events", "user_id", "user__email", "cluster__name")
    )
    found: dict[int, dict[int, Organiser]] = {pk: {} for pk in ids}
    for event_id, user_id, email, cluster_name in roles:
        found[event_id].setdefault(user_id, Organiser(email=email, cluster_name=cluster_name))
    orphans = [pk for pk, people in found.items() if not people]
    first_cluster: dict[int, str] = {}
    if orphans:
        pairs = (
            Event.clusters.through.objects.filter(event_id__in=orphans)
            .order_by("cluster__name")
            .values_list("event_id", "cluster__name")
        )
        for event_id, cluster_name in pairs:
            first_cluster.setdefault(event_id, cluster_name)
    for event in pending:
        people = found[event.pk]
        ordered = sorted(people, key=lambda user_id: user_id != event.created_by_id)
        event.__dict__[_ORGANISERS] = [people[user_id] for user_id in ordered] or [
            _site_organiser(first_cluster.get(event.pk, settings.SITE_NAME))
        ]


def event_organisers(*, event: Event) -> list[Organiser]:
    """Who organises `event`, first the one calendars name as ORGANIZER; never empty:
    without organisers, the site's sender on behalf of the event's first cluster."""
    organisers_load(events=[event])
    return event.__dict__[_ORGANISERS]


def sessions_for_calendar(*, event: Event) -> QuerySet[Session]:
    return Session.objects.filter(event=event).order_by("starts_at", "track", "pk")


def feed_owner(*, token: str) -> User:
    """The person a secret feed token belongs to; 404 for an unknown (or reset) token."""
    feed = CalendarFeed.objects.select_related("user__profile").filter(token=token).first()
    if feed is None or not feed.user.is_active:
        raise Http404(gettext("No such feed."))
    return feed.user


def registrations_for_feed(*, user: User) -> QuerySet[Registration]:
    """A person's active registrations (events and sessions) that are not long past."""
    since = timezone.now() - FEED_HISTORY
    return (
        Registration.objects.filter(
            user=user, status__in=Registration.ACTIVE_STATUSES, event__ends_at__gte=since
        )
        .exclude(event__status=Event.Status.DRAFT)
        .select_related("event", "session")
        .prefetch_related("event__sessions")
        .order_by("event__starts_at", "pk")
    )


def cluster_feed_events(*, cluster_slug: str) -> tuple[Cluster, QuerySet[Event]]:
    """A cluster's public events (published, and cancelled ones so subscribers see that)."""
    cluster = Cluster.objects.filter(slug=cluster_slug).first()
    if cluster is None:
        raise Http404(gettext("No such cluster."))
    since = timezone.now() - FEED_HISTORY
    events = (
        events_visible_to(user=AnonymousUser())
        .filter(clusters=cluster, ends_at__gte=since)
        .prefetch_related("sessions")
        .order_by("starts_at", "pk")
    )
    return cluster, events
