"""Reads of mentoring data, already scoped to what the requesting user may see."""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np
from django.db.models import Avg, Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from events.models import Session
from matchmaking.models import (
    Application,
    Circle,
    Feedback,
    Match,
    MatchingRun,
    PairRule,
    Programme,
)
from matchmaking.scoring import EITHER, IN_PERSON, ONLINE, People, Scorer, Vocabulary, Weights
from members import privacy
from members.models import Language, Organisation, Sector, Topic, User
from members.selectors import clusters_for_user, clusters_managed_by, profiles_visible_to

# --- programmes ------------------------------------------------------------------------


def programmes_managed_by(*, user: User) -> QuerySet[Programme]:
    """Programmes of clusters this person organises (every programme for staff)."""
    if not user.is_authenticated or not user.is_active:
        return Programme.objects.none()
    if user.is_staff:
        return Programme.objects.all()
    managed = clusters_managed_by(user=user)
    return Programme.objects.filter(
        Exists(Programme.clusters.through.objects.filter(
            programme_id=OuterRef("pk"), cluster__in=managed
        ))
    )  # fmt: skip


def user_manages_programme(*, user: User, programme: Programme) -> bool:
    return programmes_managed_by(user=user).filter(pk=programme.pk).exists()


def programmes_visible_to(*, user: User) -> QuerySet[Programme]:
    """Published programmes of the person's clusters, and every programme they manage."""
    if not user.is_authenticated:
        return Programme.objects.none()
    theirs = Programme.clusters.through.objects.filter(
        programme_id=OuterRef("pk"), cluster__in=clusters_for_user(user=user)
    )
    applied = Application.objects.filter(programme_id=OuterRef("pk"), user=user)
    visible = Q(Exists(theirs)) & ~Q(status=Programme.Status.DRAFT)
    return (
        Programme.objects.filter(
            visible | Q(Exists(applied)) | Q(pk__in=programmes_managed_by(user=user).values("pk"))
        )
        .prefetch_related("clusters")
        .order_by("-applications_open_at", "pk")
    )


def programme_get_visible(*, user: User, slug: str) -> Programme:
    programme = programmes_visible_to(user=user).filter(slug=slug).first()
    if programme is None:
        raise Http404(gettext("No such programme."))
    return programme


def programme_get_managed(*, user: User, slug: str) -> Programme:
    programme = programmes_managed_by(user=user).filter(slug=slug).first()
    if programme is None:
        raise Http404(gettext("No such programme."))
    return programme


def user_may_apply(*, user: User, programme: Programme) -> bool:
    """Members of one of the programme's clusters (target groups are self-declared)."""
    return clusters_for_user(user=user).filter(pk__in=programme.clusters.values("pk")).exists()


def application_of(*, user: User, programme: Programme) -> Application | None:
    return Application.objects.filter(programme=programme, user=user).first()


def applications_of_user(*, user: User) -> QuerySet[Application]:
    return (
        Application.objects.filter(user=user)
        .select_related("programme")
        .order_by("-created_at", "-pk")
    )


def avoid_choices(*, user: User, programme: Programme) -> QuerySet[User]:
    """Whom a mentee may ask not to be matched with: the programme's mentors whose
    profile they may see (not anyone else: the list must not become a directory)."""
    mentors = (
        Application.objects.filter(programme=programme, role=Application.Role.MENTOR)
        .exclude(status=Application.Status.WITHDRAWN)
        .values("user_id")
    )
    return (
        User.objects.filter(pk__in=mentors, profile__in=profiles_visible_to(viewer=user))
        .exclude(pk=user.pk)
        .select_related("profile")
        .order_by("profile__display_name", "pk")
    )


# --- organiser lists -------------------------------------------------------------------


def applications_for_review(
    *, programme: Programme, role: str = "", status: str = ""
) -> QuerySet[Application]:
    """Every application with what a reviewer reads, in a constant number of queries."""
    rows = Application.objects.filter(programme=programme)
    if role:
        rows = rows.filter(role=role)
    if status:
        rows = rows.filter(status=status)
    return rows.select_related("user__profile", "organisation").prefetch_related(
        Prefetch("topics", queryset=Topic.objects.order_by("name")),
        Prefetch("languages", queryset=Language.objects.order_by("name")),
    )


