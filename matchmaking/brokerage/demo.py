"""The demo brokerage days that `manage.py seed_demo` adds after the events and mentoring demo.

"Cross-Cluster Matchmaking Day", organised by all three clusters, lies a little over three
weeks ahead (a Thursday, in Linz): 80 participants from the three clusters with confirmed
registrations (most of them, 85 %, show their card to every participant of the day, so
the marketplace is full across clusters), each with one to three offers and requests
drawn from their profile (what they know is offered, what they are interested in is
requested, the kind of item from the kind of their organisation), two meeting blocks of
20-minute slots (10:00–12:20 and 14:00–17:20, the 15:20 slot a coffee break) and 24
tables. The organiser runs the
scheduler: meeting requests are in every state (waiting with an expiry ahead, accepted,
declined, expired, withdrawn); the accepted ones were placed by the scheduler
(`scheduling.schedule_run` + `schedule_publish`), so everyone has a published agenda and
got it by mail with its calendar entries. Half of the acceptances came after publishing
and wait for the next run: the organiser's "Run scheduler" has something to place (the
published meetings stay where they are) and shows the bound. Anna Keller, Luca Romano and
Jan de Vries (the printed member logins) take part: each has an agenda, and Anna has
requests waiting for her answer.

A day in the future cannot show what happens after it, so the same day had a first
edition nine weeks ago in Rotterdam: "Cross-Cluster Matchmaking Day (first edition)",
completed, with 56 participants who attended, its schedule published before the day,
meetings checked in, and both sides' answers afterwards (did it take place, may it lead to
cooperation), so the organisers' funnel goes all the way to "follow-up intended".

Dating: like the mentoring demo, a day is built once, around the Monday of the week of
the first run (`events.demo.demo_anchor`); when its event exists it belongs to the
organisers, and a second run changes nothing and queues no mail.

How it is written: the event setup goes through `day_setup` (settings, blocks and their
slots, breaks, tables) and the upcoming day's schedule through the scheduler's own
services, which also mail each participant their agenda. The rest is history, written
directly in bulk as `events.demo` writes past registrations: registrations, participants,
their offers and requests, the meeting requests and their answers at past dates (through
the services they would each queue a mail, hundreds of them, and take seconds), and the
first edition's placement (its run's assignment, written with its seats), check-ins and
feedback. Everything follows from the members plan and fixed seeds
(`random.Random(2031)`).
"""

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events.demo import demo_anchor
from events.models import Event, Registration
from matchmaking.brokerage import day_setup, scheduling
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
)
from members.demo import TOPIC_PHRASES, DemoPlan, PersonPlan, demo_plan
from members.models import Cluster, Language, Organisation, Profile, Topic, User

SEED = 2031

MAIN_SLUG = "cross-cluster-matchmaking-day"
PAST_SLUG = "cross-cluster-matchmaking-day-first-edition"
CLUSTERS = ("mechatronics", "maritime", "textiles")
ORGANISER = "organiser@mechatronics.example"  # created the events; all three manage them
FIXED_MEMBERS = ("anna.keller@demo.example", "luca.romano@demo.example",
                 "jan.devries@demo.example")  # fmt: skip
ANNA = FIXED_MEMBERS[0]

Kind = Organisation.Kind
IType = MarketItem.Type
Offer, Request = MarketItem.Direction.OFFER, MarketItem.Direction.REQUEST
MStatus = Meeting.Status


@dataclass(frozen=True)
class DaySpec:
    slug: str
    title: str
    weeks: int  # from the anchor (a Monday) to the Monday of the day's week
    zone: str
    venue: tuple[str, str]
    participants: int
    past: bool


