"""Gender balance of a brokerage day's funnel — figures only, under the guarantee of the
event balance pages.

The figures are part of the event's release (`insights.models.Release`, subject event):
the event's registrations are released `PRIVACY_RELEASE_AFTER_HOURS` after it ends, and
the first look at this page after that adds the brokerage rows to the same release, once
— the release row is locked and the rows, once written, are only ever read again. Before
that, no figure of the day shows gender, and meeting feedback given after the release
changes nothing here.

What is released: each participant of the day in exactly one group, by the furthest stage
any of their meetings reached (`GROUPS`, the stages of `matchmaking.brokerage.funnel`);
each stage shown is a sum of groups, published by `members.privacy.publish_released`
(a category below k reads "fewer than k", nothing of a group under k). So each
participant's category is in one more released cell than their registration's: for one
brokerage day, two releases (μ = 0.61 at σ = 3.3, a best guess right at most 62 %; see
`members.privacy.release_cost`). Only people who agreed to be counted count by gender;
everyone else is undisclosed. Meetings have two people and are not counted by gender.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Case, CharField, Exists, OuterRef, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy

from events.models import Event
from insights import balance, services
from insights.models import Release, ReleasedCell
from matchmaking.brokerage.funnel import STAGE_CONDITIONS, STAGE_LABELS
from matchmaking.brokerage.models import Meeting, Participant
from members import privacy
from members.privacy import GenderCounts

PREFIX = "brokerage_"
# Each participant in one group: the furthest stage one of their meetings reached.
GROUPS: tuple[str, ...] = ("none", "requested", "accepted", "scheduled", "held", "follow_up")
FURTHEST_FIRST = ("follow_up", "held", "scheduled", "accepted", "requested")
# Each stage shown: the participants whose furthest stage is it or beyond.
STAGES: dict[str, tuple[str, ...]] = {
    "participants": GROUPS,
    **{stage: GROUPS[GROUPS.index(stage) :] for stage in GROUPS[1:]},
}
LABELS = {"participants": gettext_lazy("Participants of the day"), **STAGE_LABELS}


@dataclass(frozen=True)
class StageFigures:
    key: str
    label: str
    counts: GenderCounts


@dataclass(frozen=True)
class BrokerageBalance:
    event: Event
    released: bool
    release_due: datetime
    stages: list[StageFigures]


def _furthest_stage() -> Case:
    """The group of a participant row: the furthest stage among its meetings."""
    whens = []
    for stage in FURTHEST_FIRST:
        mine = Meeting.objects.filter(STAGE_CONDITIONS[stage], event=OuterRef("event")).filter(
            Q(requester=OuterRef("pk")) | Q(recipient=OuterRef("pk"))
        )
        whens.append(When(Exists(mine), then=Value(stage)))
    return Case(*whens, default=Value("none"), output_field=CharField())


def _release_of(event: Event) -> Release | None:
    """The event's release, drawn now if it is due and the job has not drawn it yet."""
    release = Release.objects.filter(subject=Release.Subject.EVENT, event=event).first()
    if release is None and services.release_due_at(event) <= timezone.now():
        services.event_releases_draw(event_ids=[event.pk])
        release = Release.objects.filter(subject=Release.Subject.EVENT, event=event).first()
    return release


@transaction.atomic
def brokerage_release_draw(*, release: Release) -> None:
    """Add the brokerage groups to the event's release, unless they are there: one noisy
    row per group (empty groups as zeros: nobody in them, nothing to hide)."""
    Release.objects.select_for_update().get(pk=release.pk)
    cells = ReleasedCell.objects.filter(release=release, measure__startswith=PREFIX)
    if cells.exists():
        return
    rows = Participant.objects.filter(event_id=release.event_id).annotate(
        brokerage_group=_furthest_stage()
    )
    drawn = {
        cells.key[0]: cells
        for cells in privacy.release_rows(
            rows, group_by=["brokerage_group"], person="user", sigma=release.sigma
        )
    }
    zero = dict.fromkeys(privacy.STATISTICS_CATEGORIES, 0)
    ReleasedCell.objects.bulk_create(
        [
            ReleasedCell(
                release=release,
                measure=f"{PREFIX}{group}",
                total=drawn[group].total if group in drawn else 0,
                **(drawn[group].cells if group in drawn else zero),
            )
            for group in GROUPS
        ]
    )


def brokerage_balance(*, event: Event) -> BrokerageBalance:
    """The day's funnel by gender category, from the release only."""
    release = _release_of(event)
    if release is not None:
        brokerage_release_draw(release=release)
    cells = (
        ReleasedCell.objects.filter(release=release, measure__startswith=PREFIX)
        if release
        else ReleasedCell.objects.none()
    )
    sums = balance.released_sums(cells, []).get((), {})
    groups = {measure.removeprefix(PREFIX): value for measure, value in sums.items()}
    published = balance.published_stages(groups, STAGES)
    return BrokerageBalance(
        event=event,
        released=release is not None,
        release_due=services.release_due_at(event),
        stages=[StageFigures(key, str(LABELS[key]), published[key]) for key in STAGES],
    )
