"""Optimal mentor–mentee assignment, certified by its LP dual. Pure: no Django, no database.

The objective is lexicographic: first the largest number of mentees placed, then the
largest total score. Both are folded into one weight per pair, `w = big + score` with
`big` larger than any possible total score, so one more placed mentee always outweighs
any gain in score.

The assignment is a min-cost flow solved by OR-Tools (source → mentee → mentor → sink,
mentor capacities on the last arcs, and a bypass arc that carries the mentees left
unplaced). On large inputs the flow runs on a pruned candidate set (each mentee's best
mentors and each mentor's best mentees); the result is then checked against *every*
allowed pair through the LP dual of the b-matching:

    max Σ w_ij x_ij   s.t.  Σ_j x_ij ≤ 1,  Σ_i x_ij ≤ c_j,  x ≥ 0
    min Σ u_i + Σ c_j v_j   s.t.  u_i + v_j ≥ w_ij,  u, v ≥ 0

The mentor prices `v` come from node potentials of the residual graph (shortest paths,
scipy's Bellman-Ford); each mentee's `u_i` is then the best `w_ij − v_j` over all of
their allowed pairs. Any such (u, v) bounds the optimum from above, so when the bound
equals the value of the assignment the assignment is optimal over the full set — the
certificate does not depend on how `v` was found. When a pruned run falls short, the
pairs that break the dual constraints join the candidates and the flow runs again.
The constraint matrix is totally unimodular, so the LP optimum is an integer assignment
and a zero gap is a proof.

Same input → same output: arcs are added in index order and OR-Tools is deterministic.
"""

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from ortools.graph.python import min_cost_flow

# Below this many mentee × mentor pairs every allowed pair is an arc: no pruning.
FULL_GRAPH_PAIRS = 1_000_000
# Pruned runs: candidate mentors per mentee, candidate mentees per mentor.
MENTORS_PER_MENTEE = 32
MENTEES_PER_MENTOR = 12
# Rows of the score matrix built at a time (bounds memory on large programmes).
BLOCK_ROWS = 256
# Pruned runs add violating pairs and solve again at most this often, then use every pair.
MAX_ROUNDS = 20
# Per mentee, at most this many violating pairs join the candidates in one round.
VIOLATIONS_PER_MENTEE = 16