DAYS = (
    DaySpec(MAIN_SLUG, "Cross-Cluster Matchmaking Day", 3, "Europe/Vienna",
            ("DanuMech Innovation Hub", "Hafenstraße 12, 4020 Linz, Austria"), 80, past=False),
    DaySpec(PAST_SLUG, "Cross-Cluster Matchmaking Day (first edition)", -9, "Europe/Amsterdam",
            ("Delta Maritime Campus", "Kanaalweg 41, 3011 Rotterdam, Netherlands"), 56, past=True),
)  # fmt: skip
TOPICS = ("research-collaboration", "internationalisation", "supply-chain", "green-transition")
TABLES = 24
LATE_SHARE = 0.5  # of the upcoming day's acceptances: after the schedule was published
# Of the participants: show their card to every participant of the day (the others only to
# the people who may see their member profile, mostly of their own cluster).
SHOWN_TO_ALL_SHARE = 0.85
# (name, start, end) in the day's zone; 20-minute slots; the slot at BREAK is a coffee break.
BLOCKS = (("Morning meetings", time(10, 0), time(12, 20)),
          ("Afternoon meetings", time(14, 0), time(17, 20)))  # fmt: skip
BREAK = time(15, 20)

# What an organisation of each kind offers and looks for, as item types.
KIND_ITEMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Kind.SME: (
        (IType.PRODUCT, IType.TECHNOLOGY, IType.EXPERTISE),
        (IType.COOPERATION, IType.INVESTMENT, IType.PARTNERSHIP),
    ),
    Kind.LARGE_COMPANY: (
        (IType.COOPERATION, IType.PARTNERSHIP, IType.PRODUCT),
        (IType.TECHNOLOGY, IType.RESEARCH_PROJECT, IType.PRODUCT),
    ),
    Kind.RESEARCH: (
        (IType.RESEARCH_PROJECT, IType.EXPERTISE, IType.TECHNOLOGY),
        (IType.PARTNERSHIP, IType.COOPERATION),
    ),
    Kind.INVESTOR: ((IType.INVESTMENT,), (IType.TECHNOLOGY, IType.PRODUCT)),
    Kind.PUBLIC_BODY: ((IType.EXPERTISE, IType.COOPERATION), (IType.PARTNERSHIP,)),
}
OTHER_ITEMS = ((IType.EXPERTISE, IType.COOPERATION), (IType.COOPERATION, IType.PARTNERSHIP))
TITLES = {
    (Offer, IType.PRODUCT): "Our products for {phrase}",
    (Offer, IType.TECHNOLOGY): "Proven technology for {phrase}",
    (Offer, IType.EXPERTISE): "Expertise in {phrase}",
    (Offer, IType.COOPERATION): "Pilot projects in {phrase} with members",
    (Offer, IType.PARTNERSHIP): "Long-term partnership in {phrase}",
    (Offer, IType.RESEARCH_PROJECT): "Joint research project on {phrase}",
    (Offer, IType.INVESTMENT): "Growth capital for companies in {phrase}",
    (Request, IType.PRODUCT): "Suppliers for {phrase}",
    (Request, IType.TECHNOLOGY): "Technology partner for {phrase}",
    (Request, IType.EXPERTISE): "Advice on {phrase}",
    (Request, IType.COOPERATION): "Partners to try out {phrase}",
    (Request, IType.PARTNERSHIP): "Industrial partners for {phrase}",
    (Request, IType.RESEARCH_PROJECT): "A university partner on {phrase}",
    (Request, IType.INVESTMENT): "Investors for our next step in {phrase}",
}
DESCRIPTIONS = {
    Offer: (
        "We have worked on {phrase} for years and are glad to share what worked.",
        "Reference projects with two cluster members; we can show results on site.",
        "Open to small first steps: a visit, a trial, then a project.",
    ),
    Request: (
        "We want to start on {phrase} within the next year and need someone who has done it.",
        "Looking for a partner for an EU funding application on {phrase}.",
        "A first conversation is enough; we are open to different kinds of cooperation.",
    ),
}
MESSAGES = (
    "Hello, your offer on {phrase} is close to what we are looking for. Twenty minutes?",
    "We are planning a project on {phrase} and would like to hear your experience.",
    "I saw your item in the marketplace; could we talk about {phrase}?",
    "Our team works on {phrase} too; maybe there is a project for both of us.",
    "",
)
HEADLINES = (
    "Looking for partners in {want}; offering {offer}.",
    "Here to meet people working on {want}.",
    "{Offer}; curious about {want}.",
)
# Interests that are not business to be done at a table (they have their own programmes).
NOT_FOR_TRADE = {"women-in-leadership", "gender-equality", "leadership"}