def proposals(*, programme: Programme) -> QuerySet[Match]:
    """Live matches with both people, for the organisers' review table."""
    return (
        Match.objects.filter(programme=programme, status__in=Match.LIVE_STATUSES)
        .select_related(
            "mentor__user__profile",
            "mentee__user__profile",
            "mentor__organisation",
            "mentee__organisation",
            "circle",
        )
        .order_by("mentor__user__profile__display_name", "pk")
    )


def pair_rules(*, programme: Programme) -> QuerySet[PairRule]:
    return PairRule.objects.filter(programme=programme).select_related(
        "mentor__user__profile", "mentee__user__profile"
    )


def latest_run(*, programme: Programme) -> MatchingRun | None:
    return programme.matching_runs.order_by("-created_at", "-pk").first()


def applications_changed_since(*, run: MatchingRun) -> int:
    """How many of the programme's applications came in, changed or were reviewed or
    withdrawn after the run read them: any makes its proposals stale."""
    as_of = run.applications_as_of or run.created_at
    return Application.objects.filter(programme_id=run.programme_id, updated_at__gt=as_of).count()


def unplaced_applications(*, run: MatchingRun) -> list[tuple[Application, str | dict]]:
    """The mentees a run left without a mentor, with the reason."""
    ids = [int(key) for key in run.unplaced]
    rows = Application.objects.filter(pk__in=ids).select_related("user__profile")
    by_id = {row.pk: row for row in rows}
    return [(by_id[i], run.unplaced[str(i)]) for i in ids if i in by_id]


@dataclass(frozen=True)
class ProgrammeHealth:
    applicants: int
    mentors: int
    mentees: int
    matched: int
    awaiting_answer: int
    active: int
    met_last_30_days: int
    completed: int
    declined: int
    ended_early: int
    ratings: int
    # Shown only from k ratings on: a small programme's average would speak for one person.
    satisfaction: float | None


def programme_health(*, programme: Programme) -> ProgrammeHealth:
    """Health figures for the organisers, in two aggregate queries."""
    since = timezone.localdate() - timedelta(days=30)
    approved = Q(status=Application.Status.APPROVED)
    apps = Application.objects.filter(programme=programme).aggregate(
        applicants=Count("pk"),
        mentors=Count("pk", filter=approved & Q(role=Application.Role.MENTOR)),
        mentees=Count("pk", filter=approved & Q(role=Application.Role.MENTEE)),
    )
    S = Match.Status
    published = Q(published_at__isnull=False)
    matches = Match.objects.filter(programme=programme).aggregate(
        matched=Count("pk", filter=Q(status__in=[S.ACCEPTED, S.ACTIVE, S.COMPLETED])),
        awaiting=Count("pk", filter=published & Q(status=S.PROPOSED)),
        active=Count("pk", filter=Q(status=S.ACTIVE)),
        met=Count("pk", filter=Q(status__in=[S.ACTIVE, S.COMPLETED], last_met_on__gte=since)),
        completed=Count("pk", filter=Q(status=S.COMPLETED)),
        declined=Count("pk", filter=Q(status=S.DECLINED)),
        ended_early=Count("pk", filter=Q(status=S.ENDED_EARLY)),
    )
    feedback = Feedback.objects.filter(match__programme=programme).aggregate(
        ratings=Count("pk"), average=Avg("rating")
    )
    ratings = feedback["ratings"]
    return ProgrammeHealth(
        applicants=apps["applicants"],
        mentors=apps["mentors"],
        mentees=apps["mentees"],
        matched=matches["matched"],
        awaiting_answer=matches["awaiting"],
        active=matches["active"],
        met_last_30_days=matches["met"],
        completed=matches["completed"],
        declined=matches["declined"],
        ended_early=matches["ended_early"],
        ratings=ratings,
        satisfaction=(
            round(feedback["average"], 1)
            if ratings >= privacy.min_group_size() and feedback["average"] is not None
            else None
        ),
    )


# --- participants ----------------------------------------------------------------------


