"""REST API of events: the list and detail for cluster websites, registration for integrations.

No serializer here has a gender field, by design: stage roles carry a name and a role.
The join link of an online event appears only in the requester's own confirmed registration.
"""

import hashlib

import django_filters
from django import forms
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from events import discovery, fragments, selectors, services
from events.filters import EventFilter
from events.models import Event, Registration, Session, StageRole
from members import page_cache
from members.api_schema import ClosedSerializer, ErrorSerializer
from members.models import Cluster, Topic

Status = Registration.Status

# A bounded lock wait answered "try again": a client may retry after this many seconds.
RETRY_AFTER_SECONDS = 2


class _TrueOrFalseField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError(_("Use true or false."), code="invalid")


class TrueOrFalseFilter(django_filters.BooleanFilter):
    """`true` or `false` as the schema says; anything else is a 400, not quietly "any"."""

    field_class = _TrueOrFalseField


class EventAPIFilter(EventFilter):
    """The event list page's filters, plus `online` and `upcoming` as booleans.

    A topic or cluster is named by its slug, a language by its code. The schema can only say
    "a string", so one that names nothing matches no event rather than being an error.
    """

    topic = django_filters.CharFilter(
        method="filter_topic_slug", label=gettext_lazy("Topic (slug)")
    )
    cluster = django_filters.CharFilter(
        method="filter_cluster_slug", label=gettext_lazy("Cluster (slug)")
    )
    language = django_filters.CharFilter(
        field_name="language__code", label=gettext_lazy("Language (code)")
    )

    online = TrueOrFalseFilter(method="filter_online", label=gettext_lazy("Online"))
    upcoming = TrueOrFalseFilter(method="filter_upcoming", label=gettext_lazy("Upcoming"))

    class Meta(EventFilter.Meta):
        fields = [*EventFilter.Meta.fields, "online", "upcoming"]

    def filter_topic_slug(self, queryset, name, value):
        topic = Topic.objects.filter(slug=value).first()
        return self.filter_topic(queryset, name, topic) if topic else queryset.none()

    def filter_cluster_slug(self, queryset, name, value):
        cluster = Cluster.objects.filter(slug=value).first()
        return self.filter_cluster(queryset, name, cluster) if cluster else queryset.none()

    def filter_online(self, queryset, name, value):
        if value is None:
            return queryset
        online = Event.online_q()
        return queryset.filter(online) if value else queryset.exclude(online)

    def filter_upcoming(self, queryset, name, value):
        if value is None:
            return queryset
        now = timezone.now()
        return queryset.filter(ends_at__gte=now) if value else queryset.filter(ends_at__lt=now)


# --- Serializers ---------------------------------------------------------------------------


class StageRoleSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    session = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy("null: the role is for the whole event."),
    )

    class Meta:
        model = StageRole
        fields = ["name", "role", "session"]


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = [
            "id",
            "title",
            "kind",
            "track",
            "room",
            "starts_at",
            "ends_at",
            "capacity",
            "is_cancelled",
        ]


class EventSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    calendar_url = serializers.SerializerMethodField()
    clusters = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    topics = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    language = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    is_online = serializers.BooleanField(read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "slug",
            "url",
            "calendar_url",
            "title",
            "kind",
            "summary",
            "status",
            "audience",
            "starts_at",
            "ends_at",
            "timezone",
            "language",
            "clusters",
            "topics",
            "venue_name",
            "venue_address",
            "is_online",
            "online_platform",
            "capacity",
            "approval_required",
            "registration_opens_at",
            "registration_closes_at",
        ]

    def get_url(self, event: Event) -> str:
        return self.context["request"].build_absolute_uri(event.get_absolute_url())

    def get_calendar_url(self, event: Event) -> str:
        return self.context["request"].build_absolute_uri(f"{event.get_absolute_url()}calendar.ics")


class EventDetailSerializer(EventSerializer):
    sessions = SessionSerializer(many=True, read_only=True)
    stage_roles = StageRoleSerializer(many=True, read_only=True)

    class Meta(EventSerializer.Meta):
        fields = [
            *EventSerializer.Meta.fields,
            "description",
            "materials_url",
            "recording_url",
            "sessions",
            "stage_roles",
        ]


class RegistrationRequestSerializer(ClosedSerializer):
    """What to register for or cancel: the event itself, or one of its sessions."""

    session = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text=gettext_lazy(
            "A session of this event (its id); leave it out for the event itself."
        ),
    )


class RegistrationStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    waitlist_position = serializers.IntegerField(
        allow_null=True,
        help_text=gettext_lazy("1 for the next person in line; null when not waiting."),
    )


