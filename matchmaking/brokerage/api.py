"""REST API of a brokerage day, for the signed-in participant: their agenda and their
meeting requests, and sending, accepting or declining a request.

Everything is the requester's own: an event where they have no seat is a 404, as an event
they may not see is (the API's convention for what is not theirs), and a request that is
not theirs is a 404 too. Every write goes through `matchmaking.brokerage.services`, so the
rules of the pages hold here: a refusal "as things stand" (the request already answered,
no free common slot, the recipient's cap reached) is a 409 with `detail`, and 400 is kept
for a body that breaks the schema. The online room link of a table appears only in the
requester's own agenda. No serializer here has a gender field, by design.
"""

import django_filters
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models
from django.db.models import Case, Q, QuerySet, Value, When
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from events.models import Event
from matchmaking.brokerage import marketplace, selectors, services
from matchmaking.brokerage.models import Meeting, Participant, Slot
from members.api_schema import NO_CONTROL_CHARACTERS, ClosedSerializer, ErrorSerializer
from members.models import Organisation, Profile
from members.validators import has_control_characters

# The largest id a client may name (PostgreSQL's bigint); a larger number is a 400.
MAX_ID = 2**63 - 1
# A simultaneous change answered "try again": a client may retry after this many seconds.
RETRY_AFTER_SECONDS = 2

MStatus = Meeting.Status


class Direction(models.TextChoices):
    """Which side of a meeting request the requester is on."""

    RECEIVED = "received", gettext_lazy("Received: someone asked to meet me")
    SENT = "sent", gettext_lazy("Sent: I asked to meet someone")


def _no_control_characters(value: str) -> None:
    if has_control_characters(value):
        raise serializers.ValidationError(
            _("Remove the invisible control characters from this text.")
        )


# --- Serializers ---------------------------------------------------------------------------


class PartnerSerializer(serializers.Serializer):
    """The other person of a meeting, as the marketplace shows them."""

    id = serializers.IntegerField(
        help_text=gettext_lazy("Their participant id on this day (to ask them to meet).")
    )
    display_name = serializers.CharField()
    organisation = serializers.CharField(
        allow_null=True, help_text=gettext_lazy("Their organisation's name; null: none.")
    )
    organisation_kind = serializers.ChoiceField(choices=Organisation.Kind.choices)


def _partner(participant: Participant) -> dict:
    # `_meetings` selects the profile and its organisation with both sides.
    profile: Profile | None = getattr(participant.user, "profile", None)
    organisation = profile.organisation if profile else None
    return {
        "id": participant.pk,
        "display_name": profile.display_name if profile else participant.user.get_full_name(),
        "organisation": organisation.name if organisation else None,
        "organisation_kind": participant.organisation_kind,
    }


class _MeetingSerializer(serializers.Serializer):
    """A meeting seen by one of its two people (`context["participant"]`)."""

    def get_partner(self, meeting: Meeting) -> dict:
        return _partner(meeting.other(self.context["participant"]))


class AgendaMeetingSerializer(_MeetingSerializer):
    """A meeting of my agenda: when, where and with whom."""

    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField(source="slot.starts_at")
    ends_at = serializers.DateTimeField(source="slot.ends_at")
    table = serializers.CharField(
        source="table.name",
        allow_null=True,
        default=None,
        help_text=gettext_lazy("The table or online room; null: not given yet."),
    )
    online_url = serializers.SerializerMethodField(
        help_text=gettext_lazy("The online room's link, for the two people meeting; else null.")
    )
    partner = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=MStatus.choices)
    sequence = serializers.IntegerField(
        help_text=gettext_lazy(
            "Goes up by one each time the meeting's time or place changes (as in the "
            "calendar entry)."
        )
    )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_online_url(self, meeting: Meeting) -> str | None:
        return (meeting.table.online_url or None) if meeting.table else None

    @extend_schema_field(PartnerSerializer)
    def get_partner(self, meeting: Meeting) -> dict:
        return super().get_partner(meeting)


