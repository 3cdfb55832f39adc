"""Differencing attacks on the published gender figures.

An organiser who sees the dashboards may combine any published numbers: a total against
its cells, two filters that differ by one event or one person, a quarter against its
months. None of that may give back a hidden cell (a true value of 1 to k−1). The tests
build the data, so they know every true value, and check each attack against it.
"""

import itertools
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import Event, Registration
from insights import balance
from members import privacy
from members.models import User
from tests.events.factories import EventFactory
from tests.factories import ClusterFactory, crowd

pytestmark = pytest.mark.django_db

K = 5
CATEGORIES = privacy.STATISTICS_CATEGORIES
RS = Registration.Status


@pytest.fixture(autouse=True)
def _k_is_five(settings):
    settings.PRIVACY_MIN_GROUP_SIZE = K


def register(event: Event, users: list[User], status: str = RS.CONFIRMED) -> None:
    Registration.objects.bulk_create(
        [Registration(event=event, user=user, status=status) for user in users]
    )


def event_with(cluster, when: datetime, kind=Event.Kind.WEBINAR, **people: int) -> Event:
    """An event of `cluster` on `when` with confirmed registrations, e.g. woman=3, man=2."""
    event = EventFactory(clusters=[cluster], starts_at=when, kind=kind)
    for gender, count in people.items():
        register(event, crowd(count, None if gender == "nobody" else gender))
    return event


def at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def truth(**people: int) -> dict[str, int]:
    """True counts per category (and "total"), as the test built them."""
    cells = {c: people.get(c, 0) for c in CATEGORIES}
    cells["undisclosed"] += people.get("nobody", 0)
    return cells | {"total": sum(cells.values())}


def published(figures: privacy.GenderCounts) -> dict[str, int | None]:
    return dict(figures.cells) | {"total": figures.total}


def hidden_values(true: dict[str, int], k: int = K) -> set[int]:
    return {value for value in true.values() if 0 < value < k}


def assert_hidden(figures: privacy.GenderCounts, true: dict[str, int], k: int = K) -> None:
    """Every true value of 1 to k−1 shows as None; a group of 1 to k−1 shows nothing."""
    shown = published(figures)
    for name, value in true.items():
        if 0 < value < k:
            assert shown[name] is None, (name, value, shown)
    if 0 < true["total"] < k:
        assert set(shown.values()) == {None}


def attacks_on_one(figures: privacy.GenderCounts) -> list[int]:
    """Total minus any selection of the shown cells ("from the totals and other cells")."""
    shown = [v for v in figures.cells.values() if v is not None]
    if figures.total is None:
        return []
    return [
        figures.total - sum(chosen)
        for size in range(1, len(shown) + 1)
        for chosen in itertools.combinations(shown, size)
    ]


def attacks_on_two(a: privacy.GenderCounts, b: privacy.GenderCounts) -> list[int]:
    """Corresponding cells of two filters subtracted, and the totals-minus-cells of each."""
    out = []
    for name in [*CATEGORIES, "total"]:
        x, y = published(a)[name], published(b)[name]
        if x is not None and y is not None:
            out += [x - y, y - x]
    return out + attacks_on_one(a) + attacks_on_one(b)


def assert_not_recoverable(numbers: list[int], secrets: set[int], k: int = K) -> None:
    for number in numbers:
        assert number not in secrets, (number, secrets)
        assert not 0 < abs(number) < k, number
        assert number % k == 0, number


def every_shown_number(*figures: privacy.GenderCounts) -> list[int]:
    return [v for f in figures for v in published(f).values() if v is not None]


# --- (a), (b): one table, its total and its other cells ---------------------------------


