"""Event list search and filters, for the event list page (and any API that wants them)."""

import datetime as dt

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Event
from members.models import Cluster, Language, Topic

# Dates outside this range cannot be turned into aware datetimes in every zone; they are
# clamped, which finds the same events.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2200, 12, 31)


def _start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the zone the viewer sees times in."""
    day = min(max(day, EARLIEST), LATEST)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class EventFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search title or description"))
    kind = django_filters.ChoiceFilter(
        choices=Event.Kind.choices, label=_("Kind"), empty_label=_("Any kind")
    )
    topic = django_filters.ModelChoiceFilter(
        queryset=Topic.objects.order_by("name"),
        to_field_name="slug",
        method="filter_topic",
        label=_("Topic"),
        empty_label=_("Any topic"),
    )
    cluster = django_filters.ModelChoiceFilter(
        queryset=Cluster.objects.order_by("name"),
        to_field_name="slug",
        method="filter_cluster",
        label=_("Cluster"),
        empty_label=_("Any cluster"),
    )
    date_from = django_filters.DateFilter(
        method="filter_date_from",
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to",
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    format = django_filters.ChoiceFilter(
        choices=[("online", _("Online")), ("onsite", _("On site"))],
        method="filter_format",
        label=_("Online or on site"),
        empty_label=_("Online or on site"),
    )
    language = django_filters.ModelChoiceFilter(
        queryset=Language.objects.order_by("name"),
        to_field_name="code",
        label=_("Language"),
        empty_label=_("Any language"),
    )

    class Meta:
        model = Event
        fields = ["q", "kind", "topic", "cluster", "date_from", "date_to", "format", "language"]

    def search(self, queryset: QuerySet[Event], name: str, value: str) -> QuerySet[Event]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value)
            | Q(summary__icontains=value)
            | Q(description__icontains=value)
            | Q(venue_name__icontains=value)
        )

    def filter_topic(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Exists(Event.topics.through.objects.filter(event_id=OuterRef("pk"), topic=value))
        )

    def filter_cluster(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Exists(Event.clusters.through.objects.filter(event_id=OuterRef("pk"), cluster=value))
        )

    def filter_date_from(self, queryset, name, value):
        """Events still running on or after that day."""
        return queryset.filter(ends_at__gt=_start_of_day(value)) if value else queryset

    def filter_date_to(self, queryset, name, value):
        """Events that start on or before that day."""
        if not value:
            return queryset
        return queryset.filter(
            starts_at__lt=_start_of_day(min(value, LATEST) + dt.timedelta(days=1))
        )

    def filter_format(self, queryset, name, value):
        online = Event.online_q()
        on_site = ~Q(venue_name="") | ~Q(venue_address="")
        if value == "online":
            return queryset.filter(online)
        if value == "onsite":
            return queryset.filter(on_site)
        return queryset