# --- The plan -----------------------------------------------------------------------------


@dataclass
class ItemPlan:
    direction: str
    type: str
    title: str
    description: str
    topics: tuple[str, ...]


@dataclass
class PersonOfDay:
    person: PersonPlan
    kind: str
    cluster: str
    blocks: tuple[int, ...]  # indices into BLOCKS
    max_meetings: int
    headline: str
    items: list[ItemPlan] = field(default_factory=list)
    shown_to_all: bool = False  # their card shown to every participant of the day


@dataclass
class MeetingPlan:
    requester: str
    recipient: str
    status: str
    message: str
    late: bool = False  # accepted after the schedule was published


def _people(network: DemoPlan, n: int, rng: random.Random) -> list[tuple[PersonPlan, str, str]]:
    """`n` people from the three clusters' organisations, about a third from each, the
    demo member logins among them: (person, organisation kind, cluster)."""
    orgs = {o.slug: o for o in network.organisations}
    by_cluster: dict[str, list[tuple[PersonPlan, str, str]]] = defaultdict(list)
    for p in network.people:
        if not p.organisation or p.is_staff or p.organiser_of or p.requested:
            continue
        if p.visibility == Profile.Visibility.HIDDEN:
            continue  # they chose not to be found; the marketplace would hide them
        org = orgs[p.organisation]
        clusters = [c for c in CLUSTERS if c in org.clusters]
        if clusters:
            by_cluster[clusters[0]].append((p, org.kind, clusters[0]))
    chosen = [entry for c in CLUSTERS for entry in by_cluster[c] if entry[0].email in FIXED_MEMBERS]
    taken = {p.email for p, _, _ in chosen}
    for i, cluster in enumerate(CLUSTERS):
        want = (n - len(chosen)) // (len(CLUSTERS) - i)
        pool = sorted((e for e in by_cluster[cluster] if e[0].email not in taken),
                      key=lambda e: e[0].email)  # fmt: skip
        picked = rng.sample(pool, min(want, len(pool)))
        chosen += picked
        taken |= {p.email for p, _, _ in picked}
    return chosen


def _items(person: PersonPlan, kind: str, rng: random.Random) -> list[ItemPlan]:
    offers_types, requests_types = KIND_ITEMS.get(kind, OTHER_ITEMS)
    items = []
    n_offers = 1 if len(person.expertise) < 2 or rng.random() < 0.5 else 2
    n_requests = 1 if not person.interests or rng.random() < 0.6 else 2
    plan = [
        (Offer, offers_types, person.expertise, n_offers),
        (Request, requests_types, person.interests or person.expertise, n_requests),
    ]
    for direction, types, topics, count in plan:
        topics = [t for t in topics if t in TOPIC_PHRASES and t not in NOT_FOR_TRADE] or [
            "research-collaboration"
        ]
        for i in range(min(count, len(topics))):
            if len(items) == 3:
                break
            topic = topics[i]
            type_ = rng.choice(types)
            phrase = TOPIC_PHRASES[topic]
            also = [t for t in topics if t != topic][:1]
            items.append(
                ItemPlan(
                    direction=direction,
                    type=type_,
                    title=TITLES[direction, type_].format(phrase=phrase),
                    description=rng.choice(DESCRIPTIONS[direction]).format(phrase=phrase),
                    topics=(topic, *also),
                )
            )
    return items


def _fit(a: PersonOfDay, b: PersonOfDay) -> float:
    """How much `a` would want to meet `b`: what a looks for that b offers, across clusters."""
    wanted = {t for i in a.items if i.direction == Request for t in i.topics}
    offered = {t for i in b.items if i.direction == Offer for t in i.topics}
    return 2 * len(wanted & offered) + (a.cluster != b.cluster) + 0.5 * (a.kind != b.kind)


