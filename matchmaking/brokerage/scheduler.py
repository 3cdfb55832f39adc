"""The brokerage day's meeting schedule: the largest number of accepted meetings placed in
slots and at tables, with a proof of how good that is. Pure: no Django, no database.

The input is the day as the scheduler sees it:

- slots 0 … S−1, each with the tables free for this run (table ids in the order they are
  handed out; a table held by a meeting outside the run is simply not listed);
- people, each with the slots they attend (their free slots) and the most meetings they
  want;
- the accepted meetings to place, each between two people;
- optionally *pinned* meetings (published, may not move: they keep their slot and table)
  or *hinted* ones (published, may move, but every move counts against the schedule).

The model is CP-SAT's (OR-Tools), one boolean per meeting m and slot s where both sides
are free — x[m, s] = 1 when m takes place in s:

    Σ_s x[m, s] ≤ 1                        each meeting at most once
    Σ_{m ∋ p} x[m, s] ≤ 1                  nobody in two meetings of one slot
    Σ_{m ∋ p, s} x[m, s] ≤ max_meetings(p)  nobody above the meetings they want
    Σ_m x[m, s] ≤ tables(s)                 each table once per slot

Pinned meetings are not variables: they take their slot and table away from both sides
and from the slot before the model is built. The objective is lexicographic — first the
most meetings, then the fewest moved published (hinted) meetings — folded into one sum:

    maximise (H + 1) · Σ x[m, s]  +  Σ_{hinted m} x[m, hinted slot of m]

with H the number of hinted meetings, so one more meeting outweighs keeping all of them.
Tables are interchangeable, so concrete tables are handed out after solving: pinned
meetings keep theirs, hinted ones that stay in their slot keep theirs, the others take
the slot's free tables in the given order.

The proof of quality is an upper bound on the number of meetings any schedule can place,
the least of four, each kept in `Schedule.bound_detail` so a page can say which binds:

- "tables_x_slots": the tables free in each slot, summed;
- "people": ⌊Σ_p min(free slots of p, meetings of p, max_meetings of p) / 2⌋ — each
  meeting takes two people, and nobody can meet more often than that minimum;
- "meetings": the meetings whose two sides share at least one free slot;
- "solver": CP-SAT's proven bound on the meeting count (its objective bound, decoded).

The three counting bounds are also added to the model as one redundant constraint, so
CP-SAT stops with a proof of optimality as soon as it reaches them. The schedule is
"optimal" when CP-SAT proves it (or it reaches the bound and nothing was hinted).

CP-SAT starts from a first-fit solution (hinted meetings in their slots first, then the
rest in request order) and never returns less than it: when the time limit ends before
CP-SAT improves on it, the first-fit solution is the answer. `greedy_schedule` is the same
first-fit pass, kept apart and named as the *baseline* the benchmark compares against; the
product never schedules with it.

Same input → same output: variables are made in input order, with a fixed random seed
and a fixed number of workers (two: this machine has two cores). A run cut off by the
time limit depends on how far the search got, so only an "optimal" result is exactly
reproducible; the count of a cut-off run varies little from run to run.
"""

import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

DEFAULT_TIME_LIMIT = 10.0  # seconds
WORKERS = 2
SEED = 17
# The share of the time limit the slot-free selection (`_pairs`) may take at most.
PAIRS_SHARE = 0.25
# CP-SAT's presolve: on large schedules it spends the time limit before searching.
PRESOLVE = False

OPTIMAL = "optimal"
FEASIBLE = "feasible"


@dataclass(frozen=True)
class Person:
    """A participant: the slot indices they attend and the most meetings they want."""

    available: frozenset[int]
    max_meetings: int


@dataclass(frozen=True)
class Request:
    """An accepted meeting to place, between persons `a` and `b`."""

    id: int
    a: int
    b: int


@dataclass(frozen=True)
class Place:
    slot: int
    table: int