@pytest.mark.parametrize(
    "people",
    [
        {"woman": 7, "man": 6, "non_binary": 2},
        {"woman": 9, "man": 5, "self_described": 1, "nobody": 8},
        {"woman": 8, "man": 6, "non_binary": 2, "self_described": 3},
        {"woman": 5, "man": 1, "non_binary": 1, "self_described": 1, "nobody": 1},
        {"man": 12, "woman": 4},
    ],
)
def test_no_hidden_cell_comes_back_from_the_total_and_the_other_cells(cluster, people):
    event = event_with(cluster, at(2025, 1), **people)
    true = truth(**people)

    figures = balance.balance_for_event(event=event).funnel["registered"]

    assert_hidden(figures, true)
    assert hidden_values(true), "the scenario must hide something"
    assert_not_recoverable(attacks_on_one(figures), hidden_values(true))
    # Nor from the cluster dashboard, which shows the same event in other tables.
    [by_kind] = balance.balance_by_kind(filters=balance.BalanceFilter(cluster=cluster))
    assert_not_recoverable(
        attacks_on_two(figures, by_kind.measures["registered"]), hidden_values(true)
    )


# --- (c): two filters that differ by one event -----------------------------------------


@pytest.fixture
def cluster_with_a_small_event(cluster):
    """A big webinar and a later, small one (2 women, 1 man) of the same kind."""
    event_with(cluster, at(2025, 1), woman=8, man=7, nobody=3)
    event_with(cluster, at(2025, 2), kind=Event.Kind.CONFERENCE, woman=6, man=9)
    small = event_with(cluster, at(2025, 3), woman=2, man=1)
    return small


def test_the_dashboard_with_and_without_one_small_event_gives_nothing_away(
    cluster, cluster_with_a_small_event
):
    small = truth(woman=2, man=1)
    secrets = hidden_values(small)
    with_it = balance.BalanceFilter(cluster=cluster)
    without_it = balance.BalanceFilter(cluster=cluster, end=date(2025, 3, 1))

    # The small event on its own shows nothing.
    alone = balance.balance_for_event(event=cluster_with_a_small_event)
    assert_hidden(alone.funnel["registered"], small)
    assert_hidden(alone.funnel["participants"], small)

    # By kind, with and without it.
    a = {row.group["event__kind"]: row.measures for row in balance.balance_by_kind(filters=with_it)}
    b = {
        row.group["event__kind"]: row.measures
        for row in balance.balance_by_kind(filters=without_it)
    }
    assert set(a) == set(b) == {"webinar", "conference"}
    for kind in a:
        for measure in balance.FUNNEL:
            assert_not_recoverable(attacks_on_two(a[kind][measure], b[kind][measure]), secrets)

    # The pipeline and the per-event rows, with and without it.
    pipeline_a = {key: f for key, _, f in balance.balance_pipeline(filters=with_it)}
    pipeline_b = {key: f for key, _, f in balance.balance_pipeline(filters=without_it)}
    for key in pipeline_a:
        assert_not_recoverable(attacks_on_two(pipeline_a[key], pipeline_b[key]), secrets)
    rows = balance.events_against_target(filters=with_it, events=list(balance.events_in(with_it)))
    small_row = next(row for row in rows if row.event == cluster_with_a_small_event)
    assert_hidden(small_row.participants, small)
    assert small_row.target.position == "unknown"


def test_a_period_filter_that_takes_in_one_more_event_gives_nothing_away(cluster):
    event_with(cluster, at(2025, 4, 10), woman=6, man=6, non_binary=1)
    event_with(cluster, at(2025, 4, 20), woman=1, man=3, nobody=1)  # the one more event
    first_half = balance.BalanceFilter(cluster=cluster, end=date(2025, 4, 15), period="year")
    whole = balance.BalanceFilter(cluster=cluster, end=date(2025, 5, 1), period="year")
    secrets = hidden_values(truth(woman=1, man=3, nobody=1))

    [a] = balance.balance_trend(filters=first_half)
    [b] = balance.balance_trend(filters=whole)

    for measure in balance.FUNNEL:
        assert_not_recoverable(attacks_on_two(a.measures[measure], b.measures[measure]), secrets)
    assert_hidden(a.measures["registered"], truth(woman=6, man=6, non_binary=1))
    assert_hidden(b.measures["registered"], truth(woman=7, man=9, non_binary=1, nobody=1))


# --- (d): two queries that differ by one person ------------------------------------------


