"""The only code that reads a person's gender.

Three kinds of reader exist, and only three:
- the owner, on their own profile page and in their own data export (`gender_for_owner`);
- statistics, which get aggregates only (`gender_counts`): people who did not consent
  count as undisclosed, and any group of 1 to k-1 people is suppressed;
- mentoring matching (`genders_for_matching`), for mentors who agreed on their
  application that mentees' stated preferences may use it; the matcher scores with it
  and never shows it.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from members.models import GenderIdentity, User

Gender = GenderIdentity.Gender

# Self-described people are counted in their own category, never by their words.
STATISTICS_CATEGORIES: tuple[str, ...] = (
    Gender.WOMAN,
    Gender.MAN,
    Gender.NON_BINARY,
    Gender.SELF_DESCRIBED,
    Gender.UNDISCLOSED,
)


def min_group_size() -> int:
    return settings.PRIVACY_MIN_GROUP_SIZE


@dataclass(frozen=True)
class GenderCounts:
    """Counts per category; `None` marks a suppressed cell ("fewer than k")."""

    cells: dict[str, int | None]
    total: int | None
    k: int

    def share(self, category: str) -> float | None:
        """The share of one category, only when both numbers may be shown."""
        value = self.cells.get(category)
        if value is None or self.total is None or self.total < self.k:
            return None
        return value / self.total


def gender_for_owner(*, user: User) -> GenderIdentity | None:
    """The owner's own record, for their profile page and data export."""
    return GenderIdentity.objects.filter(user=user).first()


@transaction.atomic
def gender_set(
    *,
    user: User,
    gender: str,
    self_description: str = "",
    statistics_consent: bool,
) -> GenderIdentity:
    if gender not in Gender.values:
        raise ValidationError({"gender": "Choose one of the listed options."})
    self_description = self_description.strip() if gender == Gender.SELF_DESCRIBED else ""
    if gender == Gender.SELF_DESCRIBED and not self_description:
        raise ValidationError(
            {"self_description": "Describe your gender, or choose another option."}
        )
    record, _ = GenderIdentity.objects.select_for_update().get_or_create(user=user)
    consent_changed = record.statistics_consent != statistics_consent or record.pk is None
    record.gender = gender
    record.self_description = self_description
    record.statistics_consent = statistics_consent
    fields = ["gender", "self_description", "statistics_consent", "updated_at"]
    if consent_changed:
        record.consent_changed_at = timezone.now()
        fields.append("consent_changed_at")
    record.full_clean(exclude=["user"])
    record.save(update_fields=fields)
    return record


def genders_for_matching(*, user_ids: list[int]) -> dict[int, str]:
    """Gender of the given people (who agreed to this use), for mentor preferences only.

    Self-described and undisclosed people are left out: a preference can name only
    woman, man or non-binary, and self-described words never leave this module.
    """
    wanted = (Gender.WOMAN, Gender.MAN, Gender.NON_BINARY)
    rows = GenderIdentity.objects.filter(user_id__in=user_ids, gender__in=wanted)
    return dict(rows.values_list("user_id", "gender"))


def gender_clear(*, user: User) -> None:
    """Forget a person's gender altogether (used on account erasure)."""
    GenderIdentity.objects.filter(user=user).delete()


def gender_counts(*, users: QuerySet[User], k: int | None = None) -> GenderCounts:
    """Aggregate counts per gender for a set of people, computed in the database.

    Only consented records count by gender; everyone else is undisclosed. A group of
    fewer than k people shows nothing; otherwise cells of 1..k-1 are suppressed, and if
    exactly one cell is suppressed the next smallest non-zero cell is suppressed too, so
    no hidden cell can be recomputed from the total.
    """
    k = k or min_group_size()
    consented = GenderIdentity.objects.filter(user=OuterRef("pk"), statistics_consent=True)
    annotated = users.order_by().annotate(_consented_gender=Exists(consented.values("pk")))
    aggregates = {
        category: Count(
            "pk",
            filter=Q(_consented_gender=True, gender_identity__gender=category),
        )
        for category in STATISTICS_CATEGORIES
        if category != Gender.UNDISCLOSED
    }
    raw = annotated.aggregate(total=Count("pk"), **aggregates)
    total = raw.pop("total")
    raw[Gender.UNDISCLOSED] = total - sum(raw.values())
    cells: dict[str, int | None] = {c: raw[c] for c in STATISTICS_CATEGORIES}
    if 0 < total < k:
        # In a group this small even an empty category tells something about each person.
        return GenderCounts(cells=dict.fromkeys(STATISTICS_CATEGORIES), total=None, k=k)
    suppressed = [c for c, v in cells.items() if v is not None and 0 < v < k]
    if len(suppressed) == 1:
        candidates = sorted((v, c) for c, v in cells.items() if c not in suppressed and v and v > 0)
        if candidates:
            suppressed.append(candidates[0][1])
    for category in suppressed:
        cells[category] = None
    return GenderCounts(cells=cells, total=total if total == 0 or total >= k else None, k=k)
