"""Reads of a brokerage day: who takes part, their requests and agenda, free common slots.

Everything here is already `select_related`/`prefetch_related` for the pages and mails
that show it (a partner's name and organisation, the slot, the table), so a list's query
count does not grow with its rows.

A *participant* is a person with a seat on the event: a registration (for the event,
not one of its sessions) in `Registration.SEAT_STATUSES`. The `Participant` row is what
the marketplace shows of them, written when they first join.
"""

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Event, Registration
from events.selectors import events_visible_to
from matchmaking.brokerage.models import (
    BrokerageSettings,
    Meeting,
    MeetingSeat,
    Participant,
    Slot,
    Table,
)
from members.models import User

LIVE = Q(status__in=Meeting.LIVE_STATUSES)


def holding(now=None) -> Q:
    """Meetings that hold their seats and table at `now`: live, but not a request whose
    answer deadline has passed (it is expired by the sweep, or by the next writer that
    meets it, and its time is free from its deadline on)."""
    now = now or timezone.now()
    return LIVE & ~Q(status=Meeting.Status.PENDING, expires_at__lte=now)


# What a page or mail about a meeting shows of both sides.
MEETING_RELATED = (
    "event",
    "slot",
    "table",
    "requester__user__profile__organisation",
    "recipient__user__profile__organisation",
)


def participant_name(participant: Participant) -> str:
    """How pages and mail name a participant (`Participant.name`)."""
    return participant.name


def participant_organisation(participant: Participant) -> str:
    """The name of the participant's organisation ("" when none)."""
    return participant.organisation_name


def brokerage_event_get(*, user: User, slug: str) -> Event:
    """A brokerage event this person may see (published, or one they manage); 404 else."""
    event = (
        events_visible_to(user=user)
        .filter(kind=Event.Kind.BROKERAGE, slug=slug)
        .select_related("brokerage")
        .first()
    )
    if event is None:
        raise Http404(_("No such brokerage event."))
    return event


def brokerage_settings_of(*, event: Event) -> BrokerageSettings:
    """The event's settings as they stand; the defaults (unsaved) when none were written.

    A read: writers use `day_setup.brokerage_settings_for`, which creates the row."""
    try:
        return event.brokerage
    except BrokerageSettings.DoesNotExist:
        return BrokerageSettings(event=event)


def user_is_participant(*, event: Event, user: User) -> bool:
    """Whether this person has a seat on the event (may join and use its marketplace)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return Registration.objects.filter(
        event=event, session__isnull=True, user=user, status__in=Registration.SEAT_STATUSES
    ).exists()


def participant_for(*, event: Event, user: User) -> Participant | None:
    """This person's participant row on the event, if they joined (and still have a seat
    — a person who cancelled their registration no longer takes part)."""
    if not user_is_participant(event=event, user=user):
        return None
    return (
        Participant.objects.filter(event=event, user=user)
        .select_related("event", "user__profile__organisation")
        .prefetch_related("blocks")
        .first()
    )


def seated(participants: QuerySet[Participant]) -> QuerySet[Participant]:
    """Only the participants who still have a seat on their event."""
    seat = Registration.objects.filter(
        event_id=OuterRef("event_id"),
        user_id=OuterRef("user_id"),
        session__isnull=True,
        status__in=Registration.SEAT_STATUSES,
    )
    return participants.filter(Exists(seat))


def meetings_with_sides() -> QuerySet[Meeting]:
    """Meetings with both sides' names and organisations, the slot and the table."""
    return Meeting.objects.select_related(*MEETING_RELATED)


def meeting_get_for(*, participant: Participant, pk: int) -> Meeting:
    """A meeting this participant is one side of; 404 else."""
    meeting = (
        meetings_with_sides()
        .filter(Q(requester=participant) | Q(recipient=participant), pk=pk)
        .first()
    )
    if meeting is None:
        raise Http404(_("No such meeting."))
    return meeting