class MyRegistrationSerializer(serializers.ModelSerializer):
    event = EventSerializer(read_only=True)
    session = SessionSerializer(read_only=True, allow_null=True)
    waitlist_position = serializers.IntegerField(source="queue_number", allow_null=True)
    join_url = serializers.SerializerMethodField()

    class Meta:
        model = Registration
        fields = ["id", "event", "session", "status", "waitlist_position", "join_url"]

    def get_join_url(self, registration: Registration) -> str | None:
        if registration.status != Status.CONFIRMED:
            return None
        return registration.event.online_url or None


# --- Views ---------------------------------------------------------------------------------


def _visible_events(user, scope=None):
    return (
        selectors.events_visible_to(user=user, scope=scope)
        .select_related("language")
        .prefetch_related(Prefetch("clusters", queryset=Cluster.objects.order_by("name")), "topics")
        .order_by("starts_at", "pk")
    )


class _ConditionalMixin:
    """ETag of what this requester sees, 304 when it matches, and the answer cached under it.

    The tag covers the requester's scope (who they are, their clusters), the query, the
    events answered and their versions (`events.fragments`): a registration or an edit
    gives a new tag at once, and one viewer's tag never validates another viewer's answer.
    """

    def conditional(self, request, *, event_ids: list[int], extra, answer):
        versions = fragments.versions(event_ids=event_ids)
        parts = [
            type(self).__name__,
            fragments.viewer_key(user=request.user, clusters=self.scope[0], managed=self.scope[1]),
            sorted(request.GET.lists()),
            event_ids,
            sorted(versions.items(), key=str),
            extra,
            request.build_absolute_uri("/"),
            get_language(),
        ]
        etag = '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:40] + '"'
        response = get_conditional_response(request, etag=etag)
        if response is None:
            data = cache.get(f"events:api:{etag}") if page_cache.enabled() else None
            if data is None:
                data = answer()
                if page_cache.enabled():
                    cache.set(f"events:api:{etag}", data, timeout=page_cache.TIMEOUT)
            response = Response(data)
        response["ETag"] = etag
        patch_vary_headers(response, ["Cookie", "Authorization", "Accept-Language"])
        return response


class EventListAPI(_ConditionalMixin, generics.ListAPIView):
    """Events the requester may see; anonymous requests see public events."""

    serializer_class = EventSerializer
    filterset_class = EventAPIFilter
    permission_classes = [AllowAny]

    def get_queryset(self):
        return _visible_events(self.request.user, getattr(self, "scope", None))

    def list(self, request, *args, **kwargs):
        self.scope = selectors.viewer_scope(user=request.user)
        # The query is checked first (400 for a bad one); the visible events are put
        # together only when the page is not in the cache.
        self.filter_queryset(Event.objects.none())
        try:
            number = int(request.query_params.get(self.paginator.page_query_param, 1))
        except ValueError:
            number = 0
        if number < 1:  # "last", "0", "-1", text: the paginator answers as it always did
            return super().list(request, *args, **kwargs)
        size = self.paginator.get_page_size(request)
        ids, count = self.page_ids_and_count(request, number=number, size=size)

        def answer():
            return super(EventListAPI, self).list(request, *args, **kwargs).data

        return self.conditional(request, event_ids=ids, extra=count, answer=answer)

    def page_ids_and_count(self, request, *, number: int, size: int) -> "tuple[list[int], int]":
        def visible() -> QuerySet[Event]:
            return self.filter_queryset(self.get_queryset())

        if "upcoming" in request.query_params:  # depends on the clock: not cached
            return selectors.page_ids_and_count(visible(), number=number, size=size)
        return selectors.cached_page_ids_and_count(
            name="api-list",
            user=request.user,
            scope=self.scope,
            parts=sorted(request.query_params.lists()),
            queryset=visible,
            number=number,
            size=size,
        )


class EventDetailAPI(_ConditionalMixin, generics.RetrieveAPIView):
    serializer_class = EventDetailSerializer
    permission_classes = [AllowAny]

    def retrieve(self, request, *args, **kwargs):
        self.scope = selectors.viewer_scope(user=request.user)
        visible = selectors.events_visible_to(user=request.user, scope=self.scope)
        if not visible.filter(pk=self.kwargs["pk"]).exists():
            raise Http404(_("No such event."))

        def answer():
            return super(EventDetailAPI, self).retrieve(request, *args, **kwargs).data

        return self.conditional(request, event_ids=[self.kwargs["pk"]], extra=None, answer=answer)

    def get_object(self):
        queryset = _visible_events(
            self.request.user, getattr(self, "scope", None)
        ).prefetch_related(
            Prefetch("sessions", queryset=Session.objects.order_by("starts_at", "track", "pk")),
            Prefetch(
                "stage_roles",
                queryset=StageRole.objects.select_related("profile").order_by("order", "pk"),
            ),
        )
        return get_object_or_404(queryset, pk=self.kwargs["pk"])


def _status_body(registration: Registration) -> dict:
    return {
        "status": registration.status,
        "waitlist_position": discovery.waitlist_number(registration=registration),
    }


