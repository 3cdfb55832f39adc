"""After the day: how meeting requests became meetings, and meetings cooperation.

The stages, each a part of the one before, so the funnel never widens:
- requested: every meeting request of the event (each request is one `Meeting` row);
- accepted: requests the other side accepted — still accepted, or accepted and later
  cancelled (a cancelled request that was answered had been accepted);
- scheduled: accepted meetings that are still on, placed in a slot;
- held: scheduled meetings checked in by the organiser, or that at least one side
  confirmed took place while neither side said it did not;
- follow-up intended: held meetings of which at least one side said they may lead to
  cooperation.

Counted as meetings and as participants (a participant counts in a stage when at least
one of their meetings is there), overall and by organisation kind. By kind, a meeting
counts once under each kind that takes part: an SME meeting a research institute counts
under both, two SMEs once under SME — so the rows add up to more than the total.

Constant queries whatever the size of the event: everything is counted in the database.
No gender here: the funnel by gender is `insights.brokerage`, through `members.privacy`.
"""

from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from events.models import Event
from matchmaking.brokerage.models import Meeting, Participant
from members.models import Organisation

S = Meeting.Status
HELD = Q(checked_in_at__isnull=False) | (
    (Q(requester_held=True) | Q(recipient_held=True))
    & ~Q(requester_held=False)
    & ~Q(recipient_held=False)
)
STAGE_CONDITIONS: dict[str, Q] = {
    "requested": Q(),
    "accepted": Q(status=S.ACCEPTED) | Q(status=S.CANCELLED, answered_at__isnull=False),
    "scheduled": Q(status=S.ACCEPTED, slot__isnull=False),
    "held": Q(status=S.ACCEPTED, slot__isnull=False) & HELD,
    "follow_up": Q(status=S.ACCEPTED, slot__isnull=False)
    & HELD
    & (Q(requester_follow_up=True) | Q(recipient_follow_up=True)),
}
STAGES = tuple(STAGE_CONDITIONS)
STAGE_LABELS = {
    "requested": _("Requested"),
    "accepted": _("Accepted"),
    "scheduled": _("Scheduled"),
    "held": _("Held"),
    "follow_up": _("Follow-up intended"),
}


@dataclass(frozen=True)
class FunnelRow:
    """One row of the funnel: a label and the count per stage."""

    key: str
    label: str
    meetings: dict[str, int]
    participants: dict[str, int]

    def meeting_counts(self) -> list[int]:
        return [self.meetings[s] for s in STAGES]

    def participant_counts(self) -> list[int]:
        return [self.participants[s] for s in STAGES]


@dataclass(frozen=True)
class Funnel:
    event: Event
    joined: int  # participants of the day, with or without a request
    total: FunnelRow
    by_kind: list[FunnelRow]


def _stage_counts() -> dict[str, Count]:
    return {
        f"n_{stage}": Count("pk", filter=condition) if condition else Count("pk")
        for stage, condition in STAGE_CONDITIONS.items()
    }


def _participant_flags(event: Event) -> QuerySet[Participant]:
    """Participants with one flag per stage: has a meeting in that stage (either side)."""
    flags = {}
    for stage, condition in STAGE_CONDITIONS.items():
        mine = Meeting.objects.filter(condition, event=event).filter(
            Q(requester=OuterRef("pk")) | Q(recipient=OuterRef("pk"))
        )
        flags[f"in_{stage}"] = Exists(mine)
    return Participant.objects.filter(event=event).annotate(**flags)


def _participant_counts() -> dict[str, Count]:
    counts = {"n_joined": Count("pk")}
    counts.update(
        {f"n_{stage}": Count("pk", filter=Q(**{f"in_{stage}": True})) for stage in STAGES}
    )
    return counts


def _row(key: str, label: str, meetings: dict, participants: dict) -> FunnelRow:
    return FunnelRow(
        key=key,
        label=str(label),
        meetings={s: meetings.get(f"n_{s}") or 0 for s in STAGES},
        participants={s: participants.get(f"n_{s}") or 0 for s in STAGES},
    )


def funnel_for_event(*, event: Event) -> Funnel:
    """The funnel of one brokerage event, overall and per organisation kind (every kind,
    with zeros where nobody of that kind took part). Five queries."""
    meetings = Meeting.objects.filter(event=event).order_by()
    overall_meetings = meetings.aggregate(**_stage_counts())
    # By kind: once under the requester's kind, once more under the recipient's when it
    # differs.
    by_requester = meetings.values("requester__organisation_kind").annotate(**_stage_counts())
    by_recipient = (
        meetings.exclude(recipient__organisation_kind=F("requester__organisation_kind"))
        .values("recipient__organisation_kind")
        .annotate(**_stage_counts())
    )
    kind_meetings: dict[str, dict[str, int]] = {}
    for rows, field in (
        (by_requester, "requester__organisation_kind"),
        (by_recipient, "recipient__organisation_kind"),
    ):
        for row in rows:
            target = kind_meetings.setdefault(row[field], {})
            for stage in STAGES:
                target[f"n_{stage}"] = target.get(f"n_{stage}", 0) + row[f"n_{stage}"]
    people = _participant_flags(event).order_by()
    overall_people = people.aggregate(**_participant_counts())
    kind_people = {
        row["organisation_kind"]: row
        for row in people.values("organisation_kind").annotate(**_participant_counts())
    }
    return Funnel(
        event=event,
        joined=overall_people["n_joined"] or 0,
        total=_row("all", _("All participants"), overall_meetings, overall_people),
        by_kind=[
            _row(kind, label, kind_meetings.get(kind, {}), kind_people.get(kind, {}))
            for kind, label in Organisation.Kind.choices
        ],
    )
