"""Directory search and filters, shared by the directory page and the API."""

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from members.models import Organisation, Profile, Sector, Topic


def _has_topic(topic_filter: Q) -> Q:
    expertise = Profile.expertise.through.objects.filter(
        Q(profile_id=OuterRef("pk")) & topic_filter
    )
    interests = Profile.interests.through.objects.filter(
        Q(profile_id=OuterRef("pk")) & topic_filter
    )
    return Q(Exists(expertise)) | Q(Exists(interests))


class DirectoryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search name, organisation or topic"))
    topic = django_filters.ModelChoiceFilter(
        queryset=Topic.objects.all(),
        to_field_name="slug",
        method="filter_topic",
        label=_("Topic"),
        empty_label=_("Any topic"),
    )
    sector = django_filters.ModelChoiceFilter(
        queryset=Sector.objects.all(),
        to_field_name="slug",
        method="filter_sector",
        label=_("Sector"),
        empty_label=_("Any sector"),
    )
    country = django_filters.ChoiceFilter(
        choices=list(countries), label=_("Country"), empty_label=_("Any country")
    )
    organisation_kind = django_filters.ChoiceFilter(
        field_name="organisation__kind",
        choices=Organisation.Kind.choices,
        label=_("Organisation kind"),
        empty_label=_("Any kind"),
    )
    mentoring_stance = django_filters.ChoiceFilter(
        choices=Profile.MentoringStance.choices,
        label=_("Mentoring"),
        empty_label=_("Any"),
    )

    class Meta:
        model = Profile
        fields = ["q", "topic", "sector", "country", "organisation_kind", "mentoring_stance"]

    def search(
        self, queryset: QuerySet[Profile], name: str, value: Topic | None
    ) -> QuerySet[Profile]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(display_name__icontains=value)
            | Q(organisation__name__icontains=value)
            | Q(job_title__icontains=value)
            | _has_topic(Q(topic__name__icontains=value))
        )

    def filter_topic(
        self, queryset: QuerySet[Profile], name: str, value: Topic | None
    ) -> QuerySet[Profile]:
        return queryset.filter(_has_topic(Q(topic=value))) if value else queryset

    def filter_sector(
        self, queryset: QuerySet[Profile], name: str, value: str
    ) -> QuerySet[Profile]:
        if not value:
            return queryset
        own = Profile.sectors.through.objects.filter(profile_id=OuterRef("pk"), sector=value)
        organisation = Organisation.sectors.through.objects.filter(
            organisation_id=OuterRef("organisation_id"), sector=value
        )
        return queryset.filter(Q(Exists(own)) | Q(Exists(organisation)))