def test_one_more_registration_between_two_looks_gives_nothing_away(cluster):
    event = event_with(cluster, at(2025, 1), woman=9, man=6, non_binary=2)
    filters = balance.BalanceFilter(cluster=cluster)
    before_event = balance.balance_for_event(event=event).funnel
    [before] = balance.balance_by_kind(filters=filters)

    register(event, crowd(1, "non_binary"))

    after_event = balance.balance_for_event(event=event).funnel
    [after] = balance.balance_by_kind(filters=filters)
    secrets = {1, 2, 3}  # the newcomer, and the non-binary cell before and after
    for measure in balance.FUNNEL:
        assert_not_recoverable(
            attacks_on_two(before.measures[measure], after.measures[measure]), secrets
        )
        assert_not_recoverable(attacks_on_two(before_event[measure], after_event[measure]), secrets)
    assert after_event["registered"].cells["non_binary"] is None


def test_a_withdrawn_consent_between_two_looks_gives_nothing_away(cluster):
    event = event_with(cluster, at(2025, 1), man=6, nobody=2)
    women = crowd(7, "woman")
    register(event, women, RS.ATTENDED)
    before = balance.balance_for_event(event=event).funnel

    privacy.gender_set(user=women[0], gender="woman", statistics_consent=False)

    after = balance.balance_for_event(event=event).funnel
    # Before: 7 women, 6 men, 2 undisclosed; after: 6 women, 6 men, 3 undisclosed.
    assert_hidden(before["registered"], truth(woman=7, man=6, nobody=2))
    assert_hidden(after["registered"], truth(woman=6, man=6, nobody=3))
    for measure in balance.FUNNEL:
        assert_not_recoverable(attacks_on_two(before[measure], after[measure]), {1, 2, 3})


def test_a_person_who_withdraws_consent_is_no_longer_counted_anywhere(cluster):
    women = crowd(5, "woman")
    event = event_with(cluster, at(2025, 1), man=5)
    register(event, women, RS.ATTENDED)
    filters = balance.BalanceFilter(cluster=cluster)

    privacy.gender_set(user=women[0], gender="woman", statistics_consent=False)

    assert balance.balance_for_event(event=event).funnel["attended"].cells["woman"] is None
    [row] = balance.balance_by_kind(filters=filters)
    assert row.measures["registered"].cells["woman"] is None
    pipeline = {key: f for key, _, f in balance.balance_pipeline(filters=filters)}
    assert pipeline["registered"].cells["woman"] is None
    assert pipeline["attended"].cells["woman"] is None


# --- (e): across periods ---------------------------------------------------------------


MONTHS = {
    1: {"woman": 6, "man": 2},
    2: {"woman": 3, "man": 5, "nobody": 1},
    3: {"woman": 4, "man": 4, "non_binary": 1},
    4: {"woman": 5, "man": 7},
    5: {"woman": 1, "man": 1},
    7: {"woman": 2, "man": 9, "self_described": 0, "non_binary": 3},
    11: {"woman": 8, "man": 3},
}


@pytest.fixture
def a_year(cluster):
    for month, people in MONTHS.items():
        event_with(cluster, at(2025, month), **people)


def _trend(cluster, period):
    filters = balance.BalanceFilter(cluster=cluster, period=period)
    return [row.measures["registered"] for row in balance.balance_trend(filters=filters)]


def _true(months) -> dict[str, int]:
    total = Counter()
    for month in months:
        total.update(truth(**MONTHS[month]))
    return dict(total)


@pytest.mark.usefixtures("a_year")
def test_a_quarter_against_its_months_and_a_year_against_its_quarters(cluster):
    months, quarters, [year] = (_trend(cluster, p) for p in ("month", "quarter", "year"))
    true_months = [truth(**people) for people in MONTHS.values()]
    true_quarters = [_true([1, 2, 3]), _true([4, 5]), _true([7]), _true([11])]
    secrets = set().union(*map(hidden_values, true_months + true_quarters))
    assert len(months) == len(MONTHS) and len(quarters) == 4

    for figures, true in zip(months + quarters, true_months + true_quarters, strict=True):
        assert_hidden(figures, true)
    assert_hidden(year, _true(MONTHS))

    # A quarter minus the sum of its shown months, per category and for the total.
    for quarter, its_months in zip(
        quarters, [months[0:3], months[3:5], months[5:6], months[6:]], strict=True
    ):
        for name in [*CATEGORIES, "total"]:
            shown = [published(m)[name] for m in its_months]
            q = published(quarter)[name]
            if q is None:
                continue
            for size in range(1, len(shown) + 1):
                for chosen in itertools.combinations([v for v in shown if v is not None], size):
                    assert_not_recoverable([q - sum(chosen)], secrets)
    # The year minus its quarters and minus its months.
    for name in [*CATEGORIES, "total"]:
        y = published(year)[name]
        if y is None:
            continue
        for parts in (quarters, months):
            shown = [published(p)[name] for p in parts if published(p)[name] is not None]
            for size in range(1, len(shown) + 1):
                for chosen in itertools.combinations(shown, size):
                    assert_not_recoverable([y - sum(chosen)], secrets)
    # Whatever else the attacker combines: every number shown is a multiple of k.
    assert_not_recoverable(every_shown_number(*months, *quarters, year), secrets)


