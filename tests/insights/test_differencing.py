"""Differencing attacks on figures published by the k rules (`privacy.publish`).

Stage figures are exact counts of people who agreed to count on stage, published by the
k rules: a total against its cells or two tables that differ by one person may not give
back a hidden cell (a true value of 1 to k−1). Registration, attendance, pipeline and
programme figures are releases instead; their attacks are in test_releases.py.
"""

import itertools
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import Event, Registration
from members import privacy
from members.models import User
from tests.events.factories import EventFactory
from tests.factories import crowd

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