class SlotSerializer(serializers.Serializer):
    """A meeting time of the day."""

    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class MeetingRequestSerializer(_MeetingSerializer):
    """A meeting request I received or sent, and where it stands."""

    id = serializers.IntegerField()
    direction = serializers.SerializerMethodField()
    partner = serializers.SerializerMethodField()
    message = serializers.CharField()
    status = serializers.ChoiceField(choices=MStatus.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text=gettext_lazy("When a request still waiting for an answer expires."),
    )
    slot = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "The slot the meeting is placed in (or the one a waiting request holds); "
            "null: not placed, or not published yet."
        )
    )
    table = serializers.SerializerMethodField(
        help_text=gettext_lazy("The table of a placed meeting, once published; else null.")
    )

    @extend_schema_field(serializers.ChoiceField(choices=Direction.choices))
    def get_direction(self, meeting: Meeting) -> str:
        mine = self.context["participant"].pk
        return Direction.SENT if meeting.requester_id == mine else Direction.RECEIVED

    @extend_schema_field(PartnerSerializer)
    def get_partner(self, meeting: Meeting) -> dict:
        return super().get_partner(meeting)

    @staticmethod
    def _shown(meeting: Meeting) -> bool:
        if meeting.slot_id is None:
            return False
        return meeting.published_at is not None or meeting.status == MStatus.PENDING

    @extend_schema_field(SlotSerializer(allow_null=True))
    def get_slot(self, meeting: Meeting) -> dict | None:
        if not self._shown(meeting) or meeting.status not in Meeting.LIVE_STATUSES:
            return None
        slot = meeting.slot
        return {"id": slot.pk, "starts_at": slot.starts_at, "ends_at": slot.ends_at}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_table(self, meeting: Meeting) -> str | None:
        if meeting.published_at is None or meeting.status != MStatus.ACCEPTED or not meeting.table:
            return None
        return meeting.table.name


class _SlotChoiceSerializer(ClosedSerializer):
    slot = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text=gettext_lazy(
            "Only when participants pick their slots: a free slot common to both (its id). "
            "Leave it out to keep the slot the request holds."
        ),
    )


class MeetingRequestCreateSerializer(_SlotChoiceSerializer):
    recipient = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text=gettext_lazy("The participant to meet (their participant id on this day)."),
    )
    message = serializers.RegexField(
        NO_CONTROL_CHARACTERS,
        required=False,
        allow_blank=True,
        max_length=1000,
        validators=[_no_control_characters],
        help_text=gettext_lazy("Why you would like to meet; up to 1000 characters."),
    )


class MeetingAcceptSerializer(_SlotChoiceSerializer):
    """Accept a request; in pick mode, optionally in another free common slot."""


class MeetingDeclineSerializer(ClosedSerializer):
    """Decline a request: nothing to say but the request's id in the address."""


class MeetingRequestFilter(django_filters.FilterSet):
    direction = django_filters.ChoiceFilter(
        choices=Direction.choices,
        method="filter_direction",
        label=gettext_lazy("Received or sent"),
    )
    status = django_filters.ChoiceFilter(choices=MStatus.choices, label=gettext_lazy("Status"))

    class Meta:
        model = Meeting
        fields = ["direction", "status"]

    def filter_direction(self, queryset, name, value):
        return queryset.filter(direction=value) if value else queryset


# --- Reads ---------------------------------------------------------------------------------


def _participant(request, slug: str) -> tuple[Event, Participant | None]:
    """The brokerage event and the requester's participant, or 404 when they have no seat.

    Someone with a seat who has not opened the marketplace yet has no participant row:
    their agenda and requests are empty, and sending a request joins them first.
    """
    event = selectors.brokerage_event_get(user=request.user, slug=slug)
    if not selectors.user_is_participant(event=event, user=request.user):
        raise Http404(_("No such brokerage event."))
    return event, selectors.participant_for(event=event, user=request.user)


