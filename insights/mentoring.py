"""Gender balance of mentoring programmes — figures only.

A programme's figures are one release, drawn once the programme has ended
(`insights.services.programme_release_draw`): each application counted in one group,
each feedback's rating once, with noise; the stages and averages shown are sums and
ratios of those stored numbers. Before the end no figure of the programme shows gender.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy

from insights import balance, services
from insights.models import Release, ReleasedCell
from matchmaking.models import Programme
from members import privacy
from members.privacy import GenderAverages, GenderCounts

# The stages of a programme, each a sum of released application groups.
STAGES: dict[str, tuple[str, ...]] = {
    "applicants": services.APPLICATION_GROUPS,
    "mentors": ("mentor_unmatched", "mentor_matched"),
    "mentees": ("mentee_unmatched", "mentee_matched", "mentee_completed"),
    "matched": ("mentor_matched", "mentee_matched", "mentee_completed"),
    "completed": ("mentee_completed",),
}
STAGE_LABELS = {
    "applicants": gettext_lazy("Applicants"),
    "mentors": gettext_lazy("Approved mentors"),
    "mentees": gettext_lazy("Approved mentees"),
    "matched": gettext_lazy("Matched"),
    "completed": gettext_lazy("Completed as mentee"),
}
CATEGORY_LABELS = {
    privacy.Gender.WOMAN: gettext_lazy("Women"),
    privacy.Gender.MAN: gettext_lazy("Men"),
    privacy.Gender.NON_BINARY: gettext_lazy("Non-binary"),
    privacy.Gender.SELF_DESCRIBED: gettext_lazy("Self-described"),
    privacy.Gender.UNDISCLOSED: gettext_lazy("Undisclosed"),
}


@dataclass(frozen=True)
class StageFigures:
    key: str
    label: str
    counts: GenderCounts

    @property
    def share_of_women(self) -> float | None:
        return self.counts.share(privacy.Gender.WOMAN)

    @property
    def cells(self) -> list[int | None]:
        """The published figures in the order of `CATEGORY_LABELS` (for tables)."""
        return [self.counts.cells[c] for c in CATEGORY_LABELS]


@dataclass(frozen=True)
class ProgrammeBalance:
    programme: Programme
    released: bool
    stages: list[StageFigures]
    satisfaction: GenderAverages  # average feedback rating (1–5) per category

    @property
    def satisfaction_cells(self) -> list[tuple[str, float | None]]:
        return [(label, self.satisfaction.cells[c]) for c, label in CATEGORY_LABELS.items()]


def _averages(counts: tuple[dict, int], sums: tuple[dict, int]) -> GenderAverages:
    """Average rating per category from the released counts and sums (both noisy), to
    the nearest tenth; shown only when the category's released count is at least k."""
    k = privacy.min_group_size()
    n = privacy.estimates(*counts)
    total = privacy.estimates(*sums)
    cells = {
        c: (round(min(5.0, max(1.0, total[c] / n[c])), 1) if n[c] >= k else None)
        for c in privacy.STATISTICS_CATEGORIES
    }
    return GenderAverages(cells=cells, k=k)


def programme_balance(*, programme: Programme) -> ProgrammeBalance:
    """Applicants → approved → matched → completed, and satisfaction, by gender, from the
    programme's release (drawn here if it is due and not drawn yet)."""
    release = Release.objects.filter(
        subject=Release.Subject.PROGRAMME, programme=programme
    ).first() or services.programme_release_draw(programme=programme)
    cells = ReleasedCell.objects.filter(release=release) if release else ReleasedCell.objects.none()
    rows = balance.released_sums(cells, []).get((), {})
    published = balance.published_stages(rows, STAGES)
    stages = [StageFigures(key, STAGE_LABELS[key], published[key]) for key in STAGES]
    empty = ({}, 0)
    return ProgrammeBalance(
        programme=programme,
        released=release is not None,
        stages=stages,
        satisfaction=_averages(rows.get("ratings", empty), rows.get("rating_sum", empty)),
    )
