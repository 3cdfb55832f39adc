"""Gender balance of mentoring programmes — figures only.

Every number comes from `members.privacy` (the only code that reads gender): counts are
published as a multiple of k or "fewer than k", and averages only for groups of at
least k people. This module says *what* to count: which applications, matches and
feedback. It also adds mentees and mentors to the cluster pipeline of `insights.balance`.
"""

from dataclasses import dataclass

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from insights.filters import BalanceFilter
from matchmaking.models import Application, Feedback, Match, Programme
from members import privacy
from members.privacy import GenderAverages, GenderCounts

MS = Match.Status
MATCHED_STATUSES = (MS.ACCEPTED, MS.ACTIVE, MS.COMPLETED)
APPROVED = Q(status=Application.Status.APPROVED)

# The stages of a programme, each a condition on its applications (annotated below).
STAGES: dict[str, Q] = {
    "applicants": Q(),
    "mentors": APPROVED & Q(role=Application.Role.MENTOR),
    "mentees": APPROVED & Q(role=Application.Role.MENTEE),
    "matched": Q(is_matched=True),
    "completed": Q(has_completed=True),
}
STAGE_LABELS = {
    "applicants": "Applicants",
    "mentors": "Approved mentors",
    "mentees": "Approved mentees",
    "matched": "Matched",
    "completed": "Completed as mentee",
}
CATEGORY_LABELS = {
    privacy.Gender.WOMAN: "Women",
    privacy.Gender.MAN: "Men",
    privacy.Gender.NON_BINARY: "Non-binary",
    privacy.Gender.SELF_DESCRIBED: "Self-described",
    privacy.Gender.UNDISCLOSED: "Undisclosed",
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
    stages: list[StageFigures]
    satisfaction: GenderAverages  # average feedback rating (1–5) per category

    @property
    def satisfaction_cells(self) -> list[tuple[str, float | None]]:
        return [(label, self.satisfaction.cells[c]) for c, label in CATEGORY_LABELS.items()]


def _applications(programme: Programme) -> QuerySet[Application]:
    """The programme's applications, each marked matched / completed (as mentee)."""
    matches = Match.objects.filter(programme=programme)
    as_mentee = matches.filter(mentee=OuterRef("pk"))
    as_mentor = matches.filter(mentor=OuterRef("pk"))
    return Application.objects.filter(programme=programme).annotate(
        is_matched=ExpressionWrapper(
            Q(Exists(as_mentee.filter(status__in=MATCHED_STATUSES)))
            | Q(Exists(as_mentor.filter(status__in=MATCHED_STATUSES))),
            output_field=BooleanField(),
        ),
        has_completed=Exists(as_mentee.filter(status=MS.COMPLETED)),
    )


def programme_balance(*, programme: Programme) -> ProgrammeBalance:
    """Applicants → approved → matched → completed, and satisfaction, by gender (2 queries)."""
    [row] = privacy.gender_breakdown(_applications(programme), person="user", measures=STAGES)
    satisfaction = privacy.gender_average(
        Feedback.objects.filter(match__programme=programme), person="author", value="rating"
    )["total"]
    return ProgrammeBalance(
        programme=programme,
        stages=[StageFigures(key, STAGE_LABELS[key], row.measures[key]) for key in STAGES],
        satisfaction=satisfaction,
    )


# --- the cluster pipeline --------------------------------------------------------------


def _approved_in(filters: BalanceFilter, role: str) -> QuerySet[Application]:
    """Approved applications of one role in the cluster's programmes that run (at least
    partly) in the filter's period; `end` is exclusive, like in `insights.balance`."""
    programmes = Programme.objects.filter(clusters=filters.cluster)
    if filters.start:
        programmes = programmes.filter(ends_on__gte=filters.start)
    if filters.end:
        programmes = programmes.filter(starts_on__lt=filters.end)
    return Application.objects.filter(APPROVED, role=role, programme__in=programmes.values("pk"))


def _people(applications: QuerySet[Application]) -> GenderCounts:
    [row] = privacy.gender_breakdown(applications, person="user", distinct=True)
    return row.measures["total"]


def mentees_in_period(filters: BalanceFilter) -> GenderCounts:
    """Distinct people approved as mentees in the period (pipeline stage)."""
    return _people(_approved_in(filters, Application.Role.MENTEE))


def mentors_in_period(filters: BalanceFilter) -> GenderCounts:
    """Distinct people approved as mentors in the period (pipeline stage)."""
    return _people(_approved_in(filters, Application.Role.MENTOR))
