"""The meeting scheduler on random days: never a double booking, a meeting outside
presence or a table used twice; caps and pinned meetings honoured; never worse than the
first-fit baseline, never above its bound; optimal on tiny days (checked by exhaustive
search, and by an independent integer programme)."""

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from matchmaking.brokerage.scheduler import (
    FEASIBLE,
    OPTIMAL,
    Person,
    Place,
    Request,
    greedy_schedule,
    schedule,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def days(draw, max_slots=4, max_people=6, max_meetings=9, max_tables=3, published=True):
    n_slots = draw(st.integers(1, max_slots))
    slot_st = st.integers(0, n_slots - 1)
    table_ids = [10 + t for t in range(draw(st.integers(0, max_tables)))]
    tables = []
    for _s in range(n_slots):
        # Some tables held by meetings outside the run: not free in that slot.
        held = draw(st.sets(st.sampled_from(table_ids))) if table_ids else set()
        tables.append([t for t in table_ids if t not in held])
    n_people = draw(st.integers(2, max_people))
    people = {
        100 + p: Person(
            available=frozenset(draw(st.sets(slot_st))),
            max_meetings=draw(st.integers(0, n_slots + 1)),
        )
        for p in range(n_people)
    }
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(people)), st.sampled_from(sorted(people))).filter(
                lambda ab: ab[0] != ab[1]
            ),
            max_size=max_meetings,
        )
    )
    meetings = [Request(id=1 + i, a=a, b=b) for i, (a, b) in enumerate(pairs)]
    pinned, hinted = {}, {}
    if published and meetings:
        # A valid published schedule to pin or hint: first fit of a random subset.
        chosen = draw(st.lists(st.sampled_from(meetings), unique_by=lambda m: m.id))
        existing = greedy_schedule(tables=tables, people=people, meetings=chosen)
        mode = draw(st.sampled_from(["none", "pinned", "hinted"]))
        if mode == "pinned":
            pinned = existing
        elif mode == "hinted":
            hinted = existing
    return {"tables": tables, "people": people, "meetings": meetings}, pinned, hinted


def check_valid(day, placed, pinned=None):
    """Every rule of a schedule; returns nothing, fails loudly."""
    by_id = {m.id: m for m in day["meetings"]}
    seats = Counter()
    tables_used = Counter()
    per_person = Counter()
    for mid, place in placed.items():
        m = by_id[mid]
        assert place.table in day["tables"][place.slot], "a table not free in that slot"
        tables_used[place.slot, place.table] += 1
        for side in (m.a, m.b):
            seats[side, place.slot] += 1
            per_person[side] += 1
            if not pinned or mid not in pinned:
                assert place.slot in day["people"][side].available, "outside presence"
    assert max(seats.values(), default=0) <= 1, "someone double-booked"
    assert max(tables_used.values(), default=0) <= 1, "a table used twice in a slot"
    for person, count in per_person.items():
        pinned_here = sum(1 for mid in (pinned or {}) if person in (by_id[mid].a, by_id[mid].b))
        assert count <= max(day["people"][person].max_meetings, pinned_here)


@SETTINGS
@given(days())
def test_no_input_yields_a_double_booking_a_meeting_outside_presence_or_a_shared_table(drawn):
    day, pinned, hinted = drawn
    result = schedule(**day, pinned=pinned, hinted=hinted, time_limit=5)
    check_valid(day, result.placed, pinned)
    assert result.scheduled == len(result.placed)
    for mid, place in pinned.items():
        assert result.placed[mid] == place, "a pinned meeting moved"
    assert result.kept + result.moved + result.dropped == len(hinted)
    assert result.scheduled <= result.upper_bound == min(result.bound_detail.values())
    baseline = greedy_schedule(**day, pinned=pinned)
    check_valid(day, baseline, pinned)
    assert result.scheduled >= len(baseline)
    assert result.status in (OPTIMAL, FEASIBLE)


def brute_force(day, pinned=None) -> int:
    """The most meetings any schedule places: every slot (or none) for every meeting."""
    pinned = pinned or {}
    n_slots = len(day["tables"])
    options = []
    for m in day["meetings"]:
        if m.id in pinned:
            options.append([pinned[m.id].slot])
            continue
        common = day["people"][m.a].available & day["people"][m.b].available
        options.append([None, *sorted(common)])
    best = 0
    for choice in itertools.product(*options):
        seats, load, per_person = set(), Counter(), Counter()
        ok = True
        for m, s in zip(day["meetings"], choice, strict=True):
            if s is None:
                continue
            if (m.a, s) in seats or (m.b, s) in seats:
                ok = False
                break
            seats.update({(m.a, s), (m.b, s)})
            load[s] += 1
            per_person[m.a] += 1
            per_person[m.b] += 1
        ok = ok and all(load[s] <= len(day["tables"][s]) for s in range(n_slots))
        ok = ok and all(c <= day["people"][p].max_meetings for p, c in per_person.items())
        if ok:
            best = max(best, sum(s is not None for s in choice))
    return best