def _meetings(participant: Participant) -> QuerySet[Meeting]:
    """The participant's meetings with both sides' names and organisations, one query."""
    return (
        selectors.meetings_with_sides()
        .filter(Q(requester=participant) | Q(recipient=participant))
        .annotate(
            direction=Case(
                When(requester=participant, then=Value(Direction.SENT)),
                default=Value(Direction.RECEIVED),
                output_field=models.CharField(),
            )
        )
    )


# Django's slug converter, so generated addresses are ones the site can route.
_slug = OpenApiParameter(
    "slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=r"^[-a-zA-Z0-9_]+$",
    description="The brokerage event's slug, as in its address on the site.",
)
_not_yours = OpenApiResponse(
    ErrorSerializer,
    description="No such brokerage event, or you have no seat on it; or no such request of yours.",
)


@extend_schema(
    parameters=[_slug], responses={200: AgendaMeetingSerializer(many=True), 404: _not_yours}
)
class AgendaAPI(generics.ListAPIView):
    """My agenda of the day: my published meetings with a slot, in time order.

    Meetings the organiser has scheduled appear once the schedule is published.
    """

    serializer_class = AgendaMeetingSerializer
    pagination_class = None  # a day holds a few dozen slots at most
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Meeting.objects.none()
        participant = self.participant
        if participant is None:
            return Meeting.objects.none()
        return (
            _meetings(participant)
            .filter(status=MStatus.ACCEPTED, slot__isnull=False, published_at__isnull=False)
            .order_by("slot__starts_at", "pk")
        )

    def list(self, request, *args, **kwargs):
        _event, self.participant = _participant(request, kwargs["slug"])
        return super().list(request, *args, **kwargs)

    def get_serializer_context(self):
        participant = getattr(self, "participant", None)
        return {**super().get_serializer_context(), "participant": participant}


_refusals = {
    409: OpenApiResponse(
        ErrorSerializer,
        description=(
            "Refused as things stand, `detail` says why: e.g. the request was already "
            "answered or has expired, no such participant or slot on this day, no free "
            "common slot, a cap of meetings reached, the marketplace closed. After "
            "`Retry-After` seconds when someone changed the same thing at the same moment."
        ),
    ),
}
_retry_after = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[409],
    description="Seconds to wait before trying again, when the refusal was a simultaneous change.",
)


def _refused(detail: str, *, busy: bool = False) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if busy else None
    return Response({"detail": detail}, status=status.HTTP_409_CONFLICT, headers=headers)


def _service_refusal(error: Exception) -> Response:
    if isinstance(error, IntegrityError):
        return _refused(_("Someone changed this at the same moment. Please try again."), busy=True)
    messages = getattr(error, "messages", None) or [str(error)]
    return _refused(" ".join(str(m) for m in messages))


# The services' refusals (and a constraint a simultaneous change tripped): a 409.
SERVICE_ERRORS = (ValidationError, IntegrityError)