@dataclass(frozen=True)
class Schedule:
    """The result: `placed` maps meeting id → place, for every meeting scheduled."""

    placed: dict[int, Place]
    scheduled: int
    upper_bound: int
    bound_detail: dict[str, int]
    status: str  # OPTIMAL or FEASIBLE
    solver_status: str  # CP-SAT's own word (or "FIRST_FIT" when its start was kept)
    kept: int  # hinted meetings left at their slot and table
    moved: int  # hinted meetings placed elsewhere
    dropped: int  # hinted meetings left unplaced
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def share_of_bound(self) -> float:
        return self.scheduled / self.upper_bound if self.upper_bound else 1.0


class SchedulerError(Exception):
    """CP-SAT rejected the model: a bug, never a problem of the input (a `ValueError`)."""


@dataclass
class _Day:
    """The checked input, with the pinned meetings taken out of it."""

    tables: list[list[int]]
    people: Mapping[int, Person]
    free: list[Request]  # meetings to place (not pinned), in input order
    pinned: dict[int, Place]
    hinted: dict[int, Place]
    room: list[int]  # tables left per slot after the pinned meetings
    busy: dict[int, set[int]]  # person → slots taken by pinned meetings
    wants: dict[int, int]  # person → meetings still wanted after the pinned ones
    common: dict[int, list[int]]  # free meeting id → slots both sides can still use


def _check(
    tables: Sequence[Sequence[int]],
    people: Mapping[int, Person],
    meetings: Sequence[Request],
    pinned: Mapping[int, Place] | None,
    hinted: Mapping[int, Place] | None,
) -> _Day:
    n_slots = len(tables)
    table_lists = [list(t) for t in tables]
    for s, slot_tables in enumerate(table_lists):
        if len(set(slot_tables)) != len(slot_tables):
            raise ValueError(f"Slot {s} lists a table twice.")
    seen: set[int] = set()
    for m in meetings:
        if m.id in seen:
            raise ValueError(f"Meeting {m.id} is given twice.")
        seen.add(m.id)
        if m.a == m.b:
            raise ValueError(f"Meeting {m.id} is between a person and themselves.")
        for side in (m.a, m.b):
            if side not in people:
                raise ValueError(f"Meeting {m.id} names person {side}, who is not given.")
    for key, person in people.items():
        if person.max_meetings < 0:
            raise ValueError(f"Person {key} wants a negative number of meetings.")
        if any(not 0 <= s < n_slots for s in person.available):
            raise ValueError(f"Person {key} attends a slot that does not exist.")
    pinned = dict(pinned or {})
    hinted = dict(hinted or {})
    if set(pinned) & set(hinted):
        raise ValueError("A meeting cannot be both pinned and hinted.")
    for what, places in (("pinned", pinned), ("hinted", hinted)):
        for mid, place in places.items():
            if mid not in seen:
                raise ValueError(f"The {what} meeting {mid} is not among the meetings.")
            if not 0 <= place.slot < n_slots:
                raise ValueError(f"The {what} meeting {mid} is in a slot that does not exist.")

    by_id = {m.id: m for m in meetings}
    used_tables: set[tuple[int, int]] = set()
    busy: dict[int, set[int]] = defaultdict(set)
    pinned_count: dict[int, int] = defaultdict(int)
    for mid, place in pinned.items():
        if place.table not in table_lists[place.slot]:
            raise ValueError(f"The pinned meeting {mid} is at a table not free in its slot.")
        if (place.slot, place.table) in used_tables:
            raise ValueError(f"Two pinned meetings share table {place.table} in a slot.")
        used_tables.add((place.slot, place.table))
        m = by_id[mid]
        for side in (m.a, m.b):
            if place.slot in busy[side]:
                raise ValueError(f"Person {side} has two pinned meetings in one slot.")
            busy[side].add(place.slot)
            pinned_count[side] += 1

    room = [len(t) for t in table_lists]
    for place in pinned.values():
        room[place.slot] -= 1
    open_slots = {s for s in range(n_slots) if room[s] > 0}
    wants = {p: max(0, person.max_meetings - pinned_count[p]) for p, person in people.items()}
    free = [m for m in meetings if m.id not in pinned]
    common = {}
    for m in free:
        usable = (
            (people[m.a].available & people[m.b].available & open_slots) - busy[m.a] - busy[m.b]
        )
        if usable and wants[m.a] and wants[m.b]:
            common[m.id] = sorted(usable)
    return _Day(table_lists, people, free, pinned, hinted, room, busy, wants, common)