def matches_of(*, user: User) -> QuerySet[Match]:
    """A person's own published matches, as mentor or mentee."""
    return (
        Match.objects.filter(
            Q(mentor__user=user) | Q(mentee__user=user), published_at__isnull=False
        )
        .select_related(
            "programme", "mentor__user__profile", "mentee__user__profile", "circle__event"
        )
        .order_by("-published_at", "-pk")
    )


def match_get_for_participant(*, user: User, pk: int) -> Match:
    """A match its mentor or mentee may open; 404 for everyone else (organisers included:
    they review matches on the programme pages, and the pair's notes are the pair's)."""
    match = matches_of(user=user).filter(pk=pk).first()
    if match is None:
        raise Http404(gettext("No such match."))
    return match


def circle_members(*, circle: Circle) -> QuerySet[Match]:
    return circle.matches.filter(status__in=Match.LIVE_STATUSES).select_related(
        "mentee__user__profile"
    )


def circle_next_meeting(*, circle: Circle) -> Session | None:
    """The circle's next meeting that has not ended and is not cancelled, if any."""
    if circle.event_id is None:
        return None
    return (
        Session.objects.filter(
            event_id=circle.event_id, is_cancelled=False, ends_at__gt=timezone.now()
        )
        .order_by("starts_at")
        .first()
    )


# --- the solver's input ----------------------------------------------------------------


@dataclass
class MatchingInput:
    scorer: Scorer
    mentees: list[Application]
    mentors: list[Application]
    capacities: np.ndarray
    # mentee index → mentor index, for the organiser's locked pairs
    locked: dict[int, int]
    # circle programmes: the language each mentor's circle meets in (Language id)
    circle_language: dict[int, int]


