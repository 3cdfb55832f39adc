"""Gender balance of events: who registers, attends and speaks — figures only.

Registration and attendance figures are sums of stored releases (`insights.models`,
drawn once by `insights.services` through `members.privacy`): an event shows them from
its release on, `PRIVACY_RELEASE_AFTER_HOURS` after it ends; before that, no figure of it
shows gender. Stage figures are live and exact, counting only people who agreed that
their gender counts on the stage they appear on. This module says *what* is summed.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncQuarter, TruncYear
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from events.models import Event, Registration, Session, StageRole
from insights import services
from insights.filters import BalanceFilter
from insights.models import Release, ReleasedCell
from members import privacy
from members.models import Cluster
from members.privacy import Breakdown, GenderCounts

RS = Registration.Status

# The registration funnel: each stage a sum of released registration groups.
FUNNEL: dict[str, tuple[str, ...]] = {
    "registered": tuple(services.REGISTRATION_GROUPS),
    "waitlisted": ("waitlisted",),
    "participants": ("confirmed", "attended"),
    "attended": ("attended",),
    "no_show": ("no_show",),
}
FUNNEL_LABELS = {
    "registered": gettext_lazy("Registered"),
    "waitlisted": gettext_lazy("Waitlisted"),
    "participants": gettext_lazy("Participants"),
    "attended": gettext_lazy("Attended"),
    "no_show": gettext_lazy("No-show"),
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
            "below": gettext("Below target"),
            "balanced": gettext("Balanced"),
            "above": gettext("Above the balanced zone"),
            "unknown": gettext("Too few to say"),
        }[self.position]


def target_position(*, share: float | None, cluster: Cluster) -> TargetPosition:
    """Where a share of women stands against the cluster's target and balanced zone."""
    if share is None:
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
    return target_position(share=_share_of_women(counts), cluster=cluster)


# --- one event -------------------------------------------------------------------------


@dataclass(frozen=True)
class EventBalance:
    event: Event
    released: bool  # False: the event's registration figures are not released yet
    release_due: datetime
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


def stage_figures(roles: QuerySet[StageRole]) -> dict[str, GenderCounts]:
    """Who is on stage: exact, for people who agreed to be counted on stage (and guests
    recorded with consent); everyone else undisclosed."""
    [stage] = privacy.gender_breakdown(
        roles, person="profile__user", guest_gender="guest_gender", measures=STAGE,
        consent=privacy.STAGE,
    )  # fmt: skip
    return stage.measures


def released_sums(cells: QuerySet[ReleasedCell], group_by: list[str]) -> dict[tuple, dict]:
    """Released rows summed per group and measure (registration group): {key: {measure:
    (cells, total)}} — sums of stored noise, nothing drawn."""
    categories = privacy.STATISTICS_CATEGORIES
    rows = (
        cells.order_by().values(*group_by, "measure")
        .annotate(statistics_total=Sum("total"), **{f"s_{c}": Sum(c) for c in categories})
    )  # fmt: skip
    out: dict[tuple, dict] = {}
    for row in rows:
        groups = out.setdefault(tuple(row[key] for key in group_by), {})
        groups[row["measure"]] = ({c: row[f"s_{c}"] for c in categories}, row["statistics_total"])
    return out


def published_stages(
    groups: dict[str, tuple[dict, int]], stages: dict[str, tuple[str, ...]]
) -> dict[str, GenderCounts]:
    """Each stage (a funnel's, a programme's) as the sum of its released groups, then
    published."""
    out = {}
    for stage, members in stages.items():
        cells = dict.fromkeys(privacy.STATISTICS_CATEGORIES, 0)
        total = 0
        for group in members:
            group_cells, group_total = groups.get(group, ({}, 0))
            total += group_total
            for category in cells:
                cells[category] += group_cells.get(category, 0)
        out[stage] = privacy.publish_released(cells, total)
    return out


def _funnel(groups: dict[str, tuple[dict, int]]) -> dict[str, GenderCounts]:
    return published_stages(groups, FUNNEL)


def _release_of(event: Event) -> Release | None:
    release = Release.objects.filter(subject=Release.Subject.EVENT, event=event).first()
    if release is None and services.release_due_at(event) <= timezone.now():
        services.event_releases_draw(event_ids=[event.pk])
        release = Release.objects.filter(subject=Release.Subject.EVENT, event=event).first()
    return release


def balance_for_event(*, event: Event) -> EventBalance:
    """Released funnel and per-session funnels, the live stage and its flags."""
    release = _release_of(event)
    cells = ReleasedCell.objects.filter(release=release) if release else ReleasedCell.objects.none()
    whole = released_sums(cells.filter(session__isnull=True), []).get((), {})
    by_session = released_sums(cells.filter(session__isnull=False), ["session"])
    sessions = {s.pk: s for s in event.sessions.all()}
    roles = StageRole.objects.filter(event=event)
    funnel = _funnel(whole)
    return EventBalance(
        event=event,
        released=release is not None,
        release_due=services.release_due_at(event),
        funnel=funnel,
        sessions=[
            (sessions[pk], _funnel(groups))
            for (pk,), groups in sorted(by_session.items(), key=lambda item: item[0])
            if pk in sessions
        ],
        stage=stage_figures(roles),
        flags=event_stage_flags(roles=roles),
        targets=[
            (cluster, women_against_target(funnel["participants"], cluster))
            for cluster in event.clusters.all()
        ]
        if release
        else [],
    )


# --- across events ---------------------------------------------------------------------


