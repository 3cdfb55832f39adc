"""Pair scores, hard rules and the words that explain them."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matchmaking.explanations import render, render_all
from matchmaking.scoring import EITHER, IN_PERSON, ONLINE, People, Scorer, Vocabulary, Weights

TOPICS = [f"Topic{i}" for i in range(10)]
LANGUAGES = ["English", "German", "French", "Italian", "Spanish", "Dutch"]


def bits(indices, words: int = 1) -> np.ndarray:
    out = np.zeros(words, dtype=np.uint64)
    for index in indices:
        out[index // 64] |= np.uint64(1) << np.uint64(index % 64)
    return out


def people(rows: list[dict], *, mentors: bool) -> People:
    """People from dicts; defaults give an online English speaker of no organisation."""
    n = len(rows)

    def col(name, default, dtype):
        return np.array([row.get(name, default) for row in rows], dtype=dtype)

    def sets(name, default=()):
        return np.array([bits(row.get(name, default)) for row in rows]).reshape(n, 1)

    return People(
        names=[
            row.get("name", f"{'Mentor' if mentors else 'Mentee'} {k}")
            for k, row in enumerate(rows)
        ],  # fmt: skip
        topics=sets("topics"),
        languages=sets("languages", (0,)),
        sectors=sets("sectors"),
        organisation=col("organisation", -1, np.int64),
        kind=col("kind", -1, np.int64),
        seniority=col("seniority", 3 if mentors else 1, np.int8),
        meeting_format=col("meeting_format", ONLINE, np.int8),
        country=col("country", -1, np.int64),
        utc_offset=col("utc_offset", 1.0, np.float32),
        wanted_kinds=col("wanted_kinds", 0, np.uint64),
        wanted_sectors=sets("wanted_sectors"),
        wanted_gender=col("wanted_gender", -1, np.int8),
        gender=col("gender", -1, np.int8),
    )


def explained(pair: tuple[list, list]) -> tuple[list[str], list[str]]:
    """A pair's (reasons, rules) in words."""
    reasons, rules = pair
    return render_all(reasons), render_all(rules)


def scorer(mentees, mentors, weights=None, excluded=None) -> Scorer:
    return Scorer(
        mentees=people(mentees, mentors=False),
        mentors=people(mentors, mentors=True),
        weights=weights or Weights(),
        vocabulary=Vocabulary(
            topics=TOPICS,
            languages=LANGUAGES,
            sectors=["Energy", "Health"],
            kinds=["company", "university"],
            countries=["Austria", "France"],
        ),  # fmt: skip
        excluded=excluded or {},
    )


def test_hard_rules_forbid_pairs():
    s = scorer(
        [{"topics": [0], "languages": [0], "organisation": 7}],
        [
            {"topics": [0], "languages": [1]},  # no shared language
            {"topics": [0], "languages": [0], "organisation": 7},  # same organisation
            {"topics": [0], "languages": [0]},  # excluded below
            {"topics": [0], "languages": [0, 1], "organisation": 8},  # fine
        ],
        excluded={0: np.array([2])},
    )
    assert s.block(0, 1)[0].tolist()[:3] == [-1, -1, -1]
    assert s.block(0, 1)[0, 3] >= 0


def test_no_organisation_on_either_side_is_not_the_same_organisation():
    s = scorer([{"topics": [0]}], [{"topics": [0]}])
    assert s.block(0, 1)[0, 0] >= 0


def test_scores_stay_within_zero_and_max():
    rng = np.random.default_rng(3)
    mentees = [{"topics": rng.choice(10, 3, replace=False).tolist(),
                "seniority": int(rng.integers(1, 5)), "utc_offset": float(rng.integers(-5, 6))}
               for _ in range(20)]  # fmt: skip
    mentors = [{"topics": rng.choice(10, 4, replace=False).tolist(),
                "seniority": int(rng.integers(1, 5))} for _ in range(7)]  # fmt: skip
    s = scorer(mentees, mentors)
    block = s.block(0, 20)
    assert block.dtype == np.int32
    assert ((block >= 0) & (block <= s.max_score)).all()


def test_weights_change_the_ordering():
    # Mentor 0 shares the mentee's topic but sits 8 hours away; mentor 1 shares no topic
    # but the time zone.
    mentees = [{"topics": [0], "utc_offset": 1.0}]
    mentors = [{"topics": [0], "utc_offset": 9.0}, {"topics": [5], "utc_offset": 1.0}]
    by_topic = scorer(mentees, mentors, Weights(topics=50, relevance=0, seniority=0, place=5,
                                                preferences=0)).block(0, 1)[0]  # fmt: skip
    by_place = scorer(mentees, mentors, Weights(topics=5, relevance=0, seniority=0, place=50,
                                                preferences=0)).block(0, 1)[0]  # fmt: skip
    assert by_topic[0] > by_topic[1]
    assert by_place[1] > by_place[0]


def test_more_shared_topics_score_higher():
    s = scorer(
        [{"topics": [0, 1, 2]}], [{"topics": [0]}, {"topics": [0, 1]}, {"topics": [0, 1, 2]}]
    )
    row = s.block(0, 1)[0]
    assert row[0] < row[1] < row[2]