class PairScores(Protocol):
    """The scores of every mentee × mentor pair, built a block of mentees at a time.

    `block(start, stop)` returns an int32 array of shape (stop − start, n_mentors):
    the score (0 … max_score) of each allowed pair, −1 where a hard rule forbids it.
    `assign` checks every block: a score that is not a whole number, is above
    `max_score` or below −1 is a `ValueError` naming the pair, never silently misread.
    """

    n_mentees: int
    n_mentors: int
    max_score: int

    def block(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Assignment:
    """The result: `mentor_of[i]` is mentee i's mentor index, or −1 when unplaced."""

    mentor_of: np.ndarray
    placed: int
    total_score: int
    # The LP dual bound and the assignment's value, in the combined weight (big + score).
    value: int
    dual_bound: int
    certified: bool
    pruned: bool
    candidate_pairs: int
    allowed_pairs: int
    rounds: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> int:
        return self.dual_bound - self.value


class SolverError(Exception):
    """The flow or its certificate failed: a bug, never a problem of the input (that is a
    `ValueError`)."""


def _blocks(n: int):
    for start in range(0, n, BLOCK_ROWS):
        yield start, min(start + BLOCK_ROWS, n)


def _pair_keys(rows: np.ndarray, cols: np.ndarray, n_mentors: int) -> np.ndarray:
    return rows.astype(np.int64) * n_mentors + cols.astype(np.int64)


# The objective and its dual are summed in float64: past this they are no longer exact.
EXACT_LIMIT = 2**50


def _whole(value, what: str) -> int:
    """A whole number ≥ 0 given as an int (numpy's too), never a bool or a float."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what} must be a whole number, not {value!r}.")
    if value < 0:
        raise ValueError(f"{what} must not be negative, not {value}.")
    return int(value)


def _pair_error(block: np.ndarray, bad: np.ndarray, start: int, max_score: int) -> ValueError:
    """The error for the first bad score of a block, naming its pair."""
    row, col = (int(x[0]) for x in np.nonzero(bad))
    value = block[row, col].item()
    pair = f"The score of mentee {start + row} and mentor {col} is {value}"
    if isinstance(value, float) and not np.isfinite(value):
        return ValueError(f"{pair}, which is not a number.")
    if isinstance(value, float) and not value.is_integer():
        return ValueError(f"{pair}, which is not a whole number.")
    if value > max_score:
        return ValueError(f"{pair}, above the maximum score of {max_score}.")
    return ValueError(f"{pair}: only -1 (a forbidden pair) may be below 0.")


def _checked_block(scores: PairScores, start: int, stop: int) -> np.ndarray:
    """`scores.block(start, stop)`, refused unless every score is −1 or a whole number in
    0 … max_score. Cheap on the usual integer block: one min and one max."""
    block = np.asarray(scores.block(start, stop))
    expected = (stop - start, scores.n_mentors)
    if block.shape != expected:
        raise ValueError(
            f"block({start}, {stop}) has shape {block.shape}; expected {expected} "
            "(mentees × mentors)."
        )
    if block.size == 0:
        return block
    if np.issubdtype(block.dtype, np.integer):
        if block.min() < -1 or block.max() > scores.max_score:
            bad = (block < -1) | (block > scores.max_score)
            raise _pair_error(block, bad, start, scores.max_score)
        return block
    if not np.issubdtype(block.dtype, np.floating):
        raise ValueError(
            f"block({start}, {stop}) holds {block.dtype} values; scores are whole numbers."
        )
    # Floats are read only when each is a whole number in range (2.0, never 2.5).
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(block) & (block == np.floor(block)))
        bad |= (block < -1) | (block > scores.max_score)
    if bad.any():
        raise _pair_error(block, bad, start, scores.max_score)
    return block.astype(np.int64)


def _capacities(capacities, n: int, m: int) -> np.ndarray:
    """One whole, non-negative capacity per mentor, as int64 (above n it is n: the same)."""
    given = np.asarray(capacities)
    if given.shape != (m,):
        raise ValueError(f"One capacity per mentor is needed: {m}, not shape {given.shape}.")
    if not (np.issubdtype(given.dtype, np.integer) or np.issubdtype(given.dtype, np.floating)):
        raise ValueError(f"Capacities are whole numbers, not {given.dtype} values.")
    bad = given < 0
    if np.issubdtype(given.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            bad |= ~np.isfinite(given) | (given != np.floor(given))
    if bad.any():
        mentor = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"The capacity of mentor {mentor} is {given[mentor].item()}; capacities are "
            "whole numbers, 0 or more."
        )
    return np.minimum(given, n).astype(np.int64)


def _locks(locked: dict[int, int] | None, n: int, m: int) -> dict[int, int]:
    """The locked pairs, each a mentee index below n and a mentor index below m."""
    checked: dict[int, int] = {}
    for mentee, mentor in (locked or {}).items():
        if not (
            isinstance(mentee, int | np.integer)
            and isinstance(mentor, int | np.integer)
            and not isinstance(mentee, bool | np.bool_)
            and not isinstance(mentor, bool | np.bool_)
            and 0 <= mentee < n
            and 0 <= mentor < m
        ):
            raise ValueError(
                f"The locked pair mentee {mentee!r} and mentor {mentor!r} is not a pair of "
                f"this input ({n} mentees, {m} mentors)."
            )
        checked[int(mentee)] = int(mentor)
    return checked


def _score_matrix(scores: PairScores, active: np.ndarray) -> np.ndarray:
    """Every pair's score in one compact matrix (int8 while scores fit: 25 MB for
    10,000 × 2,500), −1 for forbidden pairs and for mentees not in the run."""
    types = (np.int8, np.int16, np.int32, np.int64)
    dtype = next(t for t in types if scores.max_score < np.iinfo(t).max)
    matrix = np.empty((scores.n_mentees, scores.n_mentors), dtype=dtype)
    for start, stop in _blocks(scores.n_mentees):
        matrix[start:stop] = _checked_block(scores, start, stop)
    matrix[~active] = -1
    return matrix


def _candidates(matrix: np.ndarray, prune: bool) -> np.ndarray:
    """Candidate pairs as sorted keys (mentee · n_mentors + mentor).

    Without pruning every allowed pair; with pruning each mentee's best mentors and each
    mentor's best mentees.
    """
    n, m = matrix.shape
    if not prune:
        return np.flatnonzero(matrix.ravel() >= 0)
    keys = []
    k = min(MENTORS_PER_MENTEE, m)
    # Negated in a type that holds −score (scores are ≥ −1, so int16 does for int8 too).
    wide = np.int16 if matrix.dtype.itemsize <= 2 else matrix.dtype
    for start, stop in _blocks(n):
        block = matrix[start:stop]
        cols = np.argpartition(-block.astype(wide), k - 1, axis=1)[:, :k]
        rows = np.broadcast_to(np.arange(start, stop)[:, None], cols.shape)
        keep = np.take_along_axis(block, cols, axis=1) >= 0
        keys.append(_pair_keys(rows[keep], cols[keep], m))
    k = min(MENTEES_PER_MENTOR, n)
    by_mentor = np.ascontiguousarray(matrix.T)
    for start, stop in _blocks(m):
        block = by_mentor[start:stop]
        rows = np.argpartition(-block.astype(wide), k - 1, axis=1)[:, :k]
        cols = np.broadcast_to(np.arange(start, stop)[:, None], rows.shape)
        keep = np.take_along_axis(block, rows, axis=1) >= 0
        keys.append(_pair_keys(rows[keep], cols[keep], m))
    return np.unique(np.concatenate(keys))


@dataclass
class _Flow:
    chosen: np.ndarray  # bool per candidate pair
    mentor_load: np.ndarray
    placed_mask: np.ndarray


def _solve_flow(
    *, keys: np.ndarray, weights: np.ndarray, n: int, m: int, capacity: np.ndarray, top: int
) -> _Flow:
    source, sink = 0, n + m + 1
    mentees = np.arange(n)
    mentors = np.arange(m)
    heads_tails = [
        (np.zeros(n, dtype=np.int64), mentees + 1, np.ones(n, dtype=np.int64), np.zeros(n)),
        (keys // m + 1, keys % m + n + 1, np.ones(len(keys), dtype=np.int64), top - weights),
        (mentors + n + 1, np.full(m, sink), capacity.astype(np.int64), np.zeros(m)),
        # The bypass never fills up (n + 1), so the sink stays reachable from the source.
        (np.array([source]), np.array([sink]), np.array([n + 1]), np.array([top])),
    ]
    tails = np.concatenate([h[0] for h in heads_tails]).astype(np.int32)
    heads = np.concatenate([h[1] for h in heads_tails]).astype(np.int32)
    caps = np.concatenate([h[2] for h in heads_tails]).astype(np.int64)
    costs = np.concatenate([h[3] for h in heads_tails]).astype(np.int64)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(n + m + 2, dtype=np.int64)
    supplies[source], supplies[sink] = n, -n
    flow.set_nodes_supplies(np.arange(n + m + 2, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SolverError(f"min-cost flow ended with status {status}")
    flows = flow.flows(np.arange(flow.num_arcs(), dtype=np.int32))
    pair_flows = flows[n : n + len(keys)]
    chosen = pair_flows > 0
    load = np.bincount((keys % m)[chosen], minlength=m)
    placed = np.zeros(n, dtype=bool)
    placed[(keys // m)[chosen]] = True
    return _Flow(chosen=chosen, mentor_load=load, placed_mask=placed)


def _mentor_prices(
    *, keys: np.ndarray, weights: np.ndarray, flow: _Flow, n: int, m: int,
    capacity: np.ndarray, top: int, active: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Dual prices v_j ≥ 0 of the mentors, from shortest-path potentials of the residual
    graph of an optimal flow (no negative cycle exists there, so they are well defined)."""
    source, sink = 0, n + m + 1
    mentees = np.flatnonzero(active) + 1
    placed = flow.placed_mask[mentees - 1]
    mentor_nodes = np.arange(m) + n + 1
    pair_tail, pair_head = keys // m + 1, keys % m + n + 1
    pair_cost = top - weights
    bypass = n - int(flow.placed_mask.sum())
    not_full, loaded = flow.mentor_load < capacity, flow.mentor_load > 0
    used = flow.chosen
    parts = [
        # source → mentee while unplaced; mentee → source once placed.
        (np.where(placed, mentees, source), np.where(placed, source, mentees),
         np.zeros(len(mentees))),
        # mentee → mentor while unused; mentor → mentee (negative cost) once used.
        (np.where(used, pair_head, pair_tail), np.where(used, pair_tail, pair_head),
         np.where(used, -pair_cost, pair_cost)),
        # mentor → sink while below capacity; sink → mentor once it carries flow.
        (mentor_nodes[not_full], np.full(int(not_full.sum()), sink), np.zeros(int(not_full.sum()))),
        (np.full(int(loaded.sum()), sink), mentor_nodes[loaded], np.zeros(int(loaded.sum()))),
        # The bypass: always forward (it never fills up); backward while it carries flow.
        (np.array([source] + [sink] * (bypass > 0)), np.array([sink] + [source] * (bypass > 0)),
         np.array([top] + [-top] * (bypass > 0))),
    ]  # fmt: skip
    tails = np.concatenate([p[0] for p in parts]).astype(np.int64)
    heads = np.concatenate([p[1] for p in parts]).astype(np.int64)
    costs = np.concatenate([p[2] for p in parts]).astype(np.float64)
    # Distances from the source: d(sink) is then exactly the bypass cost (a cheaper path
    # would be an augmenting path the optimal flow missed), which makes these potentials
    # the optimal LP duals, v_j = d(sink) − d(j); mentors the source cannot reach get 0.
    distance = _potentials(tails=tails, heads=heads, costs=costs, nodes=n + m + 2, root=source)
    prices = distance[sink] - distance[mentor_nodes]
    return np.where(np.isfinite(prices) & (prices > 0), prices, 0.0)


