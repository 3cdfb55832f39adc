"""The only code that reads a person's gender.

Three kinds of reader exist, and only three:
- the owner, on their own profile page and in their own data export (`gender_for_owner`);
- statistics, which get aggregates only: releases (`release_rows`, `release_people`,
  `release_tallies`, `release_sums`: noisy counts, drawn once) and, for the stage, exact
  counts of people who agreed to count there, published by the k rules (`publish`);
  people who did not consent count as undisclosed;
- mentoring matching (`genders_for_matching`), for mentors who agreed on their
  application that mentees' stated preferences may use it; the matcher scores with it
  and never shows it.

Statistics also read tallies that the database keeps per statistics category
(events.tally: registrations per event). The SQL that turns a gender record into its
category for those triggers is here too (`category_of_person_sql`), beside its Python
twin `_category_of`: only consented genders count, everyone else is undisclosed.

Published figures are differentially private
------------------------------------------------
Figures of registrations, attendance, people and programmes are **releases**: noisy counts
per statistics category, drawn once (discrete Gaussian noise from the OpenDP library, its
own secure random source) and stored by `insights`; every table, filter, period, chart,
CSV and report is computed from stored releases only, so no view, reload or combination
of filters draws anything new. An event is released once, `PRIVACY_RELEASE_AFTER_HOURS`
after it ends (its attendance closed); before that no figure of it shows gender. The
guarantee, for σ = `PRIVACY_NOISE_SIGMA` (default 3.3):

    Each registration (to an event, or to one session of it) puts its person's category
    in exactly one released cell pair, with L2 sensitivity √2 (one category down,
    another up). So whatever an organiser or staff member combines — any number of
    filters, periods, exports, reloads — everything shown about one registration is
    μ-Gaussian-differentially private with μ = √2/σ = 0.43 (ρ = 1/σ² = 0.092
    zero-concentrated DP): between any two categories, even an observer who knows
    every other person's category guesses right at most Φ(μ/2) = 58.5 % of the time,
    and is never certain.

What a person's whole history costs: every cell their category is in counts once, and
Gaussian DP composes as μ·√n over n of them: a conference with its event and three
sessions registered is n = 4 (μ = 0.86, a best guess right at most 66 %); ten events
are n = 10 (μ = 1.36, at most 75 %); each quarter's pipeline adds up to 6 (member,
registered, attended, on stage, mentee, mentor), an ended programme 1 (application)
plus 2 per feedback given (its count and its rating's sum). `release_cost` computes it.
Nothing caps a person's total: a long-standing, active member's gender becomes a good
guess for someone who knows everyone else's, which is why figures are drawn only at
fixed moments (an ended event, an ended quarter, an ended programme) and never on
demand. Stage figures are not released with noise: they count only people who agreed
that their gender counts on the panels they appear on (speaking roles are public), and
guests whose organiser recorded it with their consent.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import opendp.prelude as dp
from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Sum,
    When,
)
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from scipy.stats import norm

from members.models import Cluster, GenderIdentity, StatisticsAccess, User

# Every field that holds a person's gender, a gender preference or a consent to a use of
# gender, as (model label, field name). The admin refuses them everywhere: no column,
# filter, search, ordering, form field or URL lookup, also through relations from any
# other model (`members.admin.GenderSafeAdmin`).
GENDER_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("members.GenderIdentity", "gender"),
        ("members.GenderIdentity", "self_description"),
        ("members.GenderIdentity", "statistics_consent"),
        ("members.GenderIdentity", "stage_consent"),
        ("members.GenderIdentity", "consent_changed_at"),
        ("members.GenderIdentity", "updated_at"),  # when someone last changed their answer
        ("matchmaking.Application", "preferred_mentor_gender"),
        ("matchmaking.Application", "gender_may_be_matched"),
        ("events.StageRole", "guest_gender"),
        ("events.StageRole", "guest_gender_consent"),
        ("events.RegistrationTally", "category"),  # unfolded rows are one person each
    }
)

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
    # Released figures: the noisy estimate per category, unrounded (shares come from it).
    estimates: dict[str, float] | None = None

    def share(self, category: str) -> float | None:
        """The share of one category, only when both numbers may be shown (released
        figures: whenever the group may be shown, from the estimate, within 0 to 1)."""
        if self.total is None or self.total < self.k:
            return None
        if self.estimates is not None:
            return min(1.0, max(0.0, self.estimates[category] / self.total))
        value = self.cells.get(category)
        if value is None:
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
    stage_consent: bool | None = None,
) -> GenderIdentity:
    if gender not in Gender.values:
        raise ValidationError({"gender": gettext("Choose one of the listed options.")})
    self_description = self_description.strip() if gender == Gender.SELF_DESCRIBED else ""
    if gender == Gender.SELF_DESCRIBED and not self_description:
        raise ValidationError(
            {"self_description": gettext("Describe your gender, or choose another option.")}
        )
    record, _ = GenderIdentity.objects.select_for_update().get_or_create(user=user)
    consent_changed = record.statistics_consent != statistics_consent or record.pk is None
    record.gender = gender
    record.self_description = self_description
    record.statistics_consent = statistics_consent
    fields = ["gender", "self_description", "statistics_consent", "updated_at"]
    if stage_consent is not None:
        record.stage_consent = stage_consent
        fields.append("stage_consent")
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


def _rounding_offsets(vector: tuple[int, ...], k: int) -> list[int]:
    """One offset in 0..k−1 per figure of a table, drawn from a keyed hash (the site's
    secret key) of all the table's raw counts: the same counts always give the same
    offsets, so reloading a page cannot average the rounding away, and any change to the
    table — one more person anywhere in it — draws every offset anew."""
    digest = salted_hmac("members.privacy.publish", f"{k}:{vector}", algorithm="sha256").digest()
    return [int.from_bytes(digest[2 * i : 2 * i + 2], "big") % k for i in range(len(vector))]


def _published(value: int, k: int, offset: int) -> int | None:
    """0 to k−1 is hidden ("fewer than k": even an empty category is not shown, or the
    first person to join it would be singled out). Larger numbers are rounded to a
    multiple of k, up with probability (value mod k) / k and otherwise down — unbiased,
    with the offset as the draw. Every published figure is a multiple of k or hidden, so
    no sum or difference of published figures — totals against cells, one filter against
    another that differs by one event or one person — is ever 1 to k−1: a hidden cell
    cannot be recomputed from anything that is shown."""
    if value < k:
        return None
    return k * ((value + offset) // k)


def publish(raw: Mapping[str, int], *, k: int | None = None) -> GenderCounts:
    """Raw counts per category → what may be shown. Raw counts never leave this module.

    With fixed rounding, the one cell that moves when one more person registers or
    consents (7 → 8 women: 5 → 10) would tell that person's category to whoever looked
    just before and after. Here every cell is rounded up or down by a draw keyed on the
    whole table, so when anything changes every cell is drawn again: which one grew can
    no longer be read off, only guessed at — the residual odds are measured in
    tests/members/test_differencing.py and stated in the README.
    """
    k = k or min_group_size()
    vector = tuple(raw.get(c, 0) for c in STATISTICS_CATEGORIES)
    total = sum(vector)
    if total == 0:  # nobody: nothing to hide
        return GenderCounts(cells=dict.fromkeys(STATISTICS_CATEGORIES, 0), total=0, k=k)
    if total < k:
        # In a group this small even an empty category tells something about each person.
        return GenderCounts(cells=dict.fromkeys(STATISTICS_CATEGORIES), total=None, k=k)
    offsets = _rounding_offsets(vector, k)
    # The total's draw is keyed on the total alone: it is the same whichever category
    # one more person joined, so it tells nothing of which.
    [total_offset] = _rounding_offsets((total,), k)
    cells = {
        c: _published(value, k, offset)
        for c, value, offset in zip(STATISTICS_CATEGORIES, vector, offsets, strict=True)
    }
    # Drawn apart, a cell could round up past its total (8 of 9: 10 of 5); never show
    # more people in one category than in the whole group.
    shown = [value for value in cells.values() if value is not None]
    published_total = max([_published(total, k, total_offset), *shown])
    return GenderCounts(cells=cells, total=published_total, k=k)


# The two consents a gender record holds: to anonymous statistics (released with noise),
# and to counting on the stage one appears on (speaking roles are public; counted exactly).
STATISTICS = "statistics_consent"
STAGE = "stage_consent"


def _consented(prefix: str, category: str, consent: str = STATISTICS) -> Q:
    return Q(**{
        f"{prefix}gender_identity__gender": category,
        f"{prefix}gender_identity__{consent}": True,
    })  # fmt: skip


@dataclass(frozen=True)
class Breakdown:
    """Published gender figures of one group (e.g. one month, one event kind)."""

    group: dict
    measures: dict[str, GenderCounts]


def gender_breakdown(
    rows: QuerySet,
    *,
    person: str = "user",
    measures: Mapping[str, Q] | None = None,
    group_by: Sequence[str] = (),
    distinct: bool = False,
    guest_gender: str | None = None,
    k: int | None = None,
    consent: str = STATISTICS,
) -> list[Breakdown]:
    """Published gender figures of `rows` — registrations, stage roles, applications,
    users — per group, in one query (GROUP BY with conditional counts).

    `person` is the path from a row to its user ("user", "profile__user"; "" when the
    rows are users). `measures` name conditions on the rows (e.g. attended); each is
    counted per category. `distinct` counts people, not rows (without `group_by`). Only
    consented records count by gender; everyone else is undisclosed. Every figure passes
    `publish`.
    """
    return gender_tables(
        rows, tables={"": group_by}, person=person, measures=measures, distinct=distinct,
        guest_gender=guest_gender, k=k, consent=consent,
    )[""]  # fmt: skip


def gender_tables(
    rows: QuerySet,
    *,
    tables: Mapping[str, Sequence[str]],
    person: str = "user",
    measures: Mapping[str, Q] | None = None,
    distinct: bool = False,
    guest_gender: str | None = None,
    k: int | None = None,
    consent: str = STATISTICS,
) -> dict[str, list[Breakdown]]:
    """Several breakdowns of the same rows from one scan of them: `tables` names each
    table's grouping (e.g. {"trend": ["when"], "kind": ["event__kind"]}). The query
    groups by every key at once; each table sums the raw counts over the keys it does not
    use, and only then publishes — so each figure is what its own query would give."""
    measures = dict(measures or {"total": Q()})
    keys = list(dict.fromkeys(key for group_by in tables.values() for key in group_by))
    if distinct and person:
        if keys or guest_gender:
            raise ValueError("People are counted once each: not per group, nor guests.")
        results = {(): _people_raw(rows, person=person, measures=measures)}
    else:  # rows of users are people already
        results = _grouped_raw(
            rows, person=person, measures=measures, group_by=keys, guest_gender=guest_gender,
            consent=consent,
        )  # fmt: skip
    return _publish_tables(results, tables=tables, keys=keys, measures=measures, k=k)


def _flag_and_key_columns(
    measures: Mapping[str, Q], group_by: Sequence[str]
) -> tuple[dict[str, ExpressionWrapper], dict[str, F]]:
    """Annotations for a grouped count: one boolean per measure that has a condition
    (statistics_m<i>, i its position among all measures) and one per group key."""
    flags = {
        f"statistics_m{i}": ExpressionWrapper(condition, output_field=BooleanField())
        for i, condition in enumerate(measures.values())
        if condition
    }
    return flags, {f"statistics_k{i}": F(key) for i, key in enumerate(group_by)}


def _publish_tables(
    results: Mapping[tuple, dict[str, dict[str, int]]],
    *,
    tables: Mapping[str, Sequence[str]],
    keys: list[str],
    measures: Mapping[str, Q],
    k: int | None,
) -> dict[str, list[Breakdown]]:
    """Raw counts per full key → each table's groups, summed over the keys the table does
    not use, and only then published."""
    out = {}
    for name, group_by in tables.items():
        positions = [keys.index(key) for key in group_by]
        summed: dict[tuple, dict[str, dict[str, int]]] = {}
        for key, raw in results.items():
            target = summed.setdefault(
                tuple(key[i] for i in positions), {measure: {} for measure in measures}
            )
            for measure, cells in raw.items():
                for category, value in cells.items():
                    target[measure][category] = target[measure].get(category, 0) + value
        out[name] = [
            Breakdown(
                group=dict(zip(group_by, key, strict=True)),
                measures={measure: publish(cells, k=k) for measure, cells in raw.items()},
            )
            for key, raw in sorted(summed.items(), key=lambda item: _sortable(item[0]))
        ]
    return out


def _sortable(key: tuple) -> tuple:
    return tuple((value is None, value) for value in key)


def _people_raw(
    rows: QuerySet, *, person: str, measures: Mapping[str, Q]
) -> dict[str, dict[str, int]]:
    """Raw counts of the people behind `rows` (each once) per measure → category.

    The rows are first reduced to one per person, with a flag per measure ("has such a
    row"), and only those people are joined to their gender records and counted: a
    million registrations become the few thousand people behind them before anything
    is joined — far cheaper than COUNT(DISTINCT …) per gender record, which sorts every
    row."""
    names = [name for name in measures if measures[name]]
    flags = {
        f"statistics_m{i}": Max(Case(When(measures[name], then=1), default=0))
        for i, name in enumerate(names)
    }
    per_person = rows.order_by().annotate(statistics_person=F(person))
    per_person = per_person.values("statistics_person")
    per_person = per_person.annotate(**flags) if flags else per_person.distinct()
    out: dict[str, dict[str, int]] = {name: {} for name in measures}
    for _, category, truth, n in _by_gender_record(
        per_person, keys=[], flags=list(flags), guest=None, count_rows=True
    ):
        for i, name in enumerate(names):
            if not truth[i]:
                continue
            out[name][category] = out[name].get(category, 0) + n
        for name in measures:
            if not measures[name]:
                out[name][category] = out[name].get(category, 0) + n
    return out


def _category_of(gender: str | None, consent: bool | None, guest: str | None) -> str:
    """A row's statistics category: a consented record's gender, a guest's consented
    gender, or undisclosed."""
    counted = set(STATISTICS_CATEGORIES) - {Gender.UNDISCLOSED}
    if consent and gender in counted:
        return gender
    if guest in counted:
        return guest
    return Gender.UNDISCLOSED


def category_of_record_sql(record: str) -> str:
    """SQL for the statistics category of one gender record (`record` is its alias or
    OLD/NEW in a trigger): its gender if consented and counted, otherwise undisclosed —
    the same rule as `_category_of`. Self-described words are never read."""
    counted = ", ".join(f"'{c}'" for c in STATISTICS_CATEGORIES if c != Gender.UNDISCLOSED)
    meta = GenderIdentity._meta
    gender, consent = (meta.get_field(n).column for n in ("gender", "statistics_consent"))
    return (
        f"(CASE WHEN {record}.{consent} AND {record}.{gender} IN ({counted}) "
        f"THEN {record}.{gender} ELSE '{Gender.UNDISCLOSED}' END)"
    )


def category_of_person_sql(person: str) -> str:
    """SQL for the statistics category of the person whose user id is the expression
    `person` — undisclosed without a gender record. For database triggers that keep
    tallies per category (events.tally): they store categories, never genders."""
    meta = GenderIdentity._meta
    return (
        f"COALESCE((SELECT {category_of_record_sql('g')} FROM {meta.db_table} g "  # noqa: S608
        f"WHERE g.{meta.get_field('user').column} = {person}), '{Gender.UNDISCLOSED}')"
    )


def _grouped_raw(
    rows: QuerySet,
    *,
    person: str,
    measures: Mapping[str, Q],
    group_by: Sequence[str],
    guest_gender: str | None,
    consent: str = STATISTICS,
) -> dict[tuple, dict[str, dict[str, int]]]:
    """Raw counts per group → measure → category, in one query that groups the rows by
    group, gender record (gender, consent; a guest's gender) and each measure's truth,
    with a single COUNT per group — far cheaper on a million rows than a conditional
    count per measure × category; the categories are summed here."""
    names = list(measures)
    flags, keys = _flag_and_key_columns(measures, group_by)
    guest = {"statistics_guest": F(guest_gender)} if guest_gender else {}
    inner = (
        rows.order_by()
        .annotate(statistics_person=F(person or "pk"), **keys, **guest, **flags)
        .values("statistics_person", *keys, *guest, *flags)
    )
    out: dict[tuple, dict[str, dict[str, int]]] = {}
    if not group_by:
        out[()] = {name: {} for name in names}
    # Guests on stage have no user: count their rows, or COUNT(person) would skip them.
    results = _by_gender_record(
        inner, keys=list(keys), flags=list(flags), guest="statistics_guest" if guest else None,
        count_rows=not person or bool(guest_gender), consent=consent,
    )  # fmt: skip
    for key, category, truth, n in results:
        raw = out.setdefault(key, {name: {} for name in names})
        flagged = iter(truth)
        for name in names:
            if measures[name] and not next(flagged):
                continue
            raw[name][category] = raw[name].get(category, 0) + n
    return out


def _by_gender_record(
    inner: QuerySet,
    *,
    keys: list[str],
    flags: list[str],
    guest: str | None,
    count_rows: bool,
    consent: str = STATISTICS,
) -> Iterator[tuple[tuple, str, tuple, int]]:
    """(group key, category, measure flags, count) of `inner` — rows with the columns
    statistics_person, the `keys`, the `flags` and `guest` — joined straight to the gender
    records on the person's id and grouped in the database.

    SQL around the ORM's query, because the ORM would join the user table between the
    rows and the gender records (a third of the time on a million rows) and cannot join
    a grouped subquery. The group keys come back through the ORM's own converters (a
    truncated date is a date on every database)."""
    connection = connections[inner.db]
    q = connection.ops.quote_name
    try:
        sql, params = inner.query.sql_with_params()
    except EmptyResultSet:  # e.g. filtered on an empty list: nobody
        return
    columns = [*keys, *([guest] if guest else []), *flags]
    record = GenderIdentity._meta
    gender, consent, user = (
        q(record.get_field(name).column) for name in ("gender", consent, "user")
    )
    grouped = ", ".join([*(f"r.{q(c)}" for c in columns), f"g.{gender}", f"g.{consent}"])
    count = "COUNT(*)" if count_rows else f"COUNT(r.{q('statistics_person')})"
    statement = (
        f"WITH r AS ({sql}) SELECT {grouped}, {count} FROM r "  # noqa: S608 -- identifiers only
        f"LEFT JOIN {q(record.db_table)} g ON g.{user} = r.{q('statistics_person')} "
        f"GROUP BY {grouped}"
    )
    compiler = inner.query.get_compiler(connection=connection)
    converters = compiler.get_converters([inner.query.annotations[k] for k in keys])
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for row in cursor.fetchall():
            key = list(row[: len(keys)])
            for position, (functions, expression) in converters.items():
                for function in functions:
                    key[position] = function(key[position], expression, connection)
            rest = row[len(keys) :]
            guest_value = rest[0] if guest else None
            truth = tuple(rest[1 if guest else 0 : len(rest) - 3])
            gender_value, consent_value, n = rest[-3:]
            yield tuple(key), _category_of(gender_value, consent_value, guest_value), truth, n


@dataclass(frozen=True)
class StageFlags:
    all_male_panels: int  # panels of two or more people who are all men (by their record)
    women_only_as_moderators: bool  # women on stage, and every one of them moderates


def all_male_panels(
    roles: QuerySet,
    *,
    person: str,
    guest_gender: str,
    role_field: str,
    panel_field: str,
    panel_roles: Sequence[str],
    per: str | None = None,
) -> dict:
    """How many panels (of two or more people) are all men, per `per` (e.g. "event"), in
    one query; the key is None when `per` is not given."""
    is_man = _consented(f"{person}__", Gender.MAN, STAGE) | Q(**{guest_gender: Gender.MAN})
    keys = [per, panel_field] if per else [panel_field]
    panels = (
        roles.order_by()
        .filter(**{f"{role_field}__in": panel_roles, f"{panel_field}__isnull": False})
        .values(*keys)
        .annotate(people=Count("pk"), men=Count("pk", filter=is_man))
    )
    counts: dict = {}
    for panel in panels:
        if panel["people"] >= 2 and panel["men"] == panel["people"]:
            key = panel[per] if per else None
            counts[key] = counts.get(key, 0) + 1
    return counts


def stage_flags(
    roles: QuerySet,
    *,
    person: str,
    guest_gender: str,
    role_field: str,
    panel_field: str,
    panel_roles: Sequence[str],
    moderator_role: str,
) -> StageFlags:
    """Flags about who is on stage. Booleans and a count of panels only: the flags are
    the one place where a handful of people's genders are combined, so nothing else of
    them leaves this module. Only people who agreed that their gender counts on the stage
    they appear on (and consenting guests) count by gender; everyone else is
    undisclosed, so a panel with one of them is never called all-male, and a flag says
    nothing that those on stage did not agree to make public."""
    prefix = f"{person}__"
    is_woman = _consented(prefix, Gender.WOMAN, STAGE) | Q(**{guest_gender: Gender.WOMAN})
    all_male = all_male_panels(
        roles, person=person, guest_gender=guest_gender, role_field=role_field,
        panel_field=panel_field, panel_roles=panel_roles,
    ).get(None, 0)  # fmt: skip
    women = roles.order_by().aggregate(
        on_stage=Count("pk", filter=is_woman),
        moderating=Count("pk", filter=is_woman & Q(**{role_field: moderator_role})),
    )
    return StageFlags(
        all_male_panels=all_male,
        women_only_as_moderators=bool(
            women["on_stage"] and women["on_stage"] == women["moderating"]
        ),
    )


def statistics_access_log(
    *, user: User, view: str, cluster: Cluster | None = None, filters: Mapping | None = None
) -> StatisticsAccess:
    """Every view and export of gender figures is logged: who, when, what, which filter."""
    return StatisticsAccess.objects.create(
        user=user, cluster=cluster, view=view[:80], filters=dict(filters or {})
    )


@dataclass(frozen=True)
class GenderAverages:
    """Average of a value per category; `None` marks a group of fewer than k people."""

    cells: dict[str, float | None]
    k: int


def gender_counts(*, users: QuerySet[User], k: int | None = None) -> GenderCounts:
    """Published gender figures of a set of people (see `publish`), in one query."""
    return gender_breakdown(users, person="", k=k)[0].measures["total"]


# --- releases: noisy counts drawn once -------------------------------------------------


def noise_sigma() -> float:
    return settings.PRIVACY_NOISE_SIGMA


def _gaussian(values: list[int], *, sigma: float) -> list[int]:
    """Discrete Gaussian noise on each value, from OpenDP (a vetted implementation with
    its own secure random source; no hand-written sampler)."""
    if not values:
        return []
    dp.enable_features("contrib")
    measurement = dp.m.make_gaussian(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int), scale=float(sigma)
    )
    return list(measurement([int(v) for v in values]))


@dataclass(frozen=True)
class ReleaseCost:
    """What one person's category costs when it is in `releases` releases."""

    mu: float  # Gaussian differential privacy
    rho: float  # zero-concentrated differential privacy
    best_guess: float  # the best possible guess between two categories, at most


def release_cost(*, releases: int = 1, sigma: float | None = None, sensitivity: float = 2**0.5):
    """The guarantee of `releases` releases that each hold one person's category with L2
    sensitivity `sensitivity` (√2: one category down, another up) and noise σ."""
    sigma = noise_sigma() if sigma is None else sigma
    if sigma <= 0:  # no noise: no guarantee at all
        return ReleaseCost(mu=float("inf"), rho=float("inf"), best_guess=1.0)
    mu = sensitivity / sigma * releases**0.5
    return ReleaseCost(mu=mu, rho=mu * mu / 2, best_guess=float(norm.cdf(mu / 2)))


@dataclass(frozen=True)
class NoisyCells:
    """One released row: the exact number of rows counted (not about anyone's gender —
    organisers see who registered) and a noisy count per category. Safe to store and
    show: nothing but the noise's draw is left of each person's category."""

    key: tuple
    total: int
    cells: dict[str, int]


def _draw(raw: Mapping[tuple, Mapping[str, int]], *, sigma: float | None) -> list[NoisyCells]:
    keys = list(raw)
    flat = [raw[key].get(c, 0) for key in keys for c in STATISTICS_CATEGORIES]
    noisy = _gaussian(flat, sigma=sigma or noise_sigma())
    width = len(STATISTICS_CATEGORIES)
    return [
        NoisyCells(
            key=key,
            total=sum(raw[key].values()),
            cells=dict(zip(STATISTICS_CATEGORIES, noisy[i * width : (i + 1) * width], strict=True)),
        )
        for i, key in enumerate(keys)
    ]


def release_rows(
    rows: QuerySet, *, group_by: Sequence[str], person: str = "user", sigma: float | None = None
) -> list[NoisyCells]:
    """Noisy counts of `rows` (e.g. registrations) per group and category: one draw, to be
    stored by the caller and never drawn again. Raw counts stay in this function."""
    raw = _grouped_raw(rows, person=person, measures={"n": Q()}, group_by=group_by,
                       guest_gender=None)  # fmt: skip
    return _draw({key: measures["n"] for key, measures in raw.items()}, sigma=sigma)


def release_tallies(
    tallies: QuerySet, *, group_by: Sequence[str], count: str, sigma: float | None = None
) -> list[NoisyCells]:
    """`release_rows` of rows already counted per category (events.tally)."""
    _flags, columns = _flag_and_key_columns({}, group_by)
    grouped = (
        tallies.order_by().annotate(**columns).values(*columns, "category")
        .annotate(statistics_n=Sum(count))
    )  # fmt: skip
    raw: dict[tuple, dict[str, int]] = {}
    for row in grouped:
        cells = raw.setdefault(tuple(row[c] for c in columns), {})
        cells[row["category"]] = cells.get(row["category"], 0) + (row["statistics_n"] or 0)
    return _draw(raw, sigma=sigma)


def release_people(
    rows: QuerySet, *, person: str, measures: Mapping[str, Q], sigma: float | None = None
) -> dict[str, NoisyCells]:
    """Noisy counts of the people behind `rows` (each once) per measure and category."""
    raw = _people_raw(rows, person=person, measures=measures)
    drawn = _draw({(name,): cells for name, cells in raw.items()}, sigma=sigma)
    return {cells.key[0]: cells for cells in drawn}


def release_sums(
    rows: QuerySet, *, person: str, value: str, upper: int, sigma: float | None = None
) -> tuple[NoisyCells, NoisyCells]:
    """(noisy counts, noisy sums of `value`) per category, e.g. for an average rating.
    Each person's value is at most `upper`, so the sums get `upper` times the noise:
    one person moved between categories changes them as much as the counts, relatively."""
    prefix = f"{person}__" if person else ""
    sigma = sigma or noise_sigma()
    counted = [c for c in STATISTICS_CATEGORIES if c != Gender.UNDISCLOSED]
    annotations = {"n": Count("pk"), "s": Sum(value)}
    for i, category in enumerate(counted):
        is_category = _consented(prefix, category)
        annotations[f"n{i}"] = Count("pk", filter=is_category)
        annotations[f"s{i}"] = Sum(value, filter=is_category)
    got = rows.order_by().aggregate(**annotations)  # one query
    counts = {c: got[f"n{i}"] for i, c in enumerate(counted)}
    sums = {c: min(got[f"s{i}"] or 0, upper * counts[c]) for i, c in enumerate(counted)}
    # The rest of the total, as everywhere: undisclosed.
    counts[Gender.UNDISCLOSED] = got["n"] - sum(counts.values())
    sums[Gender.UNDISCLOSED] = (got["s"] or 0) - sum(sums.values())
    [n] = _draw({("n",): counts}, sigma=sigma)
    [total] = _draw({("sum",): sums}, sigma=sigma * upper)
    return n, total


def estimates(cells: Mapping[str, float], total: int) -> dict[str, float]:
    """Noisy cells made to add up to the exact total (which is public): the difference is
    shared equally among the categories — the least-squares fit, post-processing only.
    With no rows at all every category is exactly 0."""
    if total == 0:
        return dict.fromkeys(STATISTICS_CATEGORIES, 0.0)
    shift = (total - sum(cells.get(c, 0) for c in STATISTICS_CATEGORIES)) / len(
        STATISTICS_CATEGORIES
    )
    return {c: cells.get(c, 0) + shift for c in STATISTICS_CATEGORIES}


def publish_released(cells: Mapping[str, float], total: int, *, k: int | None = None):
    """What may be shown of released (noisy) cells summed over any rows: each category
    rounded to a whole number, "fewer than k" below k; nothing at all for a group of
    fewer than k; shares from the unrounded estimates. Post-processing of releases only:
    it adds nothing to what the releases tell."""
    k = k or min_group_size()
    if total == 0:
        zero = dict.fromkeys(STATISTICS_CATEGORIES, 0)
        return GenderCounts(cells=zero, total=0, k=k, estimates=dict.fromkeys(zero, 0.0))
    if total < k:
        return GenderCounts(cells=dict.fromkeys(STATISTICS_CATEGORIES), total=None, k=k)
    fitted = estimates(cells, total)
    shown = {c: (round(v) if round(v) >= k else None) for c, v in fitted.items()}
    return GenderCounts(cells=shown, total=total, k=k, estimates=fitted)