def integer_programme(day) -> int:
    """The same problem written independently for HiGHS: x[m, s] over common slots."""
    keys = [
        (i, s)
        for i, m in enumerate(day["meetings"])
        for s in sorted(day["people"][m.a].available & day["people"][m.b].available)
    ]
    if not keys:
        return 0
    rows = []
    ub = []
    for i in range(len(day["meetings"])):
        rows.append([1.0 if k[0] == i else 0.0 for k in keys])
        ub.append(1)
    for p, person in day["people"].items():
        mine = [k for k in keys if p in (day["meetings"][k[0]].a, day["meetings"][k[0]].b)]
        rows.append([1.0 if k in mine else 0.0 for k in keys])
        ub.append(person.max_meetings)
        for s in range(len(day["tables"])):
            rows.append([1.0 if k in mine and k[1] == s else 0.0 for k in keys])
            ub.append(1)
    for s, free in enumerate(day["tables"]):
        rows.append([1.0 if k[1] == s else 0.0 for k in keys])
        ub.append(len(free))
    result = milp(
        -np.ones(len(keys)),
        constraints=LinearConstraint(np.array(rows), -np.inf, ub),
        integrality=np.ones(len(keys)),
        bounds=Bounds(0, 1),
    )
    return round(-result.fun)


@SETTINGS
@given(days(max_slots=3, max_people=5, max_meetings=6, published=False))
def test_tiny_days_are_scheduled_optimally(drawn):
    day, _pinned, _hinted = drawn
    result = schedule(**day, time_limit=5)
    best = brute_force(day)
    assert result.scheduled == best
    assert result.status == OPTIMAL
    assert best <= result.upper_bound


@SETTINGS
@given(days(max_slots=5, max_people=8, max_meetings=14, published=False))
def test_small_days_match_an_independent_integer_programme(drawn):
    day, _pinned, _hinted = drawn
    result = schedule(**day, time_limit=5)
    assert result.scheduled == integer_programme(day)
    assert result.status == OPTIMAL


@SETTINGS
@given(days(max_slots=3, max_people=5, max_meetings=6))
def test_pinned_meetings_stay_and_the_rest_is_still_optimal(drawn):
    day, pinned, _hinted = drawn
    result = schedule(**day, pinned=pinned, time_limit=5)
    assert all(result.placed[mid] == place for mid, place in pinned.items())
    assert result.scheduled == brute_force(day, pinned)


def two_people_one_slot():
    people = {1: Person(frozenset({0, 1}), 5), 2: Person(frozenset({0, 1}), 5),
              3: Person(frozenset({0}), 5)}  # fmt: skip
    meetings = [Request(id=7, a=1, b=2), Request(id=8, a=1, b=3)]
    return {"tables": [[10], [10]], "people": people, "meetings": meetings}


def test_a_hinted_meeting_moves_only_when_that_places_one_more():
    day = two_people_one_slot()
    # 7 published in slot 0 blocks 8, which can only be in slot 0: moving 7 places both.
    result = schedule(**day, hinted={7: Place(0, 10)})
    assert result.scheduled == 2
    assert result.placed == {7: Place(1, 10), 8: Place(0, 10)}
    assert (result.kept, result.moved, result.dropped) == (0, 1, 0)
    assert result.status == OPTIMAL
    # Pinned, it stays, and 8 cannot be placed.
    result = schedule(**day, pinned={7: Place(0, 10)})
    assert result.placed == {7: Place(0, 10)}
    assert result.upper_bound >= 1


def test_a_hinted_meeting_keeps_its_slot_and_table_when_nothing_is_gained():
    day = two_people_one_slot()
    day["tables"] = [[10, 11], [10, 11]]
    result = schedule(**day, hinted={7: Place(1, 11)})
    assert result.placed[7] == Place(1, 11)
    assert (result.kept, result.moved) == (1, 0)


def test_the_bound_names_its_parts():
    people = {p: Person(frozenset({0, 1, 2}), 3) for p in range(1, 7)}
    meetings = [Request(id=i, a=a, b=b) for i, (a, b) in
                enumerate(itertools.combinations(range(1, 7), 2), start=1)]  # fmt: skip
    result = schedule(tables=[[1, 2]] * 3, people=people, meetings=meetings)
    assert result.bound_detail["tables_x_slots"] == 6
    assert result.bound_detail["people"] == 9
    assert result.bound_detail["meetings"] == 15
    assert result.upper_bound == result.scheduled == 6
    assert result.status == OPTIMAL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pinned": {99: Place(0, 10)}}, "not among the meetings"),
        ({"pinned": {7: Place(0, 55)}}, "not free in its slot"),
        ({"pinned": {7: Place(0, 10)}, "hinted": {7: Place(0, 10)}}, "both pinned and hinted"),
    ],
)
def test_an_inconsistent_input_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        schedule(**two_people_one_slot(), **change)


def test_same_input_same_schedule():
    people = {p: Person(frozenset(range(4)), 3) for p in range(12)}
    meetings = [Request(id=i, a=a, b=b) for i, (a, b) in
                enumerate(itertools.combinations(range(12), 2), start=1)]  # fmt: skip
    day = {"tables": [[1, 2, 3]] * 4, "people": people, "meetings": meetings}
    assert schedule(**day).placed == schedule(**day).placed