def _potentials(
    *, tails: np.ndarray, heads: np.ndarray, costs: np.ndarray, nodes: int, root: int
) -> np.ndarray:
    """Shortest distances from `root` (Bellman-Ford, all arcs relaxed at once per round).

    scipy's Bellman-Ford always runs |V| rounds; this one stops when a round changes
    nothing, which on a residual graph of an assignment takes a few dozen rounds.
    """
    order = np.argsort(heads, kind="stable")
    tails, heads, costs = tails[order], heads[order], costs[order]
    starts = np.flatnonzero(np.r_[True, heads[1:] != heads[:-1]])
    targets = heads[starts]
    distance = np.full(nodes, np.inf)
    distance[root] = 0.0
    for _ in range(nodes):
        best = np.minimum.reduceat(distance[tails] + costs, starts)
        improved = best < distance[targets]
        if not improved.any():
            return distance
        distance[targets[improved]] = best[improved]
    # (a round that improves something every time for |V| rounds means a negative cycle)
    raise SolverError("negative cycle in the residual graph: the flow was not optimal")


def _dual_check(
    *, matrix: np.ndarray, big: int, prices: np.ndarray, u_candidates: np.ndarray, collect: bool
) -> tuple[float, np.ndarray]:
    """Σ u_i over every allowed pair, and (when `collect`) the pairs that break the duals."""
    n, m = matrix.shape
    total_u = 0.0
    violations: list[np.ndarray] = []
    shifted = prices - big  # w_ij − v_j = score_ij − (v_j − big)
    for start, stop in _blocks(n):
        block = matrix[start:stop]
        reduced = np.where(block >= 0, block - shifted[None, :], -np.inf)
        u = np.maximum(0.0, reduced.max(axis=1, initial=0.0))
        total_u += float(u.sum())
        if collect:
            slack = reduced - u_candidates[start:stop, None]
            bad_rows = np.flatnonzero((slack > 0.5).any(axis=1))
            if len(bad_rows):
                sub = slack[bad_rows]
                k = min(VIOLATIONS_PER_MENTEE, m)
                cols = np.argpartition(-sub, k - 1, axis=1)[:, :k]
                rows = np.broadcast_to(bad_rows[:, None], cols.shape)
                keep = np.take_along_axis(sub, cols, axis=1) > 0.5
                violations.append(_pair_keys(rows[keep] + start, cols[keep], m))
    keys = np.concatenate(violations) if violations else np.empty(0, dtype=np.int64)
    return total_u, keys


