"""The solver against brute force and the LP optimum on small random instances."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from bench.matching import synthetic
from matchmaking import solver
from matchmaking.solver import assign

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Matrix:
    """A tiny PairScores over a fixed matrix (−1 = forbidden), int32 unless `dtype` says."""

    def __init__(self, matrix, max_score: int = 100, dtype=np.int32):
        self.matrix = np.asarray(matrix, dtype=dtype)
        self.n_mentees, self.n_mentors = self.matrix.shape
        self.max_score = max_score

    def block(self, start: int, stop: int) -> np.ndarray:
        return self.matrix[start:stop].copy()


@st.composite
def instances(draw, max_mentees=6, max_mentors=3):
    # Scores beyond int8 take the solver's int16 path, beyond int16 its int32 path.
    max_score = draw(st.sampled_from([20, 126, 127, 300, 40_000]))
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
    with pytest.raises(ValueError, match="Mentor 0 has more locked pairs than their capacity"):
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


# --- input the solver cannot read exactly is refused, naming what is wrong -------------


@st.composite
def bad_instances(draw):
    """A valid instance with one bad score planted: (scores, capacities, (mentee, mentor))."""
    scores, capacities = draw(instances())
    n, m = scores.matrix.shape
    i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, m - 1))
    top = scores.max_score
    bad = draw(
        st.one_of(
            # not a whole number: positive or negative fractions, in and out of range
            st.floats(-2 * top, 2 * top, allow_nan=False).filter(lambda x: x != int(x)),
            st.floats(-0.99, -0.01),  # "a negative fraction" once truncated to 0
            st.integers(top + 1, top + 1_000),  # above the maximum (wraps in int8 storage)
            st.integers(-1_000, -2),  # negative, and not the −1 of a forbidden pair
            st.sampled_from([float("nan"), float("inf"), float("-inf")]),
        )
    )
    matrix = scores.matrix.astype(np.float64)
    matrix[i, j] = bad
    whole = isinstance(bad, int)
    return Matrix(matrix, top, dtype=np.int64 if whole else np.float64), capacities, (i, j)


def first_bad_pair(matrix: np.ndarray, max_score: int) -> tuple[int, int]:
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(matrix) & (matrix == np.floor(matrix))
        ok &= (matrix >= -1) & (matrix <= max_score)
    i, j = np.argwhere(~ok)[0]
    return int(i), int(j)


@SETTINGS
@given(bad_instances(), st.booleans())
def test_a_bad_score_is_refused_naming_its_pair(instance, prune):
    scores, capacities, planted = instance
    assert first_bad_pair(scores.matrix, scores.max_score) == planted
    i, j = planted
    with pytest.raises(ValueError, match=rf"^The score of mentee {i} and mentor {j} is "):
        assign(scores=scores, capacities=capacities, prune=prune)


@SETTINGS
@given(bad_instances(), st.data())
def test_a_bad_score_of_a_locked_pair_is_refused_too(instance, data):
    scores, capacities, (i, j) = instance
    capacities = np.maximum(capacities, 1)
    with pytest.raises(ValueError, match=rf"^The score of mentee {i} and mentor {j} is "):
        assign(scores=scores, capacities=capacities, locked={i: j})


def test_the_three_misreadings_of_the_report_are_refused():
    capacities = np.array([1, 1])
    # Truncated to 2; wrapped to −56 (forbidden) in int8 storage; truncated to 0.
    for score, words in ((2.5, "not a whole number"), (200, "above the maximum score of 100"),
                         (-0.5, "not a whole number")):  # fmt: skip
        dtype = np.int32 if isinstance(score, int) else np.float64
        scores = Matrix([[10, 3], [score, 4]], 100, dtype=dtype)
        with pytest.raises(ValueError, match=f"mentee 1 and mentor 0 is {score}, .*{words}"):
            assign(scores=scores, capacities=capacities)


@SETTINGS
@given(instances(), st.sampled_from([np.int8, np.int16, np.int64, np.float32, np.float64]))
def test_whole_scores_of_any_numeric_type_give_the_same_certified_result(instance, dtype):
    scores, capacities = instance
    if np.issubdtype(dtype, np.integer) and scores.max_score > np.iinfo(dtype).max:
        return
    expected = assign(scores=scores, capacities=capacities)
    same = assign(scores=Matrix(scores.matrix, scores.max_score, dtype), capacities=capacities)
    assert same.mentor_of.tolist() == expected.mentor_of.tolist()
    assert (same.placed, same.total_score) == brute_force(scores.matrix, capacities)
    assert same.certified and same.gap == 0


@SETTINGS
@given(
    instances(),
    st.one_of(
        st.floats(0.01, 5).filter(lambda x: x != int(x)),
        st.integers(-5, -1),
        st.sampled_from([float("nan"), float("inf")]),
    ),
    st.data(),
)
def test_a_bad_capacity_is_refused_naming_its_mentor(instance, bad, data):
    scores, capacities = instance
    j = data.draw(st.integers(0, len(capacities) - 1))
    capacities = capacities.astype(np.float64)
    capacities[j] = bad
    with pytest.raises(ValueError, match=rf"^The capacity of mentor {j} is "):
        assign(scores=scores, capacities=capacities)


def test_misshapen_input_and_locks_outside_it_are_refused():
    scores = Matrix([[5, 1], [4, 2]])
    with pytest.raises(ValueError, match="One capacity per mentor"):
        assign(scores=scores, capacities=np.array([1, 1, 1]))
    for locked in ({-1: 0}, {2: 0}, {0: 2}, {0: -1}, {0.0: 1}, {True: 1}):
        with pytest.raises(ValueError, match="is not a pair of this input"):
            assign(scores=scores, capacities=np.array([1, 1]), locked=locked)

    class Short(Matrix):
        def block(self, start, stop):
            return self.matrix[start:stop, :1]

    with pytest.raises(ValueError, match=r"block\(0, 2\) has shape \(2, 1\); expected \(2, 2\)"):
        assign(scores=Short([[5, 1], [4, 2]]), capacities=np.array([1, 1]))
    for max_score in (2.5, -3, True):
        with pytest.raises(ValueError, match="max_score must"):
            assign(scores=Matrix([[1]], max_score), capacities=np.array([1]))
    with pytest.raises(ValueError, match="too large"):
        assign(scores=Matrix([[1]], 2**60), capacities=np.array([1]))


@SETTINGS
@given(instances())
def test_a_capacity_beyond_every_mentee_is_read_as_room_for_all(instance):
    scores, capacities = instance
    n = scores.n_mentees
    room_for_all = assign(scores=scores, capacities=np.full(len(capacities), n))
    for huge in (np.full(len(capacities), 1e30), np.full(len(capacities), 2**64 - 1, np.uint64)):
        result = assign(scores=scores, capacities=huge)
        assert result.mentor_of.tolist() == room_for_all.mentor_of.tolist()
        assert result.certified and result.gap == 0