def _meetings(day: list[PersonOfDay], *, past: bool, rng: random.Random) -> list[MeetingPlan]:
    """Meeting requests between the day's people, in every state, within everyone's cap."""
    by_email = {p.person.email: p for p in day}
    pairs: set[frozenset[str]] = set()
    accepted: Counter[str] = Counter()
    plans: list[MeetingPlan] = []

    def add(a: PersonOfDay, b: PersonOfDay, status: str, **extra) -> None:
        if status == MStatus.ACCEPTED:
            cap = min(a.max_meetings, b.max_meetings, len(a.blocks) * 6)
            if accepted[a.person.email] >= cap or accepted[b.person.email] >= cap:
                status = MStatus.DECLINED  # b's day was full
            else:
                accepted[a.person.email] += 1
                accepted[b.person.email] += 1
        topics = [t for i in b.items if i.direction == Offer for t in i.topics]
        phrase = TOPIC_PHRASES.get(topics[0] if topics else "", "your work")
        pairs.add(frozenset((a.person.email, b.person.email)))
        plans.append(
            MeetingPlan(
                a.person.email,
                b.person.email,
                status,
                rng.choice(MESSAGES).format(phrase=phrase),
                **extra,
            )  # fmt: skip
        )

    order = list(day)
    rng.shuffle(order)
    for a in order:
        ranked = sorted(
            (b for b in day if b is not a),
            key=lambda b: _fit(a, b) + 2 * rng.random(),
            reverse=True,
        )
        for b in ranked[: rng.randint(2, 6)]:
            if frozenset((a.person.email, b.person.email)) in pairs:
                continue
            roll = rng.random()
            if roll < 0.70:
                status = MStatus.ACCEPTED
            elif roll < 0.80:
                status = MStatus.EXPIRED if past else MStatus.PENDING
            elif roll < 0.91:
                status = MStatus.DECLINED
            elif roll < 0.97:
                status = MStatus.EXPIRED
            else:
                status = MStatus.WITHDRAWN
            # Half of the acceptances came after the schedule was published: the
            # organiser's next run of the scheduler places them.
            late = status == MStatus.ACCEPTED and not past and rng.random() < LATE_SHARE
            add(a, b, status, late=late)
    if not past:
        # Requests waiting for Anna's answer (the demo login).
        anna = by_email[ANNA]
        for b in sorted(day, key=lambda b: _fit(b, anna) + rng.random(), reverse=True):
            if sum(m.recipient == ANNA and m.status == MStatus.PENDING for m in plans) >= 3:
                break
            if b is not anna and frozenset((b.person.email, ANNA)) not in pairs:
                add(b, anna, MStatus.PENDING)
    return plans


def plan_day(spec: DaySpec, network: DemoPlan) -> tuple[list[PersonOfDay], list[MeetingPlan]]:
    rng = random.Random(f"{SEED}:{spec.slug}")
    # A draw of its own, so that who opted in leaves the rest of the day as it was.
    consent = random.Random(f"{SEED}:{spec.slug}:shown")
    day = []
    for person, kind, cluster in _people(network, spec.participants, rng):
        blocks = (0, 1) if rng.random() < 0.85 or person.email in FIXED_MEMBERS else (
            (rng.choice((0, 1)),)
        )  # fmt: skip
        items = _items(person, kind, rng)
        offer = next((i for i in items if i.direction == Offer), items[0])
        want = next((i for i in items if i.direction == Request), items[-1])
        headline = rng.choice(HEADLINES).format(
            want=TOPIC_PHRASES[want.topics[0]],
            offer=offer.title[0].lower() + offer.title[1:],
            Offer=offer.title,
        )
        day.append(
            PersonOfDay(
                person=person,
                kind=kind,
                cluster=cluster,
                blocks=blocks,
                max_meetings=rng.choice((6, 8, 8, 10, 10, 12)),
                headline=headline[:200],
                items=items,
                shown_to_all=person.email in FIXED_MEMBERS or consent.random() < SHOWN_TO_ALL_SHARE,
            )
        )
    return day, _meetings(day, past=spec.past, rng=rng)


# --- Bringing it into the database --------------------------------------------------------