def assign(
    *,
    scores: PairScores,
    capacities: np.ndarray,
    locked: dict[int, int] | None = None,
    prune: bool | None = None,
) -> Assignment:
    """The optimal assignment of mentees to mentors, with its certificate.

    `capacities[j]`: how many mentees mentor j takes. `locked`: mentee → mentor pairs the
    organiser fixed; they are kept as they are and use up their mentor's capacity.
    `prune`: None decides by size; True/False force it (tests use both).

    Input it cannot read exactly (a score that is not a whole number in −1 … max_score, a
    capacity that is not a whole number ≥ 0, a lock outside the input or beyond its
    mentor's capacity) is a `ValueError` naming the pair, mentor or lock.
    """
    began = time.perf_counter()
    timings: dict[str, float] = {}
    n = _whole(scores.n_mentees, "n_mentees")
    m = _whole(scores.n_mentors, "n_mentors")
    max_score = _whole(scores.max_score, "max_score")
    capacity = _capacities(capacities, n, m)
    locked = _locks(locked, n, m)
    for mentor in locked.values():
        capacity[mentor] -= 1
    if (capacity < 0).any():
        mentor = int(np.flatnonzero(capacity < 0)[0])
        raise ValueError(
            f"Mentor {mentor} has more locked pairs than their capacity of "
            f"{capacity[mentor] + sum(j == mentor for j in locked.values())}."
        )
    active = np.ones(n, dtype=bool)
    active[list(locked)] = False
    big = n * max_score + 1
    top = big + max_score
    if 2 * (n + 1) * top >= EXACT_LIMIT:
        raise ValueError(
            f"max_score {max_score} is too large for {n} mentees: the certificate would "
            "no longer be exact."
        )
    if prune is None:
        prune = n * m > FULL_GRAPH_PAIRS

    matrix = _score_matrix(scores, active)
    timings["scores"] = time.perf_counter() - began
    flat = matrix.ravel()
    allowed = int(np.count_nonzero(flat >= 0))
    keys = _candidates(matrix, prune)
    raw = flat[keys].astype(np.int64)
    timings["candidates"] = time.perf_counter() - began - timings["scores"]
    rounds = 0
    while True:
        rounds += 1
        weights = big + raw
        tick = time.perf_counter()
        flow = _solve_flow(keys=keys, weights=weights, n=n, m=m, capacity=capacity, top=top)
        timings["flow"] = timings.get("flow", 0.0) + time.perf_counter() - tick
        value = int(weights[flow.chosen].sum())
        tick = time.perf_counter()
        prices = _mentor_prices(
            keys=keys, weights=weights, flow=flow, n=n, m=m, capacity=capacity, top=top,
            active=active,
        )  # fmt: skip
        # Each mentee's u over the candidate pairs only: pairs beyond it are violations.
        u_cand = np.zeros(n)
        np.maximum.at(u_cand, keys // m, weights - prices[keys % m])
        timings["prices"] = timings.get("prices", 0.0) + time.perf_counter() - tick
        tick = time.perf_counter()
        total_u, violating = _dual_check(
            matrix=matrix, big=big, prices=prices, u_candidates=u_cand,
            collect=prune and rounds < MAX_ROUNDS,
        )  # fmt: skip
        timings["certificate"] = timings.get("certificate", 0.0) + time.perf_counter() - tick
        bound = round(total_u + float((capacity * prices).sum()))
        if bound <= value or not prune:
            break
        new = np.setdiff1d(violating, keys, assume_unique=False)
        if rounds >= MAX_ROUNDS or not len(new):
            # Give up pruning: every allowed pair becomes an arc.
            prune = False
            keys = _candidates(matrix, prune=False)
            raw = flat[keys].astype(np.int64)
            continue
        keys = np.union1d(keys, new)
        raw = flat[keys].astype(np.int64)

    mentor_of = np.full(n, -1, dtype=np.int64)
    mentor_of[keys[flow.chosen] // m] = keys[flow.chosen] % m
    locked_score = 0
    for mentee, mentor in sorted(locked.items()):
        mentor_of[mentee] = mentor
        locked_score += max(0, int(_checked_block(scores, mentee, mentee + 1)[0, mentor]))
    chosen_scores = raw[flow.chosen]
    placed = int((mentor_of >= 0).sum())
    return Assignment(
        mentor_of=mentor_of,
        placed=placed,
        total_score=int(chosen_scores.sum()) + locked_score,
        value=value,
        dual_bound=max(bound, value),
        certified=bound <= value,
        pruned=prune,
        candidate_pairs=len(keys),
        allowed_pairs=allowed,
        rounds=rounds,
        seconds=time.perf_counter() - began,
        timings=timings,
    )
