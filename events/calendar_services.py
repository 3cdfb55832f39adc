"""Writes behind the calendar pages: the secret token of a personal subscription feed."""

from django.db import transaction

from events.models import CalendarFeed, new_feed_token
from members.models import User


def calendar_feed_ensure(*, user: User) -> CalendarFeed:
    """The person's feed, created with a fresh secret token on first use."""
    feed, _ = CalendarFeed.objects.get_or_create(user=user)
    return feed


@transaction.atomic
def calendar_feed_reset(*, user: User) -> CalendarFeed:
    """Give the feed a new secret token; the old URL stops working at once."""
    feed, created = CalendarFeed.objects.select_for_update().get_or_create(user=user)
    if not created:
        feed.token = new_feed_token()
        feed.save(update_fields=["token"])
    return feed
