"""The solver against brute force and the LP optimum on small random instances."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from bench.matching import synthetic
from matchmaking import solver
from matchmaking.solver import SolverError, assign

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Matrix:
    """A tiny PairScores over a fixed matrix (−1 = forbidden)."""

    def __init__(self, matrix, max_score: int = 100):
        self.matrix = np.asarray(matrix, dtype=np.int32)
        self.n_mentees, self.n_mentors = self.matrix.shape
        self.max_score = max_score

    def block(self, start: int, stop: int) -> np.ndarray:
        return self.matrix[start:stop].copy()


@st.composite
def instances(draw, max_mentees=6, max_mentors=3):
    # Scores beyond int8 take the solver's int16 path.
    max_score = draw(st.sampled_from([20, 300]))
    n = draw(st.integers(1, max_mentees))
    m = draw(st.integers(1, max_mentors))
    cells = draw(st.lists(st.integers(-1, max_score), min_size=n * m, max_size=n * m))
    capacities = draw(st.lists(st.integers(0, 3), min_size=m, max_size=m))
    return Matrix(np.array(cells).reshape(n, m), max_score), np.array(capacities)


def brute_force(matrix: np.ndarray, capacities: np.ndarray) -> tuple[int, int]:
    """The best (placed, score) over every assignment."""
    n, m = matrix.shape
    best = (0, 0)
    options = [[-1] + [j for j in range(m) if matrix[i, j] >= 0] for i in range(n)]
    for choice in itertools.product(*options):
        load = np.bincount([j for j in choice if j >= 0], minlength=m)
        if (load > capacities).any():
            continue
        placed = sum(j >= 0 for j in choice)
        score = sum(int(matrix[i, j]) for i, j in enumerate(choice) if j >= 0)
        best = max(best, (placed, score))
    return best


def lp_optimum(matrix: np.ndarray, capacities: np.ndarray, big: int) -> float:
    """max Σ (big + s_ij) x_ij over the b-matching polytope, by HiGHS."""
    n, m = matrix.shape
    pairs = [(i, j) for i in range(n) for j in range(m) if matrix[i, j] >= 0]
    if not pairs:
        return 0.0
    c = np.array([-(big + int(matrix[i, j])) for i, j in pairs], dtype=float)
    rows = np.zeros((n + m, len(pairs)))
    for k, (i, j) in enumerate(pairs):
        rows[i, k] = 1
        rows[n + j, k] = 1
    bounds = np.concatenate([np.ones(n), capacities]).astype(float)
    result = linprog(c, A_ub=rows, b_ub=bounds, bounds=(0, None), method="highs")
    assert result.status == 0
    return -result.fun


def check_feasible(result, matrix: np.ndarray, capacities: np.ndarray) -> None:
    mentor_of = result.mentor_of
    load = np.bincount(mentor_of[mentor_of >= 0], minlength=matrix.shape[1])
    assert (load <= capacities).all()
    for i, j in enumerate(mentor_of.tolist()):
        if j >= 0:
            assert matrix[i, j] >= 0, f"forbidden pair ({i}, {j}) used"
    assert result.placed == int((mentor_of >= 0).sum())
    assert result.total_score == sum(
        int(matrix[i, j]) for i, j in enumerate(mentor_of.tolist()) if j >= 0
    )


@SETTINGS
@given(instances())
def test_assignment_is_feasible_optimal_and_certified(instance):
    scores, capacities = instance
    result = assign(scores=scores, capacities=capacities, prune=False)
    check_feasible(result, scores.matrix, capacities)
    assert (result.placed, result.total_score) == brute_force(scores.matrix, capacities)
    big = scores.n_mentees * scores.max_score + 1
    assert result.value == result.placed * big + result.total_score
    assert result.value == pytest.approx(lp_optimum(scores.matrix, capacities, big), abs=1e-6)
    assert result.certified
    assert result.gap == 0


@SETTINGS
@given(instances())
def test_pruned_and_unpruned_agree(instance):
    scores, capacities = instance
    full = assign(scores=scores, capacities=capacities, prune=False)
    with pytest.MonkeyPatch.context() as patch:
        # Tiny candidate lists, so pruned runs on small instances really prune.
        patch.setattr(solver, "MENTORS_PER_MENTEE", 1)
        patch.setattr(solver, "MENTEES_PER_MENTOR", 1)
        patch.setattr(solver, "VIOLATIONS_PER_MENTEE", 1)
        pruned = assign(scores=scores, capacities=capacities, prune=True)
    check_feasible(pruned, scores.matrix, capacities)
    assert (pruned.placed, pruned.total_score) == (full.placed, full.total_score)
    assert pruned.certified and pruned.gap == 0


@SETTINGS
@given(instances(max_mentees=8, max_mentors=4))
def test_same_input_same_output(instance):
    scores, capacities = instance
    first = assign(scores=scores, capacities=capacities)
    second = assign(scores=scores, capacities=capacities)
    assert first.mentor_of.tolist() == second.mentor_of.tolist()


@SETTINGS
@given(instances(), st.data())
def test_locked_pairs_are_kept_and_use_capacity(instance, data):
    scores, capacities = instance
    matrix = scores.matrix
    n, m = matrix.shape
    # Lock some allowed pairs within capacity.
    room = capacities.copy()
    locked = {}
    for i in range(n):
        allowed = [j for j in range(m) if matrix[i, j] >= 0 and room[j] > 0]
        if allowed and data.draw(st.booleans()):
            j = data.draw(st.sampled_from(allowed))
            locked[i] = j
            room[j] -= 1
    # The rest is the best assignment of the others into the room left.
    others = [i for i in range(n) if i not in locked]
    rest = brute_force(matrix[others], room) if others else (0, 0)
    locked_score = sum(int(matrix[i, j]) for i, j in locked.items())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solver, "MENTORS_PER_MENTEE", 1)
        patch.setattr(solver, "MENTEES_PER_MENTOR", 1)
        for prune in (False, True):
            result = assign(scores=scores, capacities=capacities, locked=locked, prune=prune)
            check_feasible(result, matrix, capacities)
            for i, j in locked.items():
                assert result.mentor_of[i] == j
            assert (result.placed, result.total_score) == (
                len(locked) + rest[0],
                locked_score + rest[1],
            )
            assert result.certified and result.gap == 0


def test_locks_beyond_capacity_are_refused():
    scores = Matrix([[5, 1], [4, 2]])
    with pytest.raises(SolverError):
        assign(scores=scores, capacities=np.array([1, 1]), locked={0: 0, 1: 0})


def test_one_more_placed_outweighs_any_score():
    # Mentee 0 fits mentor 0 perfectly, but only mentor 0 can take mentee 1 at all.
    scores = Matrix([[100, 0], [1, -1]])
    result = assign(scores=scores, capacities=np.array([1, 1]), prune=False)
    assert result.mentor_of.tolist() == [1, 0]
    assert result.placed == 2


def test_large_structured_instance_pruned_equals_full():
    scores = synthetic(3_000, 600, seed=7)
    capacities = np.full(600, 4)
    pruned = assign(scores=scores, capacities=capacities, prune=True)
    full = assign(scores=scores, capacities=capacities, prune=False)
    # Column generation ran: more than one round, still on a pruned candidate set.
    assert pruned.pruned and pruned.rounds > 1
    assert pruned.candidate_pairs < pruned.allowed_pairs
    assert pruned.certified and pruned.gap == 0
    assert full.certified and full.gap == 0
    assert (pruned.placed, pruned.total_score) == (full.placed, full.total_score)
    matrix = np.vstack([scores.block(s, min(s + 512, 3_000)) for s in range(0, 3_000, 512)])
    check_feasible(pruned, matrix, capacities)