# --- one more person: what the figures before and after tell ---------------------------
#
# An organiser looks at the figures just before and just after one known person registers
# (or consents) and asks: which category did they join? The rounding is drawn from the
# site's secret key, which the organiser does not know, so the tests play the attacker
# over many keys and measure the odds of the best possible guess.


def _observed(before: dict, category: str) -> tuple:
    after = dict(before, **{category: before[category] + 1})
    return tuple(
        tuple(published(privacy.publish(counts, k=K)).items()) for counts in (before, after)
    )


def attacker_odds(before: dict, keys: list[str]) -> tuple[float, float]:
    """(how often the best guess between woman and man is right, how often the figures
    make it certain) for one person joining `before`, over the given secret keys."""
    seen = {category: Counter() for category in ("woman", "man")}
    for key in keys:
        with override_settings(SECRET_KEY=key):
            for category in seen:
                seen[category][_observed(before, category)] += 1
    woman, man = seen["woman"], seen["man"]
    outcomes = set(woman) | set(man)
    right = sum(max(woman[o], man[o]) for o in outcomes) / (2 * len(keys))
    certain = sum(woman[o] + man[o] for o in outcomes if not woman[o] or not man[o])
    return right, certain / (2 * len(keys))


KEYS = [f"attacker-does-not-know-this-key-{i}-" + "x" * 40 for i in range(150)]


def test_one_more_person_does_not_tell_their_category():
    # 7 women and 5 men: with fixed rounding one more woman shows as 5 → 10 women and one
    # more man changes nothing — certain every time. Drawn rounding moves every cell.
    right, certain = attacker_odds({"woman": 7, "man": 5}, KEYS)

    assert right < 0.75
    assert certain < 0.25


def test_the_first_person_in_a_category_is_not_singled_out():
    # 0 → 1 non-binary person: an empty category is hidden like 1 to k−1, not shown as 0.
    before = {"woman": 9, "man": 14, "non_binary": 0}
    joined = privacy.publish(dict(before, non_binary=1), k=K)

    assert privacy.publish(before, k=K).cells["non_binary"] is None
    assert joined.cells["non_binary"] is None


