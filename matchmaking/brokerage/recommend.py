"""People a participant of a brokerage day should meet: ranked, each with their reasons.

The score of a candidate, highest weights first:

- offer ↔ request fit: topics of my requests that their offers carry, and topics of their
  requests that my offers carry (3 each; 2 more when an offer and a request of the same
  type share the topic), and item types that meet without a shared topic (1 each);
- profiles: their expertise in my interests and my expertise in their interests (1 per
  topic), interests or expertise we share otherwise (0.5 per topic);
- complementary organisation kinds, e.g. an SME and a research organisation or an
  investor (1.5);
- a common language (0.5) — a plus, never a reason on its own.

Nobody is recommended for a common language alone. Candidates are the participants
listed to the viewer (`marketplace.participants_listed`); the profile's topics and
languages count only for those whose profile the directory shows the viewer. Left out:
the participant, hidden profiles and people without a seat any more, people with whom
they have a live (pending or accepted, also past) meeting or a declined request, and
people already at their maximum of meetings.

Reasons are explanations kept as data (`matchmaking.explanations`) and worded when shown
(`{{ reason|explained }}`), in the reader's language, like mentoring matches' reasons.

A fixed number of queries for the whole event (participants, items, item topics, the
profiles' expertise, interests and languages, meetings, topic names), then set arithmetic
in Python: a few milliseconds for 2,000 participants.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext_noop

from matchmaking import explanations
from matchmaking.brokerage import marketplace
from matchmaking.brokerage.models import MarketItem, Meeting, Participant
from matchmaking.explanations import Explanation
from members.models import Organisation, Profile, Topic
from members.selectors import profiles_visible_to

OFFER, REQUEST = MarketItem.Direction.OFFER, MarketItem.Direction.REQUEST
Kind = Organisation.Kind

W_TOPIC_FIT = 3.0
W_TYPE_ON_TOPIC = 2.0
W_TYPE_ONLY = 1.0
W_PROFILE_FIT = 1.0
W_SHARED = 0.5
W_KINDS = 1.5
W_LANGUAGE = 0.5
MAX_REASONS = 4

# Organisation kinds that typically have something to do with each other at a brokerage
# day (symmetric).
COMPLEMENTARY_KINDS: dict[str, set[str]] = defaultdict(set)
for _a, _b in [
    (Kind.SME, Kind.RESEARCH),
    (Kind.SME, Kind.INVESTOR),
    (Kind.SME, Kind.LARGE_COMPANY),
    (Kind.SME, Kind.PUBLIC_BODY),
    (Kind.RESEARCH, Kind.LARGE_COMPANY),
    (Kind.RESEARCH, Kind.PUBLIC_BODY),
    (Kind.INVESTOR, Kind.LARGE_COMPANY),
    (Kind.CLUSTER_ORGANISATION, Kind.PUBLIC_BODY),
]:
    COMPLEMENTARY_KINDS[_a].add(_b)
    COMPLEMENTARY_KINDS[_b].add(_a)

# Item types as they read inside a sentence ("offers investment, which you are looking
# for"), translated when shown.
TYPE_WORDS = {
    MarketItem.Type.COOPERATION: gettext_noop("cooperation"),
    MarketItem.Type.EXPERTISE: gettext_noop("expertise"),
    MarketItem.Type.TECHNOLOGY: gettext_noop("technology"),
    MarketItem.Type.PRODUCT: gettext_noop("a product or service"),
    MarketItem.Type.INVESTMENT: gettext_noop("investment"),
    MarketItem.Type.PARTNERSHIP: gettext_noop("partnership"),
    MarketItem.Type.RESEARCH_PROJECT: gettext_noop("a research project"),
}


@dataclass
class Recommendation:
    participant: Participant
    score: float
    reasons: list[Explanation] = field(default_factory=list)


@dataclass
class _Person:
    pk: int
    kind: str  # organisation kind
    max_meetings: int
    profile_id: int | None
    name: str
    organisation_id: int | None = None
    offers: set[int] = field(default_factory=set)  # topic ids
    requests: set[int] = field(default_factory=set)
    offer_types: set[tuple[str, int]] = field(default_factory=set)  # (type, topic id)
    request_types: set[tuple[str, int]] = field(default_factory=set)
    offer_kinds: set[str] = field(default_factory=set)  # item types
    request_kinds: set[str] = field(default_factory=set)
    expertise: set[int] = field(default_factory=set)
    interests: set[int] = field(default_factory=set)
    languages: dict[str, str] = field(default_factory=dict)  # code → stored name


def _load(*, participant: Participant) -> dict[int, _Person]:
    """Me and every participant of my event listed to me, keyed by participant id. The
    profile's expertise, interests and languages only of those whose profile the
    directory shows me (and mine): someone listed only because they show their card to
    everyone is matched on their offers, requests and organisation kind alone."""
    event_id = participant.event_id
    visible = profiles_visible_to(viewer=participant.user)
    listed = marketplace.with_profile_visible(
        marketplace.participants_listed(event=participant.event, viewer=participant.user),
        visible=visible,
    )
    rows = list(
        listed.values_list(
            "pk",
            "organisation_kind",
            "max_meetings",
            "user__profile__id",
            "user__profile__display_name",
            "user__profile__organisation_id",
            "profile_visible",
        )
    )
    if not any(row[0] == participant.pk for row in rows):
        rows += [
            (*row, True)
            for row in Participant.objects.filter(pk=participant.pk).values_list(
                "pk",
                "organisation_kind",
                "max_meetings",
                "user__profile__id",
                "user__profile__display_name",
                "user__profile__organisation_id",
            )
        ]
    people = {
        pk: _Person(
            pk=pk,
            kind=kind,
            max_meetings=cap,
            profile_id=profile_id,
            name=name or "",
            organisation_id=organisation_id,
        )
        for pk, kind, cap, profile_id, name, organisation_id, _visible in rows
    }
    by_profile = {
        people[pk].profile_id: people[pk]
        for pk, *_, visible in rows
        if people[pk].profile_id and (visible or pk == participant.pk)
    }
    # The profiles of the event's participants, by a join rather than 2,000 ids.
    of_event = {"profile__user__brokerage_participations__event_id": event_id}

    items = MarketItem.objects.filter(participant__event_id=event_id).values_list(
        "pk", "participant_id", "direction", "type"
    )
    item_of: dict[int, tuple[_Person, str, str]] = {}
    for pk, participant_id, direction, kind in items:
        person = people.get(participant_id)
        if person is None:
            continue
        item_of[pk] = (person, direction, kind)
        (person.offer_kinds if direction == OFFER else person.request_kinds).add(kind)
    item_topics = MarketItem.topics.through.objects.filter(
        marketitem__participant__event_id=event_id
    ).values_list("marketitem_id", "topic_id")
    for item_id, topic_id in item_topics:
        if item_id not in item_of:
            continue
        person, direction, kind = item_of[item_id]
        if direction == OFFER:
            person.offers.add(topic_id)
            person.offer_types.add((kind, topic_id))
        else:
            person.requests.add(topic_id)
            person.request_types.add((kind, topic_id))

    for through, attr in (
        (Profile.expertise.through, "expertise"),
        (Profile.interests.through, "interests"),
    ):
        for profile_id, topic_id in through.objects.filter(**of_event).values_list(
            "profile_id", "topic_id"
        ):
            if profile_id in by_profile:
                getattr(by_profile[profile_id], attr).add(topic_id)
    for profile_id, code, name in Profile.languages.through.objects.filter(**of_event).values_list(
        "profile_id", "language__code", "language__name"
    ):
        if profile_id in by_profile:
            by_profile[profile_id].languages[code] = name
    return people


def _unavailable(*, participant: Participant, people: dict[int, _Person]) -> set[int]:
    """Participants not to recommend: my colleagues (a brokerage day is for meeting other
    organisations), those I have a live, past or declined meeting with, and those at their
    maximum of meetings (counted as `selectors.commitments_of` does:
    accepted meetings, either side, and the requests they sent that wait for an answer)."""
    commitments: dict[int, int] = defaultdict(int)
    mine: set[int] = set()
    rows = Meeting.objects.filter(
        Q(status__in=Meeting.LIVE_STATUSES)
        | (
            Q(status=Meeting.Status.DECLINED)
            & (Q(requester=participant) | Q(recipient=participant))
        ),
        event_id=participant.event_id,
    ).values_list("requester_id", "recipient_id", "status")
    for requester_id, recipient_id, status in rows:
        if participant.pk in (requester_id, recipient_id):
            mine.add(recipient_id if requester_id == participant.pk else requester_id)
        if status == Meeting.Status.ACCEPTED:
            commitments[requester_id] += 1
            commitments[recipient_id] += 1
        elif status == Meeting.Status.PENDING:
            commitments[requester_id] += 1
    full = {pk for pk, person in people.items() if commitments[pk] >= person.max_meetings}
    my_organisation = people[participant.pk].organisation_id if participant.pk in people else None
    colleagues = {
        pk
        for pk, person in people.items()
        if my_organisation is not None and person.organisation_id == my_organisation
    }
    return mine | full | colleagues | {participant.pk}


# (my side, their side, reason with shared topics, reason with item types only)
FIT_MESSAGES = (
    (
        "request",
        "offer",
        gettext_noop("%(name)s offers %(topics)s, which you are looking for"),
        gettext_noop("%(name)s offers %(type)s, which you are looking for"),
    ),
    (
        "offer",
        "request",
        gettext_noop("%(name)s is looking for %(topics)s, which you offer"),
        gettext_noop("%(name)s is looking for %(type)s, which you offer"),
    ),
)


def _score(
    me: _Person, them: _Person, *, explain: bool = False
) -> tuple[float, list[tuple[float, Explanation]]]:
    """The candidate's score and, with `explain`, their weighted reasons (topic ids still
    as ids). Scoring everyone needs no words: only the shown few are explained."""
    reasons: list[tuple[float, Explanation]] = []
    score = 0.0
    name = them.name

    def add(part: float, build) -> None:
        nonlocal score
        score += part
        if explain:
            reasons.append((part, build()))

    for mine, theirs, msg, type_msg in FIT_MESSAGES:
        shared = getattr(me, f"{mine}s") & getattr(them, f"{theirs}s")
        if shared:
            typed = getattr(me, f"{mine}_types") & getattr(them, f"{theirs}_types")
            add(
                W_TOPIC_FIT * len(shared) + W_TYPE_ON_TOPIC * len({t for _, t in typed}),
                lambda msg=msg, shared=shared: explanations.gettext(
                    msg, name=name, topics=sorted(shared)
                ),
            )
            continue
        kinds = getattr(me, f"{mine}_kinds") & getattr(them, f"{theirs}_kinds")
        if kinds:
            add(
                W_TYPE_ONLY * len(kinds),
                lambda type_msg=type_msg, kinds=kinds: explanations.gettext(
                    type_msg,
                    name=name,
                    type=[explanations.gettext(TYPE_WORDS[k]) for k in sorted(kinds)],
                ),
            )

    knows = them.expertise & me.interests
    if knows:
        add(
            W_PROFILE_FIT * len(knows),
            lambda: explanations.gettext(
                "%(name)s has expertise in %(topics)s, which interests you",
                name=name,
                topics=sorted(knows),
            ),
        )
    wants = them.interests & me.expertise
    if wants:
        add(
            W_PROFILE_FIT * len(wants),
            lambda: explanations.gettext(
                "%(name)s is interested in %(topics)s, your expertise",
                name=name,
                topics=sorted(wants),
            ),
        )
    common = ((me.interests | me.expertise) & (them.interests | them.expertise)) - knows - wants
    if common:
        add(
            W_SHARED * len(common),
            lambda: explanations.gettext(
                "You share an interest in %(topics)s", topics=sorted(common)
            ),
        )
    if them.kind in COMPLEMENTARY_KINDS.get(me.kind, ()):
        add(
            W_KINDS,
            lambda: explanations.gettext(
                "Organisations that complement each other: %(theirs)s and %(mine)s",
                theirs={"kind": them.kind},
                mine={"kind": me.kind},
            ),
        )
    if score <= 0:
        return 0.0, []
    languages = set(me.languages) & set(them.languages)
    if languages:
        add(
            W_LANGUAGE,
            lambda: explanations.gettext(
                "You both speak %(languages)s",
                languages=[{"language": c, "name": them.languages[c]} for c in sorted(languages)],
            ),
        )
    return score, reasons


def _name_topics(reason: Explanation, names: dict[int, str]) -> Explanation:
    args = reason.get("args", {})
    if "topics" in args:
        args["topics"] = [names.get(pk, "") for pk in args["topics"]]
    return reason


def recommendations_for(*, participant: Participant, limit: int = 20) -> list[Recommendation]:
    """The people `participant` should meet, best first, each with up to four reasons."""
    people = _load(participant=participant)
    me = people.get(participant.pk)
    if me is None:
        return []
    excluded = _unavailable(participant=participant, people=people)
    scored: list[tuple[float, str, int]] = []
    for pk, them in people.items():
        if pk in excluded:
            continue
        score, _ = _score(me, them)
        if score > 0:
            scored.append((score, them.name.casefold(), pk))
    scored.sort()
    scored.sort(key=lambda row: -row[0])  # stable: by name, then id, within a score
    top = [
        (score, name, pk, _score(me, people[pk], explain=True)[1])
        for score, name, pk in scored[:limit]
    ]
    topic_ids = {
        pk
        for *_, reasons in top
        for _, reason in reasons
        for pk in reason.get("args", {}).get("topics", ())
    }
    names = dict(Topic.objects.filter(pk__in=topic_ids).values_list("pk", "name"))
    shown = Participant.objects.select_related("user__profile__organisation").in_bulk(
        [pk for _, _, pk, _ in top]
    )
    result = []
    for score, _, pk, reasons in top:
        reasons.sort(key=lambda row: -row[0])
        result.append(
            Recommendation(
                participant=shown[pk],
                score=round(score, 1),
                reasons=[_name_topics(r, names) for _, r in reasons[:MAX_REASONS]],
            )
        )
    return result
