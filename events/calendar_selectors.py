"""Reads behind the calendar files, already scoped to what the requester may see."""

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from events.models import CalendarFeed, Event, Registration, Session
from events.selectors import events_visible_to
from members.models import Cluster, User

# Feeds carry what is ahead plus a little history, so they stay small.
FEED_HISTORY = timedelta(days=180)


def sessions_for_calendar(*, event: Event) -> QuerySet[Session]:
    return Session.objects.filter(event=event).order_by("starts_at", "track", "pk")


def feed_owner(*, token: str) -> User:
    """The person a secret feed token belongs to; 404 for an unknown (or reset) token."""
    feed = CalendarFeed.objects.select_related("user").filter(token=token).first()
    if feed is None or not feed.user.is_active:
        raise Http404("No such feed.")
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
        .order_by("event__starts_at", "pk")
    )


def cluster_feed_events(*, cluster_slug: str) -> tuple[Cluster, QuerySet[Event]]:
    """A cluster's public events (published, and cancelled ones so subscribers see that)."""
    cluster = Cluster.objects.filter(slug=cluster_slug).first()
    if cluster is None:
        raise Http404("No such cluster.")
    since = timezone.now() - FEED_HISTORY
    events = (
        events_visible_to(user=AnonymousUser())
        .filter(clusters=cluster, ends_at__gte=since)
        .order_by("starts_at", "pk")
    )
    return cluster, events