def _bounds(day: _Day) -> dict[str, int]:
    """The three counting bounds (see the module docstring), pinned meetings included."""
    n_pinned = len(day.pinned)
    placeable = [m for m in day.free if m.id in day.common]
    meetings_of: dict[int, int] = defaultdict(int)
    slots_of: dict[int, set[int]] = defaultdict(set)
    for m in placeable:
        for side in (m.a, m.b):
            meetings_of[side] += 1
            slots_of[side].update(day.common[m.id])
    per_person = sum(min(len(slots_of[p]), meetings_of[p], day.wants[p]) for p in meetings_of)
    return {
        "tables_x_slots": n_pinned + sum(day.room),
        "people": n_pinned + per_person // 2,
        "meetings": n_pinned + len(placeable),
    }


def _slots_per_person(day: _Day) -> dict[int, int]:
    """Person → how many meetings they can have at most: their wish, and no more than the
    slots they could use for any of their meetings."""
    slots_of: dict[int, set[int]] = defaultdict(set)
    for m in day.free:
        for side in (m.a, m.b):
            slots_of[side].update(day.common.get(m.id, ()))
    return {p: min(len(slots), day.wants[p]) for p, slots in slots_of.items()}


def _pairs(day: _Day, *, time_limit: float) -> tuple[list[int], int | None]:
    """The most meetings with nobody above what they can have and no more than the
    tables: the schedule without its slots (a degree-bounded matching, an integer
    programme solved by HiGHS). Its bound holds for every schedule; its meetings are the
    first-fit start's first choice.

    Returns the chosen meeting ids (in input order) and the proven bound on any
    schedule's count, pinned meetings included (None when HiGHS proved nothing in time).
    """
    ids = [m.id for m in day.free if m.id in day.common]
    if not ids:
        return [], len(day.pinned)
    limit = _slots_per_person(day)
    people = sorted(limit)
    row_of = {p: i for i, p in enumerate(people)}
    by_id = {m.id: m for m in day.free}
    rows = [row_of[side] for mid in ids for side in (by_id[mid].a, by_id[mid].b)]
    cols = np.repeat(np.arange(len(ids)), 2)
    degree = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(len(people), len(ids)))
    constraints = [
        LinearConstraint(degree, -np.inf, [limit[p] for p in people]),
        LinearConstraint(np.ones((1, len(ids))), -np.inf, sum(day.room)),
    ]
    result = milp(
        -np.ones(len(ids)),
        constraints=constraints,
        integrality=np.ones(len(ids)),
        bounds=Bounds(0, 1),
        options={"time_limit": max(0.01, time_limit), "presolve": True},
    )
    if result.x is None:
        return [], None
    chosen = [mid for mid, value in zip(ids, result.x, strict=True) if value > 0.5]
    dual = getattr(result, "mip_dual_bound", None)
    if dual is None or not np.isfinite(dual):
        return chosen, None
    return chosen, len(day.pinned) + int(math.floor(-dual + 1e-6))


def _solver(*, time_limit: float, workers: int, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, float(time_limit))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    return solver


def _first_fit(day: _Day, order: Sequence[Request]) -> dict[int, int]:
    """Free meeting id → slot: each meeting in `order` takes its first slot with room."""
    room = list(day.room)
    wants = dict(day.wants)
    taken: set[tuple[int, int]] = set()
    slot_of: dict[int, int] = {}
    for m in order:
        if m.id in slot_of or wants[m.a] == 0 or wants[m.b] == 0:
            continue
        hint = day.hinted.get(m.id)
        choices = day.common.get(m.id, [])
        if hint is not None and hint.slot in choices:
            choices = [hint.slot, *choices]
        for s in choices:
            if room[s] and (m.a, s) not in taken and (m.b, s) not in taken:
                slot_of[m.id] = s
                room[s] -= 1
                wants[m.a] -= 1
                wants[m.b] -= 1
                taken.update(((m.a, s), (m.b, s)))
                break
    return slot_of