def _fixed_rounding(value: int) -> int | None:
    """The rule this replaced: 0 shown, 1 to k−1 hidden, the nearest multiple of k."""
    return 0 if value == 0 else None if value < K else K * ((value + K // 2) // K)


def test_over_many_tables_the_best_guess_is_little_better_than_a_coin():
    # Every table from 0 to 25 women and 5 to 23 men. Certainty remains only at two
    # edges rounding cannot hide: a category reaching k (hidden → k), and a count at an
    # exact multiple of k growing by one and being rounded up (20 always shows as 20;
    # 21 shows as 25 one time in five).
    cases = [{"woman": w, "man": m} for w in range(26) for m in (5, 12, 20, 23)]
    odds = [attacker_odds(case, KEYS[:80]) for case in cases]
    right = sum(r for r, _ in odds) / len(odds)
    certain = sum(c for _, c in odds) / len(odds)

    def fixed(case: dict) -> tuple:
        return tuple(_fixed_rounding(v) for v in (*case.values(), sum(case.values())))

    fixed_certain = sum(
        fixed(dict(case, woman=case["woman"] + 1)) != fixed(dict(case, man=case["man"] + 1))
        for case in cases
    ) / len(cases)

    assert fixed_certain > 0.4  # fixed rounding: certain in more than 2 cases out of 5
    assert certain < fixed_certain / 2
    assert certain < 0.18
    assert right < 0.70
    # The edge that stays: the k-th woman is always told by her cell appearing.
    assert attacker_odds({"woman": K - 1, "man": 20}, KEYS[:20]) == (1.0, 1.0)


# --- properties --------------------------------------------------------------------------


def compositions(k: int):
    return st.fixed_dictionaries({c: st.integers(0, 3 * k) for c in CATEGORIES})


@st.composite
def one_difference(draw):
    """(k, group A, group B) where B is A plus one person or plus one small-ish event."""
    k = draw(st.sampled_from([3, 5, 10]))
    a = draw(compositions(k))
    if draw(st.booleans()):
        extra = dict.fromkeys(CATEGORIES, 0)
        extra[draw(st.sampled_from(CATEGORIES))] = 1
    else:
        extra = draw(st.fixed_dictionaries({c: st.integers(0, k) for c in CATEGORIES}))
    b = {c: a[c] + extra[c] for c in CATEGORIES}
    return k, a, b, extra


def _with_total(cells: dict[str, int]) -> dict[str, int]:
    return dict(cells) | {"total": sum(cells.values())}


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(one_difference())
def test_property_no_difference_between_two_groups_is_below_k(case):
    k, a, b, extra = case
    pa, pb = privacy.publish(a, k=k), privacy.publish(b, k=k)
    secrets = (
        hidden_values(_with_total(a), k)
        | hidden_values(_with_total(b), k)
        | hidden_values(_with_total(extra), k)
    )

    assert_hidden(pa, _with_total(a), k)
    assert_hidden(pb, _with_total(b), k)
    for name in [*CATEGORIES, "total"]:
        x, y = published(pa)[name], published(pb)[name]
        if x is not None and y is not None:
            assert not 0 < abs(x - y) < k
    assert_not_recoverable(attacks_on_two(pa, pb), secrets, k)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from([3, 5, 10]).flatmap(lambda k: st.tuples(st.just(k), compositions(k))))
def test_property_the_total_minus_the_shown_cells_is_never_a_hidden_cell(case):
    k, cells = case
    figures = privacy.publish(cells, k=k)
    true = _with_total(cells)

    assert_hidden(figures, true, k)
    for name, value in figures.cells.items():
        assert value is None or value == 0 or value % k == 0
        assert value != 0 or cells[name] == 0
    assert_not_recoverable(attacks_on_one(figures), hidden_values(true, k), k)


def _year(filters) -> dict[str, privacy.GenderCounts]:
    rows = balance.balance_trend(filters=filters)
    return rows[0].measures if rows else dict.fromkeys(balance.FUNNEL, privacy.publish({}))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    k=st.sampled_from([3, 5, 10]),
    big=st.fixed_dictionaries({c: st.integers(0, 12) for c in ("woman", "man", "nobody")}),
    small=st.fixed_dictionaries({c: st.integers(0, 3) for c in ("woman", "man", "non_binary")}),
    newcomer=st.sampled_from(["woman", "man", "non_binary", "nobody"]),
)
def test_property_the_dashboard_with_one_more_event_or_person(k, big, small, newcomer):
    with override_settings(PRIVACY_MIN_GROUP_SIZE=k), transaction.atomic():
        cluster = ClusterFactory()
        event = event_with(cluster, at(2025, 1), **big)
        filters = balance.BalanceFilter(cluster=cluster, period="year")
        before = _year(filters)
        event_with(cluster, at(2025, 2), **small)  # one more event
        with_event = _year(filters)
        register(event, crowd(1, None if newcomer == "nobody" else newcomer))  # one more person
        with_person = _year(filters)

        secrets = {1, *hidden_values(truth(**small), k)}
        secrets = {s for s in secrets if s < k}
        for a, b in ((before, with_event), (with_event, with_person), (before, with_person)):
            for measure in balance.FUNNEL:
                assert_not_recoverable(attacks_on_two(a[measure], b[measure]), secrets, k)
        transaction.set_rollback(True)