def commitments_of(*, participant: Participant, exclude: Meeting | None = None) -> int:
    """How many meetings count against this person's `max_meetings`: those accepted
    (either side) and the requests they sent that wait for an answer. Requests they
    received do not count until they accept them, so nobody can fill another's agenda."""
    qs = Meeting.objects.filter(
        Q(status=Meeting.Status.ACCEPTED, requester=participant)
        | Q(status=Meeting.Status.ACCEPTED, recipient=participant)
        | Q(status=Meeting.Status.PENDING, requester=participant)
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.count()


def seat_lost() -> Q:
    """Meetings (a `Meeting` queryset filter) one side of which no longer has a seat on
    the event: registration cancelled or not confirmed, or the account deactivated."""

    def seat(side: str) -> Exists:
        return Exists(
            Registration.objects.filter(
                event_id=OuterRef("event_id"),
                user_id=OuterRef(f"{side}__user_id"),
                user__is_active=True,
                session__isnull=True,
                status__in=Registration.SEAT_STATUSES,
            )
        )

    return ~seat("requester") | ~seat("recipient")


def live_meeting_between(*, a: Participant, b: Participant) -> Meeting | None:
    """The live request or meeting of this pair, whichever side asked."""
    return (
        Meeting.objects.filter(LIVE)
        .filter(Q(requester=a, recipient=b) | Q(requester=b, recipient=a))
        .first()
    )


def _present(participant: Participant) -> list[int]:
    """The blocks this person attends; [] means every block."""
    return [block.pk for block in participant.blocks.all()]


def free_tables(*, slot: Slot, exclude: Meeting | None = None) -> QuerySet[Table]:
    """Tables in use at the event that no live meeting (but `exclude`) holds in `slot`,
    in position order."""
    taken = Meeting.objects.filter(holding(), slot=slot, table_id=OuterRef("pk"))
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    return (
        Table.objects.filter(event_id=slot.event_id, is_active=True)
        .filter(~Exists(taken))
        .order_by("position", "pk")
    )


def free_common_slots(*, a: Participant, b: Participant) -> list[Slot]:
    """Slots where both can meet: ahead, not a break, in a block both attend, neither
    already seated in it, and a table still free. Ordered by time."""
    slots = Slot.objects.filter(event_id=a.event_id, is_break=False, starts_at__gt=timezone.now())
    # Seats of requests past their answer deadline are free (see `holding`).
    for side in (a, b):
        blocks = _present(side)
        if blocks:
            slots = slots.filter(block_id__in=blocks)
    now = timezone.now()
    seated_here = MeetingSeat.objects.filter(
        slot_id=OuterRef("pk"), participant__in=[a.pk, b.pk]
    ).exclude(meeting__status=Meeting.Status.PENDING, meeting__expires_at__lte=now)
    taken = Meeting.objects.filter(
        holding(now), slot_id=OuterRef(OuterRef("pk")), table_id=OuterRef("pk")
    )
    table_free = Table.objects.filter(event_id=a.event_id, is_active=True).filter(~Exists(taken))
    slots = slots.filter(~Exists(seated_here)).filter(Exists(table_free))
    return list(slots.select_related("block").order_by("starts_at", "pk"))


def slot_open_for(*, slot: Slot, a: Participant, b: Participant) -> bool:
    """Whether `slot` is one of `free_common_slots(a, b)` (one query)."""
    return any(s.pk == slot.pk for s in free_common_slots(a=a, b=b))


def agenda_for(*, participant: Participant) -> list[Meeting]:
    """This person's published meetings with a time: accepted, placed, published; by time.

    Each meeting carries the partner (`meeting.partner`) with their profile and
    organisation, the slot and the table."""
    meetings = list(
        meetings_with_sides()
        .filter(Q(requester=participant) | Q(recipient=participant))
        .filter(status=Meeting.Status.ACCEPTED, slot__isnull=False, published_at__isnull=False)
        .order_by("slot__starts_at", "pk")
    )
    for meeting in meetings:
        meeting.partner = meeting.other(participant)
    return meetings


def requests_for(*, participant: Participant) -> dict[str, QuerySet[Meeting]]:
    """The requests this person received and sent (every status), newest first; the
    ones waiting for an answer first."""
    base = meetings_with_sides().annotate(
        status_pending=Case(
            When(status=Meeting.Status.PENDING, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
    )
    ordering = ("-status_pending", "-created_at", "-pk")
    return {
        "received": base.filter(recipient=participant).order_by(*ordering),
        "sent": base.filter(requester=participant).order_by(*ordering),
    }


def meetings_of_event(*, event: Event) -> QuerySet[Meeting]:
    """Every meeting of the event with both sides, slot and table (organiser pages)."""
    return meetings_with_sides().filter(event=event)
