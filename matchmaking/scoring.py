"""Pair scores and their explanations for mentor–mentee matching. Pure: no Django.

Every person is a row of small arrays (topics, languages and sectors as bit sets, the
organisation, its kind, seniority, meeting format, country, UTC offset), so the score of
every mentee × mentor pair is a handful of vectorised operations on a block of mentees.

A score is the weighted sum of five components, each between 0 and 1:

- topics: the share of the mentee's topics the mentor can mentor on;
- relevance: the mentor's organisation is of a kind the mentee asked for, and they share
  a sector (the mentee's preferred sectors, else the mentee's own);
- seniority: a mentor one or two levels above the mentee fits best;
- place: for in-person mentees the same country, otherwise time zones close together;
- preferences: the meeting format fits, and (where the programme allows it and the mentor
  agreed) the mentee's preferred mentor gender.

Hard rules make a pair impossible (score −1): no shared language, the same organisation,
an organiser's "never pair", a mentee's "not this person".

The explanations are data (`explanations`): each is worded when it is shown, in the
reader's language, not in the language of whoever ran the matching. Nothing here
translates.

The solver weighs the whole score (`block`). Every score anyone sees — stored on a match,
totalled on a run, the order of a pair's reasons — is the *shown* score (`shown_block`):
the same pair scored as if the mentee had stated no preferred mentor gender. A shown
figure that moved with the preference would tell the organisers the mentee's preference
and, with it, hint at the mentor's gender.
"""

from dataclasses import dataclass, field

import numpy as np

from matchmaking import explanations
from matchmaking.explanations import Explanation

COMPONENTS = ("topics", "relevance", "seniority", "place", "preferences")

ONLINE, IN_PERSON, EITHER = 0, 1, 2
# Fit by seniority gap (mentor − mentee), indexed by gap + 1 for gaps −1 (or less) … 4+:
# one or two levels above fits best, three is a stretch, a peer mentor is a weak fit.
SENIORITY_FIT = np.array([0.0, 0.25, 1.0, 1.0, 0.5, 0.0], dtype=np.float32)
# The levels English writes with "an" ("an early-career mentee", "an executive mentee").
SENIORITY_AFTER_AN = {1, 4}


def bits(indices, words: int) -> np.ndarray:
    """A bit set (`words` × uint64) with the given bit indices set."""
    out = np.zeros(words, dtype=np.uint64)
    for index in indices:
        out[index // 64] |= np.uint64(1) << np.uint64(index % 64)
    return out


def members_of(mask: np.ndarray) -> list[int]:
    return [
        word * 64 + bit
        for word, value in enumerate(mask.tolist())
        for bit in range(64)
        if (int(value) >> bit) & 1
    ]


@dataclass
class People:
    """One side of the programme, as arrays indexed by position."""

    names: list[str]
    topics: np.ndarray  # (n, words) uint64
    languages: np.ndarray  # (n, words) uint64
    sectors: np.ndarray  # (n, words) uint64
    organisation: np.ndarray  # (n,) int64, −1 = none
    kind: np.ndarray  # (n,) int64 index into Vocabulary.kinds, −1 = none
    seniority: np.ndarray  # (n,) int8, 1…4
    meeting_format: np.ndarray  # (n,) int8: ONLINE, IN_PERSON, EITHER
    country: np.ndarray  # (n,) int64 index into Vocabulary.countries, −1 = none
    utc_offset: np.ndarray  # (n,) float32 hours
    # Mentees only (zeros / −1 for mentors):
    wanted_kinds: np.ndarray  # (n,) uint64 bit set over kinds
    wanted_sectors: np.ndarray  # (n, words) uint64
    wanted_gender: np.ndarray  # (n,) int8, −1 = no preference
    # Mentors only: the gender mentees' preferences may use (−1 = not shared).
    gender: np.ndarray  # (n,) int8

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Vocabulary:
    """What the explanations name behind the indices: a plain name (shown as it is) or a
    code worded in the reader's language (see `explanations`)."""

    topics: list[str]
    languages: list[str | dict]  # {"language": "fr", "name": "French"}
    sectors: list[str]
    kinds: list[str | dict]  # organisation kinds: {"kind": "research"}
    countries: list[str | dict]  # {"country": "AT"}


@dataclass
class Weights:
    topics: int = 40
    relevance: int = 20
    seniority: int = 15
    place: int = 15
    preferences: int = 10

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in COMPONENTS], dtype=np.float32)

    @property
    def total(self) -> int:
        return int(self.as_array().sum())