def _bitset(ids: list[int], index: dict[int, int], words: int) -> np.ndarray:
    out = np.zeros(words, dtype=np.uint64)
    for value in ids:
        position = index.get(value)
        if position is not None:
            out[position // 64] |= np.uint64(1) << np.uint64(position % 64)
    return out


def _related_ids(relation, application_ids: list[int]) -> dict[int, list[int]]:
    """{application id: ids on the other side of a many-to-many}, in one query."""
    through = relation.through
    other = relation.field.m2m_reverse_name()  # e.g. "topic_id"
    out: dict[int, list[int]] = {}
    rows = through.objects.filter(application_id__in=application_ids)
    for application_id, other_id in rows.values_list("application_id", other):
        out.setdefault(application_id, []).append(other_id)
    return out


def _utc_offset(zone: str, at: datetime) -> float:
    try:
        offset = at.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 0.0
    return offset.total_seconds() / 3600 if offset is not None else 0.0


def matching_input(*, programme: Programme) -> MatchingInput:
    """Everyone the next run should place, as arrays for the scorer — in a fixed number of
    queries whatever the programme's size.

    Mentees whose match is already published (awaiting answers, accepted, running or
    done) keep it and are not placed again; their mentor's capacity shrinks by as much.
    A pair one side declined or that ended early, an organiser's "never pair" and a
    mentee's "not this person" are hard exclusions; locked pairs are kept.
    """
    approved = Application.objects.filter(programme=programme, status=Application.Status.APPROVED)
    S = Match.Status
    kept = Match.objects.filter(
        programme=programme, published_at__isnull=False, status__in=Match.LIVE_STATUSES
    )
    kept_mentees = set(kept.values_list("mentee_id", flat=True))
    kept_load = dict(kept.values("mentor_id").annotate(n=Count("pk")).values_list("mentor_id", "n"))
    rows = list(approved.select_related("user__profile").order_by("pk"))
    mentors = [a for a in rows if a.role == Application.Role.MENTOR]
    mentees = [a for a in rows if a.role == Application.Role.MENTEE and a.pk not in kept_mentees]

    ids = [a.pk for a in rows]
    topics_of = _related_ids(Application.topics, ids)
    languages_of = _related_ids(Application.languages, ids)
    sectors_of = _related_ids(Application.sectors, ids)
    wanted_sectors_of = _related_ids(Application.preferred_sectors, ids)
    avoid_of = _related_ids(Application.avoid, ids)
    kind_of_org = dict(
        Organisation.objects.filter(
            pk__in={a.organisation_id for a in rows if a.organisation_id}
        ).values_list("pk", "kind")
    )

    topic_list = list(Topic.objects.order_by("pk").values_list("pk", "name"))
    language_list = list(Language.objects.order_by("pk").values_list("pk", "code", "name"))
    sector_list = list(Sector.objects.order_by("pk").values_list("pk", "name"))
    kinds = list(Organisation.Kind.choices)
    kind_index = {value: i for i, (value, _) in enumerate(kinds)}
    topic_index = {pk: i for i, (pk, _) in enumerate(topic_list)}
    language_index = {pk: i for i, (pk, _, _) in enumerate(language_list)}
    sector_index = {pk: i for i, (pk, _) in enumerate(sector_list)}
    countries = sorted({str(a.country) for a in rows if a.country})
    country_index = {code: i for i, code in enumerate(countries)}
    t_words = max(1, -(-len(topic_list) // 64))
    l_words = max(1, -(-len(language_list) // 64))
    s_words = max(1, -(-len(sector_list) // 64))
    at = datetime.combine(programme.starts_on, time(12), tzinfo=zoneinfo.ZoneInfo("UTC"))

    genders: dict[int, str] = {}
    if programme.allow_mentor_gender_preference:
        genders = privacy.genders_for_matching(
            user_ids=[a.user_id for a in mentors if a.gender_may_be_matched]
        )
    gender_codes = {value: i for i, (value, _) in enumerate(Application.PREFERRED_GENDERS)}

    # Circles meet in one language: of each mentor's languages, the one with the most
    # mentees per mentor who speaks it (so a German speaker leads the German circle even
    # when more mentees speak English, which other mentors cover).
    circle_language: dict[int, int] = {}
    if programme.is_circles:
        spoken: dict[int, int] = {}
        for mentee in mentees:
            for language_id in languages_of.get(mentee.pk, []):
                spoken[language_id] = spoken.get(language_id, 0) + 1
        supply: dict[int, int] = {}
        for mentor in mentors:
            for language_id in languages_of.get(mentor.pk, []):
                supply[language_id] = supply.get(language_id, 0) + 1
        for mentor in mentors:
            own = sorted(languages_of.get(mentor.pk, []))
            if own:
                circle_language[mentor.pk] = max(
                    own, key=lambda lid: (spoken.get(lid, 0) / supply[lid], spoken.get(lid, 0))
                )

    fmt = {
        Application.MeetingFormat.ONLINE: ONLINE,
        Application.MeetingFormat.IN_PERSON: IN_PERSON,
        Application.MeetingFormat.EITHER: EITHER,
    }

    def side(apps: list[Application], *, is_mentor: bool) -> People:
        n = len(apps)

        def language_ids(a: Application) -> list[int]:
            if is_mentor and programme.is_circles and a.pk in circle_language:
                return [circle_language[a.pk]]
            return languages_of.get(a.pk, [])

        return People(
            names=[a.user.profile.display_name if hasattr(a.user, "profile") else "" for a in apps],
            topics=np.array(
                [_bitset(topics_of.get(a.pk, []), topic_index, t_words) for a in apps]
            ).reshape(n, t_words),
            languages=np.array(
                [_bitset(language_ids(a), language_index, l_words) for a in apps]
            ).reshape(n, l_words),
            sectors=np.array(
                [_bitset(sectors_of.get(a.pk, []), sector_index, s_words) for a in apps]
            ).reshape(n, s_words),
            organisation=np.array([a.organisation_id or -1 for a in apps], dtype=np.int64),
            kind=np.array(
                [kind_index.get(kind_of_org.get(a.organisation_id), -1) for a in apps],
                dtype=np.int64,
            ),
            seniority=np.array([a.seniority for a in apps], dtype=np.int8),
            meeting_format=np.array([fmt[a.meeting_format] for a in apps], dtype=np.int8),
            country=np.array([country_index.get(str(a.country), -1) for a in apps], dtype=np.int64),
            utc_offset=np.array([_utc_offset(a.timezone, at) for a in apps], dtype=np.float32),
            wanted_kinds=np.array(
                [
                    sum(
                        1 << kind_index[k]
                        for k in a.preferred_organisation_kinds
                        if k in kind_index
                    )
                    for a in apps
                ],
                dtype=np.uint64,
            ),
            wanted_sectors=np.array(
                [_bitset(wanted_sectors_of.get(a.pk, []), sector_index, s_words) for a in apps]
            ).reshape(n, s_words),
            wanted_gender=np.array(
                [
                    gender_codes.get(a.preferred_mentor_gender, -1)
                    if programme.allow_mentor_gender_preference and not is_mentor
                    else -1
                    for a in apps
                ],
                dtype=np.int8,
            ),
            gender=np.array(
                [gender_codes.get(genders.get(a.user_id, ""), -1) for a in apps], dtype=np.int8
            ),
        )

    mentor_index = {a.pk: j for j, a in enumerate(mentors)}
    mentor_of_user = {a.user_id: j for j, a in enumerate(mentors)}
    mentee_index = {a.pk: i for i, a in enumerate(mentees)}
    excluded: dict[int, set[int]] = {}
    for i, mentee in enumerate(mentees):
        for user_id in avoid_of.get(mentee.pk, ()):
            if user_id in mentor_of_user:
                excluded.setdefault(i, set()).add(mentor_of_user[user_id])
    locked: dict[int, int] = {}
    for rule in PairRule.objects.filter(programme=programme).values_list(
        "kind", "mentor_id", "mentee_id"
    ):
        kind, mentor_id, mentee_id = rule
        if mentor_id not in mentor_index or mentee_id not in mentee_index:
            continue
        i, j = mentee_index[mentee_id], mentor_index[mentor_id]
        if kind == PairRule.Kind.FORBID:
            excluded.setdefault(i, set()).add(j)
        else:
            locked[i] = j
    # A pair that was declined or ended early is never made again.
    for mentor_id, mentee_id in Match.objects.filter(
        programme=programme, status__in=[S.DECLINED, S.ENDED_EARLY]
    ).values_list("mentor_id", "mentee_id"):
        if mentor_id in mentor_index and mentee_id in mentee_index:
            excluded.setdefault(mentee_index[mentee_id], set()).add(mentor_index[mentor_id])
    for i in list(locked):
        if locked[i] in excluded.get(i, set()):
            del locked[i]  # a lock never overrides a refusal

    if programme.is_circles:
        capacities = [programme.circle_size for _ in mentors]
    else:
        capacities = [a.capacity for a in mentors]
    capacities = np.array(
        [max(0, c - kept_load.get(a.pk, 0)) for c, a in zip(capacities, mentors, strict=True)],
        dtype=np.int64,
    )
    # Locks beyond a mentor's remaining capacity are dropped, latest first.
    load: dict[int, int] = {}
    for i in sorted(locked):
        j = locked[i]
        load[j] = load.get(j, 0) + 1
        if load[j] > capacities[j]:
            del locked[i]

    # Codes for what has a name in every language: explanations are worded when shown.
    vocabulary = Vocabulary(
        topics=[name for _, name in topic_list],
        languages=[{"language": code, "name": name} for _, code, name in language_list],
        sectors=[name for _, name in sector_list],
        kinds=[{"kind": value} for value, _ in kinds],
        countries=[{"country": code} for code in countries],
    )
    weights = Weights(
        topics=programme.weight_topics,
        relevance=programme.weight_relevance,
        seniority=programme.weight_seniority,
        place=programme.weight_place,
        preferences=programme.weight_preferences,
    )
    scorer = Scorer(
        mentees=side(mentees, is_mentor=False),
        mentors=side(mentors, is_mentor=True),
        weights=weights,
        vocabulary=vocabulary,
        excluded={i: np.array(sorted(js), dtype=np.int64) for i, js in excluded.items()},
    )
    return MatchingInput(
        scorer=scorer,
        mentees=mentees,
        mentors=mentors,
        capacities=capacities,
        locked=locked,
        circle_language=circle_language,
    )


def run_history(*, programme: Programme) -> QuerySet[MatchingRun]:
    return programme.matching_runs.select_related("created_by__profile").order_by(
        "-created_at", "-pk"
    )


def match_counts_by_status(*, programme: Programme) -> dict[str, int]:
    return dict(
        Match.objects.filter(programme=programme)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