def _tables(day: _Day, slot_of: Mapping[int, int]) -> dict[int, Place]:
    """Concrete tables: pinned keep theirs, hinted that stay in their slot keep theirs
    while it is free, the rest take the slot's free tables in order."""
    placed = dict(day.pinned)
    taken: dict[int, set[int]] = defaultdict(set)
    for place in day.pinned.values():
        taken[place.slot].add(place.table)
    waiting: dict[int, list[int]] = defaultdict(list)
    for m in day.free:
        s = slot_of.get(m.id)
        if s is None:
            continue
        hint = day.hinted.get(m.id)
        if (
            hint is not None
            and hint.slot == s
            and hint.table in day.tables[s]
            and hint.table not in taken[s]
        ):
            placed[m.id] = hint
            taken[s].add(hint.table)
        else:
            waiting[s].append(m.id)
    for s, mids in waiting.items():
        free_tables = (t for t in day.tables[s] if t not in taken[s])
        for mid, table in zip(mids, free_tables, strict=False):
            placed[mid] = Place(slot=s, table=table)
        if len(mids) > len(day.tables[s]) - len(taken[s]):
            raise SchedulerError(f"Slot {s} got more meetings than it has tables.")
    return placed


def _objective(slot_of: Mapping[int, int], hinted: Mapping[int, Place]) -> tuple[int, int]:
    """Meetings placed, then hinted meetings left in their slot: compared as a pair."""
    return len(slot_of), sum(1 for mid, p in hinted.items() if slot_of.get(mid) == p.slot)