@dataclass
class Scorer:
    """Implements `solver.PairScores` over two `People` tables."""

    mentees: People
    mentors: People
    weights: Weights
    vocabulary: Vocabulary
    # Hard exclusions: mentee index → mentor indices.
    excluded: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def n_mentees(self) -> int:
        return len(self.mentees)

    @property
    def n_mentors(self) -> int:
        return len(self.mentors)

    @property
    def max_score(self) -> int:
        return self.weights.total

    def _parts(self, start: int, stop: int, *, gender: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        """(allowed mask (rows, m), the five components (rows, m) in 0…1).

        `gender`: whether the preferences part counts the preferred mentor gender (the
        solver's score) or not (the shown score).
        """
        e, r = self.mentees, self.mentors
        sl = slice(start, stop)

        def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.bitwise_count(a[:, None, :] & b[None, :, :]).sum(axis=2, dtype=np.int16)

        allowed = overlap(e.languages[sl], r.languages) > 0
        has_org = e.organisation[sl, None] >= 0
        allowed &= ~(has_org & (e.organisation[sl, None] == r.organisation[None, :]))
        for row in range(start, stop):
            cols = self.excluded.get(row)
            if cols is not None and len(cols):
                allowed[row - start, cols] = False

        n_topics = np.bitwise_count(e.topics[sl]).sum(axis=1, dtype=np.int16)
        shared_topics = overlap(e.topics[sl], r.topics)
        topics = shared_topics / np.maximum(1, n_topics)[:, None]

        wanted_kinds = e.wanted_kinds[sl, None]
        kind_bit = np.where(
            r.kind >= 0, np.left_shift(np.uint64(1), np.maximum(r.kind, 0).astype(np.uint64)), 0
        ).astype(np.uint64)
        kind_part = np.where(
            wanted_kinds == 0, np.float32(0.5), ((wanted_kinds & kind_bit[None, :]) != 0)
        ).astype(np.float32)
        wanted_sectors = e.wanted_sectors[sl]
        no_wish = ~wanted_sectors.any(axis=1)
        sector_basis = np.where(no_wish[:, None], e.sectors[sl], wanted_sectors)
        sector_part = overlap(sector_basis, r.sectors) > 0
        relevance = np.float32(0.5) * (kind_part + sector_part)

        gap = r.seniority[None, :].astype(np.int8) - e.seniority[sl, None].astype(np.int8)
        seniority = SENIORITY_FIT[np.clip(gap, -1, 4) + 1]

        mentee_format = e.meeting_format[sl, None]
        mentor_format = r.meeting_format[None, :]
        wants_in_person = mentee_format == IN_PERSON
        same_country = (e.country[sl, None] == r.country[None, :]) & (e.country[sl, None] >= 0)
        tz = np.abs(e.utc_offset[sl, None] - r.utc_offset[None, :])
        remote_fit = np.float32(0.5) * ((tz <= 2).astype(np.float32) + (tz <= 5))
        in_person_fit = same_country & (mentor_format != ONLINE)
        place = np.where(wants_in_person, in_person_fit, remote_fit).astype(np.float32)

        format_ok = (
            (mentee_format == EITHER) | (mentor_format == EITHER) | (mentee_format == mentor_format)
        )
        if gender:
            wanted_gender = e.wanted_gender[sl, None]
            gender_ok = np.where(wanted_gender < 0, format_ok, wanted_gender == r.gender[None, :])
            preferences = np.float32(0.5) * (format_ok.astype(np.float32) + gender_ok)
        else:
            # What a mentee without a preferred mentor gender gets: the format alone.
            preferences = format_ok.astype(np.float32)
        return allowed, [topics.astype(np.float32), relevance, seniority, place, preferences]

    def shown_components(self, start: int, stop: int) -> np.ndarray:
        """The five components (rows, m, 5), each in 0…1, of mentees start:stop, as shown:
        preferences without the preferred mentor gender."""
        return np.stack(self._parts(start, stop, gender=False)[1], axis=2)

    def block(self, start: int, stop: int) -> np.ndarray:
        """The solver's scores (see `solver.PairScores`), the gender preference included."""
        return self._weighted(*self._parts(start, stop, gender=True))

    def shown_block(self, start: int, stop: int) -> np.ndarray:
        """The scores people see: as `block`, without the preferred mentor gender."""
        return self._weighted(*self._parts(start, stop, gender=False))

    def _weighted(self, allowed: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
        weights = self.weights.as_array()
        score = parts[0] * weights[0]
        for part, weight in zip(parts[1:], weights[1:], strict=True):
            score += part * weight
        score = np.rint(score).astype(np.int32)
        score[~allowed] = -1
        return score

    # --- explanations -------------------------------------------------------------------

    def explain_pair(self, mentee: int, mentor: int) -> tuple[list[Explanation], list[Explanation]]:
        """(the top three reasons, the rules the pair passed), as explanations to word in
        the reader's language (see `explanations`).

        Reasons are ranked by the shown components: ranked by the solver's, the place of
        "meeting formats fit" would move with the mentee's preferred mentor gender.
        """
        e, r, voc = self.mentees, self.mentors, self.vocabulary
        part = self.shown_components(mentee, mentee + 1)[0, mentor]
        weighted = part * self.weights.as_array()
        mentee_name, mentor_name = e.names[mentee], r.names[mentor]

        reasons: dict[str, Explanation] = {}
        shared = members_of(e.topics[mentee] & r.topics[mentor])
        if shared:
            reasons["topics"] = explanations.ngettext(
                "%(mentee)s wants to grow in %(topics)s; %(mentor)s mentors on it",
                "%(mentee)s wants to grow in %(topics)s; %(mentor)s mentors on them",
                len(shared),
                mentee=mentee_name,
                topics=[voc.topics[i] for i in shared],
                mentor=mentor_name,
            )
        if part[1] > 0:
            kind = voc.kinds[r.kind[mentor]] if r.kind[mentor] >= 0 else ""
            wanted_kind = bool(
                e.wanted_kinds[mentee] & (np.uint64(1) << np.uint64(max(0, r.kind[mentor])))
            )
            sectors = members_of(
                (e.wanted_sectors[mentee] if e.wanted_sectors[mentee].any() else e.sectors[mentee])
                & r.sectors[mentor]
            )
            sector_names = [voc.sectors[i] for i in sectors]
            if wanted_kind and kind and sectors:
                reasons["relevance"] = explanations.gettext(
                    "%(mentor)s works at a %(kind)s, the kind of organisation %(mentee)s "
                    "asked for and knows %(sectors)s",
                    mentor=mentor_name,
                    kind=kind,
                    mentee=mentee_name,
                    sectors=sector_names,
                )
            elif wanted_kind and kind:
                reasons["relevance"] = explanations.gettext(
                    "%(mentor)s works at a %(kind)s, the kind of organisation %(mentee)s asked for",
                    mentor=mentor_name,
                    kind=kind,
                    mentee=mentee_name,
                )
            elif sectors:
                reasons["relevance"] = explanations.gettext(
                    "%(mentor)s knows %(sectors)s", mentor=mentor_name, sectors=sector_names
                )
        if part[2] > 0:
            mentee_seniority = int(e.seniority[mentee])
            levels = {
                "mentor_level": {"seniority": int(r.seniority[mentor]), "capitalize": True},
                "mentee_level": {"seniority": mentee_seniority},
            }
            # Each language translates both sentences as its own grammar needs.
            if mentee_seniority in SENIORITY_AFTER_AN:
                reasons["seniority"] = explanations.gettext(
                    "%(mentor_level)s mentor for an %(mentee_level)s mentee", **levels
                )
            else:
                reasons["seniority"] = explanations.gettext(
                    "%(mentor_level)s mentor for a %(mentee_level)s mentee", **levels
                )
        if part[3] > 0:
            if e.meeting_format[mentee] == IN_PERSON:
                reasons["place"] = explanations.gettext(
                    "Both in %(country)s, so they can meet in person",
                    country=voc.countries[e.country[mentee]],
                )
            else:
                hours = abs(float(e.utc_offset[mentee] - r.utc_offset[mentor]))
                reasons["place"] = (
                    explanations.gettext("Same time zone")
                    if hours == 0
                    else explanations.gettext("Time zones %(hours)s h apart", hours=hours)
                )
        # A fitting gender preference is never named: it would tell the mentee the
        # mentor's gender, and the mentor and the organisers the mentee's preference.
        mentee_format, mentor_format = e.meeting_format[mentee], r.meeting_format[mentor]
        if EITHER in (mentee_format, mentor_format) or mentee_format == mentor_format:
            reasons["preferences"] = explanations.gettext("Their meeting formats fit")
        # Only what counted: a component the programme weighs at zero is no reason.
        order = sorted(
            (name for name in reasons if weighted[COMPONENTS.index(name)] > 0),
            key=lambda name: -weighted[COMPONENTS.index(name)],
        )
        top = [reasons[name] for name in order[:3]]

        # Only the rules the pair really passes (a locked pair may pass fewer).
        languages = members_of(e.languages[mentee] & r.languages[mentor])
        rules = []
        if languages:
            rules.append(
                explanations.gettext(
                    "Both speak %(languages)s", languages=[voc.languages[i] for i in languages]
                )
            )
        if e.organisation[mentee] < 0 or e.organisation[mentee] != r.organisation[mentor]:
            rules.append(explanations.gettext("Different organisations"))
        if mentor not in self.excluded.get(mentee, ()):
            rules.append(explanations.gettext("No exclusion by the organisers or the mentee"))
        return top, rules

    def explain_unplaced(self, mentee: int, mentor_full: np.ndarray) -> Explanation:
        """Why mentee `mentee` has no mentor, given which mentors are full."""
        e, r, voc = self.mentees, self.mentors, self.vocabulary
        if len(r) == 0:
            return explanations.gettext("No mentor has been approved for this programme yet.")
        speaks = np.bitwise_count(e.languages[mentee][None, :] & r.languages).sum(axis=1) > 0
        if not speaks.any():
            spoken = [voc.languages[i] for i in members_of(e.languages[mentee])]
            return explanations.gettext(
                "No mentor speaks %(languages)s.",
                languages=spoken or explanations.gettext("a language"),
            )
        allowed = self.block(mentee, mentee + 1)[0] >= 0
        if not allowed.any():
            same_org = (
                speaks & (r.organisation == e.organisation[mentee]) & (e.organisation[mentee] >= 0)
            )
            if same_org[speaks].all():
                return explanations.gettext(
                    "Every mentor who shares a language works at the same organisation."
                )
            return explanations.gettext(
                "Every mentor who shares a language is at the same organisation or excluded "
                "(by the organisers or by the mentee)."
            )
        fitting = int(allowed.sum())
        if mentor_full[allowed].all():
            return explanations.ngettext(
                "All %(count)d mentors who fit are full; each of their places went to a "
                "mentee with fewer alternatives or a better fit.",
                "All %(count)d mentors who fit are full; each of their places went to a "
                "mentee with fewer alternatives or a better fit.",
                fitting,
                count=fitting,
            )
        return explanations.gettext(
            "Placing this mentee would leave another mentee without a mentor."
        )