@settings(max_examples=60, deadline=None)
@given(
    mentee_topics=st.sets(st.integers(0, 9), min_size=1, max_size=5),
    mentor_topics=st.sets(st.integers(0, 9), min_size=1, max_size=5),
    mentee_languages=st.sets(st.integers(0, 5), min_size=1, max_size=3),
    mentor_languages=st.sets(st.integers(0, 5), min_size=1, max_size=3),
)
def test_explanations_name_only_what_is_shared(
    mentee_topics, mentor_topics, mentee_languages, mentor_languages
):
    shared_languages = mentee_languages & mentor_languages
    shared_topics = mentee_topics & mentor_topics
    s = scorer(
        [{"topics": sorted(mentee_topics), "languages": sorted(mentee_languages)}],
        [{"topics": sorted(mentor_topics), "languages": sorted(mentor_languages)}],
        # Only topics count, so the topic reason is always among the top three.
        Weights(topics=40, relevance=0, seniority=0, place=0, preferences=0),
    )
    if not shared_languages:
        assert s.block(0, 1)[0, 0] == -1
        return
    reasons, rules = explained(s.explain_pair(0, 0))
    text = " ".join(reasons)
    for t in range(10):
        if t in shared_topics:
            assert TOPICS[t] in text
        else:
            assert TOPICS[t] not in text
    rules_text = " ".join(rules)
    for lang in range(len(LANGUAGES)):
        assert (LANGUAGES[lang] in rules_text) == (lang in shared_languages)
    assert len(reasons) <= 3


def test_explain_pair_orders_reasons_by_weight():
    s = scorer(
        [{"topics": [0], "meeting_format": EITHER, "utc_offset": 1.0}],
        [{"topics": [0], "utc_offset": 1.0}],
    )
    reasons, rules = explained(s.explain_pair(0, 0))
    assert "Topic0" in reasons[0]  # topics weigh most
    assert rules[0] == "Both speak English"


def test_explain_unplaced_without_a_shared_language():
    s = scorer([{"topics": [0], "languages": [2, 3]}], [{"topics": [0], "languages": [0]}])
    reason = render(s.explain_unplaced(0, np.array([False])))
    assert reason.startswith("No mentor speaks ")
    assert "French" in reason and "Italian" in reason


def test_explain_unplaced_when_fitting_mentors_are_full():
    s = scorer(
        [{"topics": [0]}],
        [{"topics": [0]}, {"topics": [1]}, {"topics": [0], "languages": [4]}],
    )
    reason = render(s.explain_unplaced(0, np.array([True, True, False])))
    assert "full" in reason
    assert "All 2 mentors" in reason


def test_explain_unplaced_same_organisation_and_no_mentors():
    s = scorer([{"organisation": 1}], [{"organisation": 1}, {"organisation": 1}])
    assert "same organisation" in render(s.explain_unplaced(0, np.array([False, False])))
    empty = scorer([{"topics": [0]}], [])
    assert "No mentor" in render(empty.explain_unplaced(0, np.zeros(0, dtype=bool)))


def test_gender_preference_counts_only_for_a_shared_gender():
    # Mentor 0 shared their gender (code 0), mentor 1 did not (−1); otherwise equal.
    s = scorer([{"topics": [0], "wanted_gender": 0}], [{"topics": [0], "gender": 0},
                                                       {"topics": [0]}])  # fmt: skip
    row = s.block(0, 1)[0]
    assert row[0] > row[1]
    # The explanation never tells that a gender preference fitted.
    weights = Weights(topics=0, relevance=0, seniority=0, place=0, preferences=10)
    online = explained(scorer([{"wanted_gender": 0}], [{"gender": 0}], weights).explain_pair(0, 0))[
        0
    ]
    assert online == ["Their meeting formats fit"]
    apart = scorer(
        [{"wanted_gender": 0, "meeting_format": ONLINE}],
        [{"gender": 0, "meeting_format": IN_PERSON}],
        weights,
    )
    assert apart.block(0, 1)[0, 0] > 0
    assert apart.explain_pair(0, 0)[0] == []


def test_explain_pair_claims_only_the_rules_the_pair_passes():
    s = scorer(
        [{"topics": [0], "languages": [0], "organisation": 3}],
        [
            {"topics": [0], "languages": [1], "organisation": 4},
            {"topics": [0], "languages": [0], "organisation": 3},
            {"topics": [0], "languages": [0, 1]},
        ],
        excluded={0: np.array([2])},
    )
    assert explained(s.explain_pair(0, 0))[1] == [
        "Different organisations",
        "No exclusion by the organisers or the mentee",
    ]
    assert explained(s.explain_pair(0, 1))[1] == [
        "Both speak English",
        "No exclusion by the organisers or the mentee",
    ]
    assert explained(s.explain_pair(0, 2))[1] == ["Both speak English", "Different organisations"]


def test_explain_unplaced_looks_only_at_mentors_who_share_a_language():
    s = scorer(
        [{"languages": [0], "organisation": 1}],
        [{"languages": [0], "organisation": 1}, {"languages": [2], "organisation": 2}],
    )
    reason = render(s.explain_unplaced(0, np.array([False, False])))
    assert reason == "Every mentor who shares a language works at the same organisation."
    excluded = scorer(
        [{"languages": [0], "organisation": 1}],
        [{"languages": [0], "organisation": 1}, {"languages": [0], "organisation": 2}],
        excluded={0: np.array([1])},
    )
    assert "excluded" in render(excluded.explain_unplaced(0, np.array([False, False])))