@extend_schema_view(
    get=extend_schema(
        parameters=[_slug],
        responses={200: MeetingRequestSerializer(many=True), 404: _not_yours},
    ),
    post=extend_schema(
        request=MeetingRequestCreateSerializer,
        parameters=[_slug, _retry_after],
        responses={201: MeetingRequestSerializer, 404: _not_yours, **_refusals},
    ),
)
class MeetingRequestListAPI(generics.ListCreateAPIView):
    """My meeting requests, received and sent, newest first; or ask someone to meet.

    A new request waits for the other person's answer until it expires (the organiser's
    setting). When participants pick their slots, it may hold a free common slot.
    """

    serializer_class = MeetingRequestSerializer
    filterset_class = MeetingRequestFilter
    parser_classes = [JSONParser]

    def get_serializer_class(self):
        if self.request.method == "POST":
            return MeetingRequestCreateSerializer
        return MeetingRequestSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Meeting.objects.none()
        participant = self.participant
        if participant is None:
            return Meeting.objects.none()
        return _meetings(participant).order_by("-created_at", "-pk")

    def get_serializer_context(self):
        return {
            **super().get_serializer_context(),
            "participant": getattr(self, "participant", None),
        }

    def list(self, request, *args, **kwargs):
        _event, self.participant = _participant(request, kwargs["slug"])
        return super().list(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        event, participant = _participant(request, kwargs["slug"])
        body = MeetingRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        recipient = _recipient(event=event, viewer=request.user, pk=data["recipient"])
        if recipient is None:
            return _refused(_("This brokerage day has no such participant."))
        slot = None
        if data.get("slot"):
            slot = Slot.objects.filter(event=event, pk=data["slot"]).first()
            if slot is None:
                return _refused(_("This brokerage day has no such slot."))
        try:
            if participant is None:
                participant = services.participant_join(event=event, user=request.user)
            meeting = services.meeting_request(
                event=event,
                requester=participant,
                recipient=recipient,
                message=data.get("message", ""),
                slot=slot,
            )
        except SERVICE_ERRORS as error:
            return _service_refusal(error)
        self.participant = participant
        meeting = _meetings(participant).get(pk=meeting.pk)
        out = MeetingRequestSerializer(meeting, context=self.get_serializer_context())
        return Response(out.data, status=status.HTTP_201_CREATED)


def _recipient(*, event: Event, viewer, pk: int) -> Participant | None:
    """A participant of the event listed to the requester (as in the marketplace:
    `marketplace.participants_listed`); anyone else is "no such one"."""
    return (
        marketplace.participants_listed(event=event, viewer=viewer)
        .filter(pk=pk)
        .select_related("user")
        .first()
    )


class _AnswerAPI(generics.GenericAPIView):
    """Accept or decline a request received (`{id}`: the request's id)."""

    serializer_class = MeetingRequestSerializer
    parser_classes = [JSONParser]
    body_serializer: type[ClosedSerializer]

    def answer(self, *, meeting: Meeting, participant: Participant, data: dict) -> Meeting:
        raise NotImplementedError

    def post(self, request, slug: str, pk: int):
        event, participant = _participant(request, slug)
        meeting = None
        if participant is not None:
            meeting = Meeting.objects.filter(event=event, recipient=participant, pk=pk).first()
        if meeting is None:
            raise Http404(_("You have received no such request."))
        body = self.body_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            self.answer(meeting=meeting, participant=participant, data=body.validated_data)
        except SERVICE_ERRORS as error:
            return _service_refusal(error)
        fresh = _meetings(participant).get(pk=meeting.pk)
        context = {**self.get_serializer_context(), "participant": participant}
        return Response(MeetingRequestSerializer(fresh, context=context).data)


_answer_responses = {200: MeetingRequestSerializer, 404: _not_yours, **_refusals}


class MeetingAcceptAPI(_AnswerAPI):
    body_serializer = MeetingAcceptSerializer

    @extend_schema(
        request=MeetingAcceptSerializer,
        parameters=[_slug, _retry_after],
        responses=_answer_responses,
    )
    def post(self, request, slug: str, pk: int):
        """Accept a request I received. When participants pick their slots, the meeting is
        placed at once (in the slot given, or the one the request holds) at a free table;
        otherwise the organiser's scheduler places it."""
        return super().post(request, slug, pk)

    def answer(self, *, meeting: Meeting, participant: Participant, data: dict) -> Meeting:
        slot = None
        if data.get("slot"):
            slot = Slot.objects.filter(event_id=meeting.event_id, pk=data["slot"]).first()
            if slot is None:
                raise ValidationError(_("This brokerage day has no such slot."))
        return services.meeting_accept(meeting=meeting, by=participant, slot=slot)


class MeetingDeclineAPI(_AnswerAPI):
    body_serializer = MeetingDeclineSerializer

    @extend_schema(
        request=MeetingDeclineSerializer,
        parameters=[_slug, _retry_after],
        responses=_answer_responses,
    )
    def post(self, request, slug: str, pk: int):
        """Decline a request I received; a slot it held is free again."""
        return super().post(request, slug, pk)

    def answer(self, *, meeting: Meeting, participant: Participant, data: dict) -> Meeting:
        return services.meeting_decline(meeting=meeting, by=participant)
