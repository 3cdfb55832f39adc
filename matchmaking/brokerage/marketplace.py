"""The marketplace of a brokerage event: browsing and searching its participants and
their offers and requests.

Reads only. Every function is scoped to one event, and the caller has already checked
that the viewer may see the marketplace (a participant or a managing organiser). Who is
listed depends on the viewer (`participants_listed`): a participant whose profile the
directory shows the viewer, or who chose to show their card to every participant of the
day. A profile hidden from the directory never appears here, nor a person without a
profile or who no longer has a seat.

The query count is constant whatever the page size: the page of participants (with
profile and organisation joined), their shown items, and those items' topics — three
queries, plus the paginator's count. Every filter is scoped by the event first
(`Participant(event, organisation_kind)` index); the rest narrows at most the event's own
rows.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.functions import Lower

from events.models import Event
from matchmaking.brokerage.models import MarketItem, Participant
from matchmaking.brokerage.selectors import seated
from members.models import Organisation, Profile, Topic, User
from members.selectors import profiles_visible_to


@dataclass(frozen=True)
class MarketFilters:
    """What a viewer narrows the marketplace by; empty values do not narrow."""

    kind: str = ""  # Organisation.Kind
    country: str = ""  # ISO code: the organisation's country, else the person's
    topic: int | None = None  # a topic of one of the participant's items
    item_type: str = ""  # MarketItem.Type
    direction: str = ""  # MarketItem.Direction
    q: str = ""  # free text: name, organisation, headline, an item's title or text

    @property
    def narrows_items(self) -> bool:
        return bool(self.topic or self.item_type or self.direction)


def _items_filter(filters: MarketFilters) -> Q:
    condition = Q()
    if filters.item_type:
        condition &= Q(type=filters.item_type)
    if filters.direction:
        condition &= Q(direction=filters.direction)
    if filters.topic:
        condition &= Q(topics=filters.topic)
    return condition


def participants_listed(*, event: Event, viewer: User) -> QuerySet[Participant]:
    """The event's participants that may be shown to `viewer`: still with a seat, with a
    profile not hidden from the directory, and either shown to the viewer by the
    directory's rules (`members.selectors.profiles_visible_to`) or who chose to be shown
    to every participant of the day (`shown_to_all`).

    Listed through `shown_to_all` only, a person is shown by what they gave the
    marketplace — name, organisation, kind, country, headline, offers and requests —
    never by the profile's job title, biography, expertise, interests or languages (see
    `with_profile_visible`). One uncorrelated subquery, not a query per row."""
    return _listed(event=event, visible=profiles_visible_to(viewer=viewer))


def _listed(*, event: Event, visible: QuerySet[Profile]) -> QuerySet[Participant]:
    listed = (
        Participant.objects.filter(event=event, user__is_active=True, user__profile__isnull=False)
        .exclude(user__profile__visibility=Profile.Visibility.HIDDEN)
        .filter(Q(shown_to_all=True) | Q(user__profile__in=visible.values("pk")))
    )
    return seated(listed)


def with_profile_visible(
    participants: QuerySet[Participant], *, visible: QuerySet[Profile]
) -> QuerySet[Participant]:
    """`participants`, each annotated `profile_visible`: whether the directory shows the
    viewer (whose `profiles_visible_to` is `visible`) the person's profile, and so its
    job title, biography, expertise, interests and languages."""
    return participants.annotate(
        profile_visible=Exists(visible.filter(pk=OuterRef("user__profile__pk")))
    )


def marketplace_search(
    *,
    event: Event,
    viewer: User,
    filters: MarketFilters,
    exclude: Participant | None = None,
) -> QuerySet[Participant]:
    """The participants the filters leave, by name, each with `profile` and organisation
    joined and `shown_items` (their items, narrowed by the item filters) prefetched with
    their topics."""
    participants = participants_listed(event=event, viewer=viewer)
    if exclude is not None:
        participants = participants.exclude(pk=exclude.pk)
    if filters.kind:
        participants = participants.filter(organisation_kind=filters.kind)
    if filters.country:
        participants = participants.filter(
            Q(user__profile__organisation__country=filters.country)
            | Q(
                user__profile__organisation__isnull=True,
                user__profile__country=filters.country,
            )
        )
    item_condition = _items_filter(filters)
    if filters.narrows_items:
        participants = participants.filter(
            Exists(MarketItem.objects.filter(item_condition, participant=OuterRef("pk")))
        )
    text = filters.q.strip()
    if text:
        participants = participants.filter(
            Q(user__profile__display_name__icontains=text)
            | Q(user__profile__organisation__name__icontains=text)
            | Q(headline__icontains=text)
            | Exists(
                MarketItem.objects.filter(
                    Q(title__icontains=text) | Q(description__icontains=text),
                    participant=OuterRef("pk"),
                )
            )
        )
    shown_items = (
        MarketItem.objects.filter(item_condition)
        .order_by("direction", "type", "pk")
        .prefetch_related(Prefetch("topics", queryset=Topic.objects.order_by("name")))
    )
    return (
        participants.select_related("user__profile__organisation")
        .prefetch_related(Prefetch("items", queryset=shown_items, to_attr="shown_items"))
        .order_by(Lower("user__profile__display_name"), "pk")
    )


def participant_get_listed(*, event: Event, viewer: User, pk: int) -> Participant | None:
    """One participant listed to `viewer`, with all their items (and topics) and, when the
    directory shows the viewer their profile, the profile's languages, expertise and
    interests; None when not listed to the viewer or not of this event."""
    visible = profiles_visible_to(viewer=viewer)
    found = (
        with_profile_visible(_listed(event=event, visible=visible), visible=visible)
        .select_related("user__profile__organisation")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=MarketItem.objects.order_by("direction", "type", "pk").prefetch_related(
                    Prefetch("topics", queryset=Topic.objects.order_by("name"))
                ),
                to_attr="shown_items",
            )
        )
        .filter(pk=pk)
        .first()
    )
    if found is not None and found.profile_visible:
        prefetch_related_objects([found.user.profile], "languages", "expertise", "interests")
    return found


FACETS_SECONDS = 60


def market_facets(*, event: Event, viewer: User) -> dict:
    """The choices the filter form offers `viewer`: the topics used by the items and the
    countries of the participants listed to them (two queries, then kept a minute in the
    cache, per viewer: a new topic or country may reach the filters that much later)."""
    key = f"brokerage:facets:{event.pk}:{viewer.pk}"
    facets = cache.get(key)
    if facets is None:
        facets = _market_facets(event=event, viewer=viewer)
        cache.set(key, facets, FACETS_SECONDS)
    # Kinds are words of the reader's language: never cached.
    return {**facets, "kinds": Organisation.Kind.choices}


def _market_facets(*, event: Event, viewer: User) -> dict:
    listed = participants_listed(event=event, viewer=viewer)
    topics = list(
        Topic.objects.filter(
            pk__in=MarketItem.topics.through.objects.filter(
                marketitem__participant__in=listed.values("pk")
            ).values("topic_id")
        ).order_by("name")
    )
    countries = {
        code
        for pair in listed.values_list(
            "user__profile__organisation__country", "user__profile__country"
        )
        for code in (pair[0] or pair[1],)
        if code
    }
    return {
        "topics": [(topic.pk, topic.name) for topic in topics],
        "countries": sorted(countries),
    }


def market_counts(*, event: Event, viewer: User) -> dict[str, int]:
    """How many people, offers and requests the marketplace lists to `viewer` (three
    queries)."""
    listed = participants_listed(event=event, viewer=viewer)
    return {
        "participants": listed.count(),
        "offers": MarketItem.objects.filter(
            participant__in=listed.values("pk"), direction=MarketItem.Direction.OFFER
        ).count(),
        "requests": MarketItem.objects.filter(
            participant__in=listed.values("pk"), direction=MarketItem.Direction.REQUEST
        ).count(),
    }
