"""Gender balance of events: who registers, attends and speaks — figures only.

Every number comes from `members.privacy` (the only code that reads gender), which counts
in the database and publishes each figure as a multiple of k or "fewer than k". This
module only says *what* to count: which registrations, stage roles and people, grouped how.
"""

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Q, QuerySet
from django.db.models.functions import TruncMonth, TruncQuarter, TruncYear
from django.utils import timezone

from events.models import Event, Registration, RegistrationTally, Session, StageRole
from insights import mentoring
from insights.filters import BalanceFilter
from members import privacy
from members.models import Cluster, Organisation, User
from members.privacy import Breakdown, GenderCounts

RS = Registration.Status

# The registration funnel: each stage a condition on event registrations.
FUNNEL: dict[str, Q] = {
    "registered": Q(),
    "waitlisted": Q(status=RS.WAITLISTED),
    "participants": Q(status__in=[RS.CONFIRMED, RS.ATTENDED]),
    "attended": Q(status=RS.ATTENDED),
    "no_show": Q(status=RS.NO_SHOW),
}
FUNNEL_LABELS = {
    "registered": "Registered",
    "waitlisted": "Waitlisted",
    "participants": "Participants",
    "attended": "Attended",
    "no_show": "No-show",
}
STAGE: dict[str, Q] = {
    "on_stage": Q(),
    **{role: Q(role=role) for role in StageRole.Role.values},
}
# Who makes up a panel (a session with panellists): its panellists and its moderator.
PANEL_ROLES = [StageRole.Role.PANELLIST, StageRole.Role.MODERATOR]
PERIODS = {"month": TruncMonth, "quarter": TruncQuarter, "year": TruncYear}


def _share_of_women(counts: GenderCounts) -> float | None:
    return counts.share(privacy.Gender.WOMAN)


@dataclass(frozen=True)
class TargetPosition:
    share: float | None  # share of women among participants, when it may be shown
    position: str  # "below", "balanced", "above", or "unknown" (too few to say)

    @property
    def label(self) -> str:
        return {
            "below": "Below target",
            "balanced": "Balanced",
            "above": "Above the balanced zone",
            "unknown": "Too few to say",
        }[self.position]


def target_position(
    *, share: float | None, cluster: Cluster, at_most: float | None = None
) -> TargetPosition:
    """Where a share of women stands against the cluster's target and balanced zone.
    Without a share, `at_most` (an upper bound) may still place it below target."""
    if share is None:
        if at_most is not None and at_most * 100 < cluster.women_target_percent:
            return TargetPosition(share=None, position="below")
        return TargetPosition(share=None, position="unknown")
    percent = share * 100
    if percent < cluster.women_target_percent:
        position = "below"
    elif percent > cluster.balanced_to_percent:
        position = "above"
    elif percent >= cluster.balanced_from_percent:
        position = "balanced"
    else:
        position = "below"
    return TargetPosition(share=share, position=position)


def women_against_target(counts: GenderCounts, cluster: Cluster) -> TargetPosition:
    return target_position(
        share=_share_of_women(counts),
        cluster=cluster,
        at_most=counts.share_at_most(privacy.Gender.WOMAN),
    )


# --- one event -------------------------------------------------------------------------


@dataclass(frozen=True)
class EventBalance:
    event: Event
    funnel: dict[str, GenderCounts]
    sessions: list[tuple[Session, dict[str, GenderCounts]]]
    stage: dict[str, GenderCounts]
    flags: privacy.StageFlags
    targets: list[tuple[Cluster, TargetPosition]]

    @property
    def share_of_women(self) -> float | None:
        return _share_of_women(self.funnel["participants"])


def event_stage_flags(*, roles: QuerySet[StageRole]) -> privacy.StageFlags:
    return privacy.stage_flags(
        roles,
        person="profile__user",
        guest_gender="guest_gender",
        role_field="role",
        panel_field="session",
        panel_roles=PANEL_ROLES,
        moderator_role=StageRole.Role.MODERATOR,
    )


def balance_for_event(*, event: Event) -> EventBalance:
    """Funnel, per-session funnels, the stage and its flags of one event (fixed queries)."""
    registrations = Registration.objects.filter(event=event)
    [whole] = privacy.gender_breakdown(registrations.filter(session__isnull=True), measures=FUNNEL)
    by_session = privacy.gender_breakdown(
        registrations.filter(session__isnull=False), measures=FUNNEL, group_by=["session"]
    )
    sessions = {s.pk: s for s in event.sessions.all()}
    roles = StageRole.objects.filter(event=event)
    [stage] = privacy.gender_breakdown(
        roles, person="profile__user", guest_gender="guest_gender", measures=STAGE
    )
    participants = whole.measures["participants"]
    return EventBalance(
        event=event,
        funnel=whole.measures,
        sessions=[
            (sessions[row.group["session"]], row.measures)
            for row in by_session
            if row.group["session"] in sessions
        ],
        stage=stage.measures,
        flags=event_stage_flags(roles=roles),
        targets=[
            (cluster, women_against_target(participants, cluster))
            for cluster in event.clusters.all()
        ],
    )


# --- across events ---------------------------------------------------------------------


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.get_current_timezone())


