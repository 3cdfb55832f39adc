"""REST API of members data. No serializer here has a gender field, by design."""

import django_filters
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from django_countries.serializers import CountryFieldMixin
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers

from members import selectors, services
from members.filters import DirectoryFilter
from members.models import Cluster, Organisation, Profile, Sector, Topic


class MemberAPIFilter(DirectoryFilter):
    """The directory's filters, with a topic or sector named by its slug.

    The schema can only say "a string", so a slug that names nothing matches nobody rather
    than being an error.
    """

    topic = django_filters.CharFilter(method="filter_topic_slug", label=_("Topic (slug)"))
    sector = django_filters.CharFilter(method="filter_sector_slug", label=_("Sector (slug)"))

    def filter_topic_slug(self, queryset, name, value):
        topic = Topic.objects.filter(slug=value).first()
        return self.filter_topic(queryset, name, topic) if topic else queryset.none()

    def filter_sector_slug(self, queryset, name, value):
        sector = Sector.objects.filter(slug=value).first()
        return self.filter_sector(queryset, name, sector) if sector else queryset.none()


class TopicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = ["slug", "name", "description"]


class ClusterSerializer(CountryFieldMixin, serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = ["slug", "name", "short_name", "country", "region", "website"]


class OrganisationSerializer(CountryFieldMixin, serializers.ModelSerializer):
    clusters = serializers.SerializerMethodField(
        help_text=_("The clusters the organisation belongs to today (members and partners).")
    )
    sectors = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Organisation
        fields = ["slug", "name", "kind", "country", "region", "website", "sectors", "clusters"]

    @extend_schema_field(serializers.ListField(child=serializers.SlugField()))
    def get_clusters(self, organisation: Organisation) -> list[str]:
        # `selectors.organisation_list` prefetches the memberships in force today.
        return [m.cluster.slug for m in organisation.current_memberships]


class ProfileSerializer(CountryFieldMixin, serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    expertise = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    interests = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    languages = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Profile
        fields = [
            "id",
            "url",
            "display_name",
            "organisation",
            "job_title",
            "country",
            "languages",
            "expertise",
            "interests",
            "bio",
            "mentoring_stance",
        ]


class MemberListAPI(generics.ListAPIView):
    serializer_class = ProfileSerializer
    filterset_class = MemberAPIFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return Profile.objects.none()
        return selectors.profile_list_for_directory(viewer=self.request.user).prefetch_related(
            "interests"
        )


class MemberDetailAPI(generics.RetrieveAPIView):
    serializer_class = ProfileSerializer

    def get_object(self):
        return selectors.profile_get_visible(viewer=self.request.user, pk=self.kwargs["pk"])


class MeAPI(generics.RetrieveAPIView):
    serializer_class = ProfileSerializer

    def get_object(self):
        services.profile_ensure(user=self.request.user)
        return selectors.profile_for_owner(user=self.request.user)


@extend_schema(
    parameters=[
        OpenApiParameter("q", OpenApiTypes.STR, description="Search the name or the region.")
    ]
)
class OrganisationListAPI(generics.ListAPIView):
    serializer_class = OrganisationSerializer

    def get_queryset(self):
        return selectors.organisation_list(search=self.request.query_params.get("q", ""))


class ClusterListAPI(generics.ListAPIView):
    serializer_class = ClusterSerializer
    queryset = Cluster.objects.order_by("name")


class TopicListAPI(generics.ListAPIView):
    serializer_class = TopicSerializer
    queryset = Topic.objects.order_by("name")
    pagination_class = None


def page_not_found(request, exception):
    """The site's 404 handler (`handler404`): JSON under /api/, the usual page elsewhere.

    An address under the API that matches no pattern (`/api/v1/members/abc/`) gets the same
    body as DRF's own 404s, which API clients and the schema expect.
    """
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": str(exceptions.NotFound.default_detail)}, status=404)
    return defaults.page_not_found(request, exception)