@dataclass
class DemoBrokerage:
    totals: dict[str, int]
    created: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        summary = ", ".join(f"{n} {name}" for name, n in self.totals.items())
        changes = "; ".join(f"created {n} {name}" for name, n in self.created.items())
        return f"Brokerage demo ({summary}): {changes or 'already up to date'}."


def _at(day: date, moment: time, zone: str) -> datetime:
    return datetime.combine(day, moment, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _create_event(spec: DaySpec, anchor: datetime, refs: dict) -> Event:
    day = (anchor + timedelta(weeks=spec.weeks, days=3)).date()  # a Thursday
    starts_at, ends_at = _at(day, time(9, 30), spec.zone), _at(day, time(17, 30), spec.zone)
    event = Event.objects.create(
        slug=spec.slug,
        kind=Event.Kind.BROKERAGE,
        title=spec.title,
        summary="Pre-arranged 20-minute one-to-one meetings between members of three clusters.",
        description=(
            f"## {spec.title}\n\nFirms, universities, investors and public bodies of the "
            "Danube Mechatronics Alliance, the North Sea Maritime & Logistics Network and the "
            "Euro-Med Smart Textiles Cluster meet one to one at 24 tables.\n\n"
            "- Publish what you offer and what you look for in the marketplace\n"
            "- Ask the people you want to meet; accept or decline the requests you receive\n"
            "- The organisers schedule the accepted meetings; your agenda arrives by mail\n"
        ),
        timezone=spec.zone,
        starts_at=starts_at,
        ends_at=ends_at,
        venue_name=spec.venue[0],
        venue_address=spec.venue[1],
        capacity=100,
        registration_opens_at=starts_at - timedelta(weeks=10),
        registration_closes_at=starts_at - timedelta(days=2),
        audience=Event.Audience.MEMBERS,
        status=Event.Status.COMPLETED if spec.past else Event.Status.PUBLISHED,
        language=refs["languages"]["en"],
        created_by=refs["users"][ORGANISER],
        materials_url=(
            f"https://files.example.org/clusterhub/{spec.slug}/table-plan.pdf" if spec.past else ""
        ),
    )
    event.clusters.set(refs["clusters"].values())
    event.topics.set([refs["topics"][t] for t in TOPICS if t in refs["topics"]])
    return event


def _set_up_day(event: Event, spec: DaySpec) -> None:
    """Settings, blocks (their slots), the break and the tables, through `day_setup`."""
    day = event.starts_at.astimezone(ZoneInfo(spec.zone)).date()
    day_setup.brokerage_settings_for(event=event)
    day_setup.brokerage_settings_update(
        event=event,
        scheduling=BrokerageSettings.Scheduling.SCHEDULER,
        request_expiry_hours=72,
        default_max_meetings=10,
    )
    for name, start, end in BLOCKS:
        day_setup.block_create(
            event=event,
            name=name,
            starts_at=_at(day, start, spec.zone),
            ends_at=_at(day, end, spec.zone),
            slot_minutes=20,
            gap_minutes=0,
        )
    coffee = Slot.objects.get(event=event, starts_at=_at(day, BREAK, spec.zone))
    day_setup.slot_set_break(slot=coffee, is_break=True)
    day_setup.tables_create_numbered(event=event, count=TABLES)


def _seed_people(event: Event, spec: DaySpec, day: list[PersonOfDay], refs: dict, rng) -> dict:
    """Registrations, participants with their blocks, offers and requests (bulk)."""
    users = refs["users"]
    status = Registration.Status.ATTENDED if spec.past else Registration.Status.CONFIRMED
    Registration.objects.bulk_create(
        [
            Registration(
                event=event,
                user=users[p.person.email],
                status=status,
                checked_in_at=(
                    event.starts_at + timedelta(minutes=rng.randint(-20, 40)) if spec.past else None
                ),
            )
            for p in day
        ]
    )
    participants = Participant.objects.bulk_create(
        [
            Participant(
                event=event,
                user=users[p.person.email],
                organisation_kind=p.kind,
                headline=p.headline,
                max_meetings=p.max_meetings,
                shown_to_all=p.shown_to_all,
            )
            for p in day
        ]
    )
    blocks = list(event.meeting_blocks.order_by("starts_at"))
    Participant.blocks.through.objects.bulk_create(
        [
            Participant.blocks.through(participant=participant, meetingblock=blocks[i])
            for participant, p in zip(participants, day, strict=True)
            for i in p.blocks
        ]
    )
    items, item_topics = [], []
    for participant, p in zip(participants, day, strict=True):
        for item in p.items:
            items.append(
                MarketItem(
                    participant=participant,
                    direction=item.direction,
                    type=item.type,
                    title=item.title,
                    description=item.description,
                )
            )
            item_topics.append(item.topics)
    MarketItem.objects.bulk_create(items)
    Through = MarketItem.topics.through  # noqa: N806 -- a model class
    Through.objects.bulk_create(
        [
            Through(marketitem=item, topic=refs["topics"][slug])
            for item, slugs in zip(items, item_topics, strict=True)
            for slug in slugs
            if slug in refs["topics"]
        ]
    )
    return {p.person.email: participant for participant, p in zip(participants, day, strict=True)}


def _seed_requests(
    event: Event, plans: list[MeetingPlan], participants: dict, now: datetime, rng
) -> list[Meeting]:
    """The meeting requests with their answers, dated before `now` (bulk)."""
    expiry = timedelta(hours=72)
    rows, dates = [], []
    for plan in plans:
        if plan.status == MStatus.PENDING:
            created = now - timedelta(hours=rng.randint(2, 60))
        else:
            created = now - timedelta(days=rng.randint(4, 20), hours=rng.randint(0, 23))
        answered = None
        if plan.late:  # accepted just now, after the schedule was published
            created, answered = now - timedelta(days=rng.randint(1, 6)), now
        elif plan.status in (MStatus.ACCEPTED, MStatus.DECLINED):
            answered = created + timedelta(hours=rng.randint(1, 50))
        elif plan.status == MStatus.WITHDRAWN:
            answered = created + timedelta(hours=rng.randint(1, 20))
        rows.append(
            Meeting(
                event=event,
                requester=participants[plan.requester],
                recipient=participants[plan.recipient],
                message=plan.message,
                status=plan.status,
                expires_at=created + expiry
                if plan.status in (MStatus.PENDING, MStatus.EXPIRED)
                else None,
                answered_at=answered,
            )
        )
        dates.append(created)
    meetings = Meeting.objects.bulk_create(rows)
    for meeting, created in zip(meetings, dates, strict=True):
        meeting.created_at = created
    Meeting.objects.bulk_update(meetings, ["created_at"])
    return meetings


def _place_history(run: ScheduleRun, published_at: datetime) -> int:
    """Write a past run's assignment as it was published then: slots, tables and seats."""
    meetings = Meeting.objects.in_bulk([m for m, _, _ in run.assignment])
    seats = []
    for meeting_id, slot_id, table_id in run.assignment:
        meeting = meetings[meeting_id]
        meeting.slot_id, meeting.table_id, meeting.published_at = slot_id, table_id, published_at
        seats += [
            MeetingSeat(meeting=meeting, participant_id=side, slot_id=slot_id)
            for side in (meeting.requester_id, meeting.recipient_id)
        ]
    Meeting.objects.bulk_update(meetings.values(), ["slot", "table", "published_at"])
    MeetingSeat.objects.bulk_create(seats)
    run.published_at = published_at
    run.save(update_fields=["published_at"])
    BrokerageSettings.objects.filter(event_id=run.event_id).update(
        schedule_published_at=published_at
    )
    return len(seats) // 2


def _feedback(event: Event, rng: random.Random) -> int:
    """Check-ins on the day and both sides' answers after it (bulk)."""
    placed = list(
        Meeting.objects.filter(event=event, status=MStatus.ACCEPTED, slot__isnull=False)
        .select_related("slot")
        .order_by("pk")
    )
    for meeting in placed:
        held = rng.random() < 0.9
        meeting.checked_in_at = (
            meeting.slot.starts_at + timedelta(minutes=rng.randint(0, 3)) if held else None
        )
        follow_up = held and rng.random() < 0.45
        for side in ("requester", "recipient"):
            if rng.random() < 0.82:  # most answered the question afterwards
                setattr(meeting, f"{side}_held", held)
                setattr(
                    meeting,
                    f"{side}_follow_up",
                    (follow_up or rng.random() < 0.1) if held else None,
                )
    Meeting.objects.bulk_update(
        placed,
        ["checked_in_at", "requester_held", "recipient_held", "requester_follow_up",
         "recipient_follow_up"],
    )  # fmt: skip
    return sum(m.requester_held is not None or m.recipient_held is not None for m in placed)


def _seed_day(spec: DaySpec, network: DemoPlan, anchor: datetime, refs: dict, result) -> Event:
    rng = random.Random(f"{SEED}:{spec.slug}:rows")
    day, plans = plan_day(spec, network)
    organiser = refs["users"][ORGANISER]
    event = _create_event(spec, anchor, refs)
    _set_up_day(event, spec)
    participants = _seed_people(event, spec, day, refs, rng)
    now = timezone.now()
    # The first edition's requests were made in the weeks before its day.
    made_by = event.starts_at - timedelta(days=3) if spec.past else now
    early = [p for p in plans if not p.late]
    _seed_requests(event, early, participants, made_by, rng)
    run = scheduling.schedule_run(event=event, by=organiser, time_limit=5)
    if spec.past:
        placed = _place_history(run, published_at=event.starts_at - timedelta(days=2))
        ScheduleRun.objects.filter(pk=run.pk).update(created_at=event.starts_at - timedelta(days=2))
        result.created["meetings held"] += _feedback(event, rng)
    else:
        placed = scheduling.schedule_publish(run=run, by=organiser)
        _seed_requests(event, [p for p in plans if p.late], participants, now, rng)
    result.created["brokerage days"] += 1
    result.created["participants"] += len(participants)
    result.created["meeting requests"] += len(plans)
    result.created["meetings scheduled"] += placed
    return event


@transaction.atomic
def demo_seed(*, stdout_write: Callable[[str], object] | None = None) -> DemoBrokerage:
    """Add the demo brokerage days once; a second run changes nothing."""
    say = stdout_write or (lambda message: None)
    result = DemoBrokerage(totals={})
    existing = set(
        Event.objects.filter(slug__in=[d.slug for d in DAYS]).values_list("slug", flat=True)
    )
    todo = [d for d in DAYS if d.slug not in existing]
    if todo:
        network = demo_plan()
        emails = {p.email for p in network.people}
        refs = {
            "users": {u.email: u for u in User.objects.filter(email__in=emails)},
            "clusters": {c.slug: c for c in Cluster.objects.filter(slug__in=CLUSTERS)},
            "topics": {t.slug: t for t in Topic.objects.all()},
            "languages": {lang.code: lang for lang in Language.objects.all()},
        }
        if ORGANISER not in refs["users"] or len(refs["clusters"]) != len(CLUSTERS):
            raise RuntimeError("The demo members are missing: run the members demo seed first.")
        anchor = demo_anchor()
        for spec in todo:
            _seed_day(spec, network, anchor, refs, result)
        say(f"{len(todo)} demo brokerage days built")
    say(
        f"Brokerage day: /networking/{MAIN_SLUG}/manage/schedule/ for the cluster organisers "
        f"(run the scheduler), /networking/{MAIN_SLUG}/agenda/ for {', '.join(FIXED_MEMBERS)}"
    )
    events = Event.objects.filter(slug__in=[d.slug for d in DAYS])
    meetings = Meeting.objects.filter(event__in=events)
    result.totals = {
        "brokerage days": events.count(),
        "participants": Participant.objects.filter(event__in=events).count(),
        "meeting requests": meetings.count(),
        "meetings scheduled": meetings.filter(
            status=MStatus.ACCEPTED, slot__isnull=False, published_at__isnull=False
        ).count(),
        "with feedback": meetings.filter(
            Q(requester_held__isnull=False) | Q(recipient_held__isnull=False)
        ).count(),
    }
    return result