def events_in(filters: BalanceFilter) -> QuerySet[Event]:
    events = Event.objects.filter(clusters=filters.cluster).exclude(status=Event.Status.DRAFT)
    if filters.start:
        events = events.filter(starts_at__gte=services.day_start(filters.start))
    if filters.end:
        events = events.filter(starts_at__lt=services.day_start(filters.end))
    if filters.kind:
        events = events.filter(kind=filters.kind)
    if filters.topic:
        events = events.filter(topics=filters.topic)
    return events


def _stage_in(filters: BalanceFilter) -> QuerySet[StageRole]:
    return StageRole.objects.filter(event__in=events_in(filters).values("pk"))


def _released_in(filters: BalanceFilter) -> QuerySet[ReleasedCell]:
    """The released rows of the filter's events (whole events, not sessions). Releases
    that are due are drawn first, so the tables never wait for the hourly job."""
    services.event_releases_draw_due(among=events_in(filters).values("pk"))
    return ReleasedCell.objects.filter(
        session__isnull=True,
        release__subject=Release.Subject.EVENT,
        release__event__in=events_in(filters).values("pk"),
    )


def unreleased_count(*, filters: BalanceFilter) -> int:
    """How many of the filter's events have no release yet (not ended long enough)."""
    drawn = Release.objects.filter(subject=Release.Subject.EVENT).values("event_id")
    return events_in(filters).exclude(pk__in=drawn).count()


def _tables(cells: QuerySet[ReleasedCell], key: str, name: str) -> list[Breakdown]:
    return [
        Breakdown(group={name: group[0]}, measures=_funnel(groups))
        for group, groups in sorted(
            released_sums(cells, [key]).items(), key=lambda item: (item[0][0] is None, item[0][0])
        )
    ]


def balance_by_period_and_kind(*, filters: BalanceFilter) -> dict[str, list[Breakdown]]:
    """The funnel per month, quarter or year ("trend", group key "when") and per event
    kind ("kind", "event__kind"), summed from the released rows."""
    trunc = PERIODS.get(filters.period, TruncQuarter)
    cells = _released_in(filters).annotate(
        when=trunc("release__event__starts_at"), kind=F("release__event__kind")
    )
    return {"trend": _tables(cells, "when", "when"), "kind": _tables(cells, "kind", "event__kind")}


def balance_trend(*, filters: BalanceFilter) -> list[Breakdown]:
    return balance_by_period_and_kind(filters=filters)["trend"]


def balance_by_kind(*, filters: BalanceFilter) -> list[Breakdown]:
    return balance_by_period_and_kind(filters=filters)["kind"]


def balance_by_topic(*, filters: BalanceFilter) -> list[Breakdown]:
    """Per topic of the events (an event with two topics counts under both)."""
    cells = _released_in(filters).filter(release__event__topics__isnull=False)
    cells = cells.annotate(topic=F("release__event__topics__name"))
    return _tables(cells, "topic", "event__topics__name")


def stage_in_period(*, filters: BalanceFilter) -> dict[str, GenderCounts]:
    return stage_figures(_stage_in(filters))


PIPELINE_LABELS = {
    "members": gettext_lazy("Members"),
    "registered": gettext_lazy("Registered"),
    "attended": gettext_lazy("Attended"),
    "speakers": gettext_lazy("On stage"),
    "mentees": gettext_lazy("Mentees"),
    "mentors": gettext_lazy("Mentors"),
}


@dataclass(frozen=True)
class Pipeline:
    quarter: date | None  # the released quarter shown; None: no ended quarter in range
    stages: list[tuple[str, str, GenderCounts]]


def balance_pipeline(*, filters: BalanceFilter) -> Pipeline:
    """(key, label, figures) from members to mentors, counting people, of the last
    released quarter within the filter's dates. Read only: quarters are drawn by the
    hourly job, each once, just after it ends (`services.quarter_to_release`)."""
    releases = Release.objects.filter(subject=Release.Subject.PIPELINE, cluster=filters.cluster)
    if filters.start:
        releases = releases.filter(period_start__gte=services.quarter_of(filters.start)[0])
    if filters.end:
        releases = releases.filter(period_start__lt=filters.end)
    release = releases.order_by("-period_start").first()
    if release is None:
        return Pipeline(quarter=None, stages=[])
    summed = released_sums(ReleasedCell.objects.filter(release=release), []).get((), {})
    stages = []
    for key, label in PIPELINE_LABELS.items():
        cells, total = summed.get(key, ({}, 0))
        stages.append((key, label, privacy.publish_released(cells, total)))
    return Pipeline(quarter=release.period_start, stages=stages)


@dataclass(frozen=True)
class EventRow:
    event: Event
    released: bool
    participants: GenderCounts
    target: TargetPosition
    all_male_panels: int


def events_against_target(*, filters: BalanceFilter, events: list[Event]) -> list[EventRow]:
    """Where each of the given events stands, from its release: fixed queries."""
    ids = [e.pk for e in events]
    services.event_releases_draw_due(among=ids)
    released = set(
        Release.objects.filter(subject=Release.Subject.EVENT, event__in=ids).values_list(
            "event_id", flat=True
        )
    )
    cells = ReleasedCell.objects.filter(
        session__isnull=True, release__subject=Release.Subject.EVENT, release__event__in=ids
    ).annotate(event_id=F("release__event"))
    by_event = released_sums(cells, ["event_id"])
    flags = _all_male_panels_by_event(events)
    out = []
    for event in events:
        participants = _funnel(by_event.get((event.pk,), {}))["participants"]
        out.append(
            EventRow(
                event=event,
                released=event.pk in released,
                participants=participants,
                target=women_against_target(participants, filters.cluster)
                if event.pk in released
                else TargetPosition(share=None, position="unknown"),
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
