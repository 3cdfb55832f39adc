"""The marketplace of a brokerage event: browsing and searching its participants and
their offers and requests.

Reads only. Every function is scoped to one event, and the caller has already checked
that the viewer may see the marketplace (a participant or a managing organiser). A
participant whose profile is hidden from the directory never appears here, nor one
without a profile or who no longer has a seat.

The query count is constant whatever the page size: the page of participants (with
profile and organisation joined), their shown items, and those items' topics — three
queries, plus the paginator's count. Every filter is scoped by the event first
(`Participant(event, organisation_kind)` index); the rest narrows at most the event's own
rows.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from events.models import Event
from matchmaking.brokerage.models import MarketItem, Participant
from matchmaking.brokerage.selectors import seated
from members.models import Organisation, Profile, Topic


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


def participants_listed(*, event: Event) -> QuerySet[Participant]:
    """The event's participants that may be shown to others: still with a seat, with a
    profile not hidden from the directory."""
    listed = Participant.objects.filter(event=event, user__profile__isnull=False).exclude(
        user__profile__visibility=Profile.Visibility.HIDDEN
    )
    return seated(listed)


def marketplace_search(
    *, event: Event, filters: MarketFilters, exclude: Participant | None = None
) -> QuerySet[Participant]:
    """The participants the filters leave, by name, each with `profile` and organisation
    joined and `shown_items` (their items, narrowed by the item filters) prefetched with
    their topics."""
    participants = participants_listed(event=event)
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


def participant_get_listed(*, event: Event, pk: int) -> Participant | None:
    """One listed participant with all their items (and topics) and the profile's
    languages, expertise and interests; None when hidden or not of this event."""
    return (
        participants_listed(event=event)
        .select_related("user__profile__organisation")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=MarketItem.objects.order_by("direction", "type", "pk").prefetch_related(
                    Prefetch("topics", queryset=Topic.objects.order_by("name"))
                ),
                to_attr="shown_items",
            ),
            "user__profile__languages",
            "user__profile__expertise",
            "user__profile__interests",
        )
        .filter(pk=pk)
        .first()
    )


FACETS_SECONDS = 60


def market_facets(*, event: Event) -> dict:
    """The choices the filter form offers: the topics used by the items and the countries
    of the event's listed participants (two queries, then kept a minute in the cache: a
    new topic or country may reach the filters that much later)."""
    key = f"brokerage:facets:{event.pk}"
    facets = cache.get(key)
    if facets is None:
        facets = _market_facets(event=event)
        cache.set(key, facets, FACETS_SECONDS)
    # Kinds are words of the reader's language: never cached.
    return {**facets, "kinds": Organisation.Kind.choices}


def _market_facets(*, event: Event) -> dict:
    listed = participants_listed(event=event)
    topics = list(
        Topic.objects.filter(
            pk__in=MarketItem.topics.through.objects.filter(
                marketitem__participant__in=listed
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


def market_counts(*, event: Event) -> dict[str, int]:
    """How many people, offers and requests the marketplace lists (three queries)."""
    listed = participants_listed(event=event)
    return {
        "participants": listed.count(),
        "offers": MarketItem.objects.filter(
            participant__in=listed, direction=MarketItem.Direction.OFFER
        ).count(),
        "requests": MarketItem.objects.filter(
            participant__in=listed, direction=MarketItem.Direction.REQUEST
        ).count(),
    }