def events_in(filters: BalanceFilter) -> QuerySet[Event]:
    events = Event.objects.filter(clusters=filters.cluster).exclude(status=Event.Status.DRAFT)
    if filters.start:
        events = events.filter(starts_at__gte=_moment(filters.start))
    if filters.end:
        events = events.filter(starts_at__lt=_moment(filters.end))
    if filters.kind:
        events = events.filter(kind=filters.kind)
    if filters.topic:
        events = events.filter(topics=filters.topic)
    return events


def _registrations_in(filters: BalanceFilter) -> QuerySet[Registration]:
    return Registration.objects.filter(
        session__isnull=True, event__in=events_in(filters).values("pk")
    )


def _stage_in(filters: BalanceFilter) -> QuerySet[StageRole]:
    return StageRole.objects.filter(event__in=events_in(filters).values("pk"))


def _tallies_in(filters: BalanceFilter) -> QuerySet[RegistrationTally]:
    """The events' registrations, already counted per status and category (events.tally):
    a few rows per event instead of every registration."""
    return RegistrationTally.objects.filter(event__in=events_in(filters).values("pk"))


def balance_by_period_and_kind(*, filters: BalanceFilter) -> dict[str, list[Breakdown]]:
    """The funnel per month, quarter or year ("trend", group key "when") and per event
    kind ("kind", "event__kind"), from one pass over the tallies."""
    trunc = PERIODS.get(filters.period, TruncQuarter)
    rows = _tallies_in(filters).annotate(when=trunc("event__starts_at"))
    return privacy.tallied_tables(
        rows,
        measures=FUNNEL,
        tables={"trend": ["when"], "kind": ["event__kind"]},
        count="registrations",
    )


def balance_trend(*, filters: BalanceFilter) -> list[Breakdown]:
    return balance_by_period_and_kind(filters=filters)["trend"]


def balance_by_kind(*, filters: BalanceFilter) -> list[Breakdown]:
    return balance_by_period_and_kind(filters=filters)["kind"]


def balance_by_topic(*, filters: BalanceFilter) -> list[Breakdown]:
    """Per topic of the events (an event with two topics counts under both)."""
    return privacy.tallied_tables(
        _tallies_in(filters).filter(event__topics__isnull=False),
        measures=FUNNEL,
        tables={"": ["event__topics__name"]},
        count="registrations",
    )[""]


def stage_in_period(*, filters: BalanceFilter) -> dict[str, GenderCounts]:
    [row] = privacy.gender_breakdown(
        _stage_in(filters), person="profile__user", guest_gender="guest_gender", measures=STAGE
    )
    return row.measures


def _members(filters: BalanceFilter) -> GenderCounts:
    organisations = Organisation.objects.filter(clusters=filters.cluster).values("pk")
    users = User.objects.filter(is_active=True, profile__organisation__in=organisations)
    return privacy.gender_breakdown(users, person="")[0].measures["total"]


def _people(rows: QuerySet, person: str, condition: Q | None = None) -> GenderCounts:
    [row] = privacy.gender_breakdown(
        rows, person=person, measures={"people": condition or Q()}, distinct=True
    )
    return row.measures["people"]


def balance_pipeline(*, filters: BalanceFilter) -> list[tuple[str, str, GenderCounts]]:
    """(key, label, figures) from members to speakers and beyond, counting people."""
    # Registered and attended people in one pass over the registrations.
    [people] = privacy.gender_breakdown(
        _registrations_in(filters),
        measures={"registered": Q(), "attended": Q(status=RS.ATTENDED)},
        distinct=True,
    )
    stages = [
        ("members", "Members", _members(filters)),
        ("registered", "Registered", people.measures["registered"]),
        ("attended", "Attended", people.measures["attended"]),
        (
            "speakers",
            "On stage",
            _people(_stage_in(filters).filter(profile__isnull=False), "profile__user"),
        ),
    ]
    stages.append(("mentees", "Mentees", mentoring.mentees_in_period(filters)))
    stages.append(("mentors", "Mentors", mentoring.mentors_in_period(filters)))
    return stages


@dataclass(frozen=True)
class EventRow:
    event: Event
    participants: GenderCounts
    target: TargetPosition
    all_male_panels: int


def events_against_target(*, filters: BalanceFilter, events: list[Event]) -> list[EventRow]:
    """Where each of the given events stands: two queries for all of them."""
    rows = privacy.gender_breakdown(
        Registration.objects.filter(session__isnull=True, event__in=[e.pk for e in events]),
        measures={"participants": FUNNEL["participants"]},
        group_by=["event"],
    )
    by_event = {row.group["event"]: row.measures["participants"] for row in rows}
    empty = privacy.publish({})
    flags = _all_male_panels_by_event(events)
    out = []
    for event in events:
        participants = by_event.get(event.pk, empty)
        out.append(
            EventRow(
                event=event,
                participants=participants,
                target=women_against_target(participants, filters.cluster),
                all_male_panels=flags.get(event.pk, 0),
            )
        )
    return out


def _all_male_panels_by_event(events: list[Event]) -> dict[int, int]:
    return privacy.all_male_panels(
        StageRole.objects.filter(event__in=[e.pk for e in events]),
        person="profile__user",
        guest_gender="guest_gender",
        role_field="role",
        panel_field="session",
        panel_roles=PANEL_ROLES,
        per="event",
    )