def _refused(detail: str, *, busy: bool = False) -> Response:
    """409: the request is well formed, but the event as it stands says no.

    400 is kept for requests that break the schema (a field of the wrong type).
    """
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if busy else None
    return Response({"detail": detail}, status=status.HTTP_409_CONFLICT, headers=headers)


def _error(error: services.RegistrationError) -> Response:
    return _refused(str(error), busy=isinstance(error, services.RegistrationBusy))


class _RegistrationActionAPI(generics.GenericAPIView):
    serializer_class = RegistrationRequestSerializer
    permission_classes = [IsAuthenticated]
    # A JSON body (or none): form encodings cannot say `"session": null`.
    parser_classes = [JSONParser]

    def event_and_session(self, request, pk: int) -> tuple[Event, int | None]:
        # The viewer's clusters, looked up once for this check and the service's own.
        self.scope = selectors.viewer_scope(user=request.user)
        visible = selectors.events_visible_to(user=request.user, scope=self.scope)
        event = visible.filter(pk=pk).first()
        if event is None:
            raise Http404(_("No such event."))
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return event, serializer.validated_data.get("session")


def _session_of(event: Event, session_id: int | None) -> Session | None:
    return Session.objects.filter(pk=session_id, event=event).first() if session_id else None


_refusals = {
    409: OpenApiResponse(
        ErrorSerializer,
        description=(
            "Refused as things stand, `detail` says why: registration closed, the event over, "
            "no such session of this event, not registered (to cancel). When many people "
            "register at once, try again after `Retry-After` seconds."
        ),
    ),
}
_retry_after = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[409],
    description="Seconds to wait before trying again, when the refusal was only busyness.",
)


class EventRegisterAPI(_RegistrationActionAPI):
    @extend_schema(
        request=RegistrationRequestSerializer,
        parameters=[_retry_after],
        responses={
            201: RegistrationStatusSerializer,
            200: OpenApiResponse(RegistrationStatusSerializer, description="Already registered."),
            **_refusals,
        },
    )
    def post(self, request, pk: int):
        """Register for the event, or for one of its sessions: confirmed, waitlisted or pending."""
        event, session_id = self.event_and_session(request, pk)
        session = _session_of(event, session_id)
        if session_id and session is None:
            return _refused(_("This event has no such session."))
        try:
            registered = services.event_register_outcome(
                event=event, user=request.user, session=session, scope=self.scope, visible=True
            )
        except services.RegistrationError as error:
            return _error(error)
        return Response(
            {
                "status": registered.registration.status,
                "waitlist_position": registered.waitlist_number,
            },
            status=status.HTTP_201_CREATED if registered.changed else status.HTTP_200_OK,
        )


class EventCancelAPI(_RegistrationActionAPI):
    @extend_schema(
        request=RegistrationRequestSerializer,
        parameters=[_retry_after],
        responses={200: RegistrationStatusSerializer, **_refusals},
    )
    def post(self, request, pk: int):
        """Cancel my registration for the event (and its sessions), or for one session."""
        event, session_id = self.event_and_session(request, pk)
        session = _session_of(event, session_id)
        if session_id and session is None:
            return _refused(_("This event has no such session."))
        registration = selectors.registration_for(event=event, user=request.user, session=session)
        if registration is None:
            return _refused(_("You are not registered for this."))
        try:
            registration = services.registration_cancel(registration=registration, by=request.user)
        except services.RegistrationError as error:
            return _error(error)
        return Response(_status_body(registration), status=status.HTTP_200_OK)


def _queue_number() -> Case:
    """A waitlisted registration's rank among those still waiting for the same seat."""

    def ahead(same_seat: Q) -> Subquery:
        rows = (
            Registration.objects.filter(
                same_seat,
                status=Status.WAITLISTED,
                waitlist_position__lte=OuterRef("waitlist_position"),
            )
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values("n")[:1]
        )
        return Subquery(rows, output_field=IntegerField())

    return Case(
        When(
            status=Status.WAITLISTED,
            session__isnull=True,
            then=ahead(Q(event_id=OuterRef("event_id"), session__isnull=True)),
        ),
        When(status=Status.WAITLISTED, then=ahead(Q(session_id=OuterRef("session_id")))),
        default=None,
        output_field=IntegerField(),
    )


class MyRegistrationListAPI(generics.ListAPIView):
    """My registrations, cancelled ones included, soonest event first."""

    serializer_class = MyRegistrationSerializer
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Registration.objects.none()
        return (
            Registration.objects.filter(user=self.request.user)
            .select_related("event__language", "session")
            .prefetch_related(
                Prefetch("event__clusters", queryset=Cluster.objects.order_by("name")),
                "event__topics",
            )
            .annotate(queue_number=_queue_number())
            .order_by("event__starts_at", "session__starts_at", "pk")
        )