def schedule(
    *,
    tables: Sequence[Sequence[int]],
    people: Mapping[int, Person],
    meetings: Sequence[Request],
    pinned: Mapping[int, Place] | None = None,
    hinted: Mapping[int, Place] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    workers: int = WORKERS,
    seed: int = SEED,
) -> Schedule:
    """The most meetings placed (then the fewest hinted ones moved), with its bound.

    `tables[s]` lists the table ids free for this run in slot s; `people` maps a person
    key to their free slots and maximum; `pinned` meetings keep their place; `hinted`
    ones should. Raises `ValueError` on an inconsistent input.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.perf_counter() - started - sum(timings.values())

    day = _check(tables, people, meetings, pinned, hinted)
    detail = _bounds(day)
    hinted_first = [m for m in day.free if m.id in day.hinted]
    start = _first_fit(day, hinted_first + day.free)
    lap("prepare")
    solver_status = "FIRST_FIT"
    if day.hinted or len(day.pinned) + len(start) < min(detail.values()):
        chosen, pairs_bound = _pairs(day, time_limit=time_limit * PAIRS_SHARE)
        if pairs_bound is not None:
            detail["pairs"] = pairs_bound
        lap("pairs")
        by_id = {m.id: m for m in day.free}
        better = _first_fit(day, hinted_first + [by_id[mid] for mid in chosen] + day.free)
        if _objective(better, day.hinted) > _objective(start, day.hinted):
            start = better
        lap("start")
        if day.hinted or len(day.pinned) + len(start) < min(detail.values()):
            start, solver_status, solver_bound = _slots(
                day,
                start,
                ceiling=min(detail.values()),
                deadline=started + time_limit,
                workers=workers,
                seed=seed,
            )
            if solver_bound is not None:
                detail["solver"] = solver_bound
            lap("solve")
    placed = _tables(day, start)
    lap("tables")

    upper_bound = min(detail.values())
    scheduled = len(placed)
    if scheduled > upper_bound:
        raise SchedulerError(f"{scheduled} meetings placed, above the bound {upper_bound}.")
    proven = solver_status == "OPTIMAL" or (scheduled == upper_bound and not day.hinted)
    kept = sum(1 for mid, place in day.hinted.items() if placed.get(mid) == place)
    dropped = sum(1 for mid in day.hinted if mid not in placed)
    return Schedule(
        placed=placed,
        scheduled=scheduled,
        upper_bound=upper_bound,
        bound_detail=detail,
        status=OPTIMAL if proven else FEASIBLE,
        solver_status=solver_status,
        kept=kept,
        moved=len(day.hinted) - kept - dropped,
        dropped=dropped,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


def _slots(
    day: _Day,
    start: dict[int, int],
    *,
    ceiling: int,
    deadline: float,
    workers: int,
    seed: int,
) -> tuple[dict[int, int], str, int | None]:
    """The full model (see the module docstring), started from `start`: free meeting
    id → slot, CP-SAT's status word, and its proven bound on the count (pinned
    included; None when it proved nothing)."""
    model = cp_model.CpModel()
    var: dict[tuple[int, int], cp_model.IntVar] = {}
    per_meeting: dict[int, list] = defaultdict(list)
    per_person_slot: dict[tuple[int, int], list] = defaultdict(list)
    per_person: dict[int, list] = defaultdict(list)
    per_slot: dict[int, list] = defaultdict(list)
    for m in day.free:
        for s in day.common.get(m.id, ()):
            x = model.new_bool_var(f"x{m.id}_{s}")
            var[m.id, s] = x
            per_meeting[m.id].append(x)
            per_person_slot[m.a, s].append(x)
            per_person_slot[m.b, s].append(x)
            per_person[m.a].append(x)
            per_person[m.b].append(x)
            per_slot[s].append(x)
    for xs in per_meeting.values():
        if len(xs) > 1:
            model.add_at_most_one(xs)
    for xs in per_person_slot.values():
        if len(xs) > 1:
            model.add_at_most_one(xs)
    for p, xs in per_person.items():
        if len(xs) > day.wants[p]:
            model.add(sum(xs) <= day.wants[p])
    for s, xs in per_slot.items():
        if len(xs) > day.room[s]:
            model.add(sum(xs) <= day.room[s])
    count = sum(var.values())
    # Redundant (every schedule meets it), but it lets CP-SAT prove optimality at once.
    model.add(count <= ceiling - len(day.pinned))
    stays = [var[mid, p.slot] for mid, p in day.hinted.items() if (mid, p.slot) in var]
    weight = len(day.hinted) + 1
    model.maximize(weight * count + sum(stays))
    for (mid, s), x in var.items():
        model.add_hint(x, start.get(mid) == s)

    solver = _solver(time_limit=deadline - time.perf_counter(), workers=workers, seed=seed)
    solver.parameters.cp_model_presolve = PRESOLVE
    status = solver.solve(model)
    if status in (cp_model.MODEL_INVALID, cp_model.INFEASIBLE):
        raise SchedulerError(f"CP-SAT answered {solver.status_name(status)}.")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return start, "FIRST_FIT", None
    # The objective bound is on (H + 1)·count + stays, with 0 ≤ stays ≤ H. Without
    # presolve it may not have folded in the ceiling given as a constraint: capped by it.
    bound = min(ceiling, len(day.pinned) + int(solver.best_objective_bound + 1e-6) // weight)
    values = solver.response_proto.solution
    found = {mid: s for (mid, s), x in var.items() if values[x.index]}
    if _objective(found, day.hinted) < _objective(start, day.hinted):
        return start, "FIRST_FIT", bound
    return found, solver.status_name(status), bound


def greedy_schedule(
    *,
    tables: Sequence[Sequence[int]],
    people: Mapping[int, Person],
    meetings: Sequence[Request],
    pinned: Mapping[int, Place] | None = None,
) -> dict[int, Place]:
    """BASELINE ONLY (the benchmark's and the tests' yardstick; the product never uses
    it): first fit in request order — each meeting takes the first slot where both sides
    are free, both still want a meeting and a table is left. Pinned meetings stay."""
    day = _check(tables, people, meetings, pinned, None)
    return _tables(day, _first_fit(day, day.free))
