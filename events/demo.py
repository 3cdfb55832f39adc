"""The demo events that `manage.py seed_demo` adds once the members demo network exists.

A year of events of every kind around a fixed anchor, the Monday of the current week at
00:00 UTC: about twenty completed events in the past year (recordings, materials,
attendance and check-ins) and about twenty ahead (published, a few drafts, one cancelled,
one needing approval, an invitation-only mentoring circle, some nearly full, some with a
waitlist), plus "Smart Manufacturing Days", a two-day conference next month with three
parallel tracks, keynotes and panels. Every title, venue and guest is invented.

So that the demo shows mail: one webinar starts within the next day (its start is the
current six-hour block of the clock plus 18 hours, so 12 to 18 hours ahead; it moves only
when a later block begins), with the demo members registered, and the seed ends with one
reminder sweep (`events.reminders.reminders_send_due`), so their reminders are in the
mailbox. One invitation campaign (a cluster and a topic) for an upcoming event is created
and sent through `events.campaigns`, once: it is found again by its event, organiser and
message. Reminders and invitations are deduplicated by the outbox's keys, so a second run
queues nothing.

Like `members.demo`, everything is planned in memory first from a fixed seed
(`random.Random(2028)`), then the database is brought in line with the plan. Events are
keyed by slug (stable: it comes from the title of a fixed catalogue entry, never from a
date), sessions by (event, title), registrations by (event, session, user); dates follow
the anchor, so a run in a later week moves them, and a second run in the same week
changes nothing. Upcoming registrations go through `events.services.event_register`, so
capacity, waitlist and approval rules hold (the messages it queues land wherever mail is
configured: files under var/mail/ in the demo). Past registrations are history and are
written directly.
"""

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from events import campaigns, reminders, services
from events.models import Campaign, Event, Invitation, Registration, Session, StageRole
from members.demo import CLUSTERS, DemoPlan, demo_plan
from members.models import Cluster, GenderIdentity, Language, Profile, Topic, User

SEED = 2028

Kind = Event.Kind
Audience = Event.Audience
EStatus = Event.Status
RStatus = Registration.Status
SKind = Session.Kind
Role = StageRole.Role
Gender = GenderIdentity.Gender

CLUSTER_ZONES = {"mechatronics": "Europe/Vienna", "maritime": "Europe/Amsterdam",
                 "textiles": "Europe/Rome"}  # fmt: skip
VENUES: dict[str, list[tuple[str, str]]] = {
    "mechatronics": [
        ("DanuMech Innovation Hub", "Hafenstraße 12, 4020 Linz, Austria"),
        ("Traunviertel Technology Centre", "Technologiepark 3, 4400 Steyr, Austria"),
    ],
    "maritime": [
        ("NSML Harbour Office", "Havenkade 8, 4381 Vlissingen, Netherlands"),
        ("Delta Maritime Campus", "Kanaalweg 41, 3011 Rotterdam, Netherlands"),
    ],
    "textiles": [
        ("SmartTex Lab", "Via della Lana 22, 13900 Biella, Italy"),
        ("Casa del Tessile", "Corso Torino 5, 10121 Turin, Italy"),
    ],
}
PLATFORMS = ("Zoom", "Microsoft Teams", "Jitsi Meet", "BigBlueButton")
CAPACITY = {Kind.WEBINAR: 100, Kind.TRAINING: 20, Kind.BROKERAGE: 60, Kind.SITE_VISIT: 20,
            Kind.CONFERENCE: 250, Kind.MENTORING_CIRCLE: 8}  # fmt: skip
REGISTRANTS = {Kind.WEBINAR: (18, 45), Kind.TRAINING: (10, 18), Kind.BROKERAGE: (20, 45),
               Kind.SITE_VISIT: (8, 17), Kind.CONFERENCE: (60, 90)}  # fmt: skip
SUMMARY = {
    Kind.WEBINAR: "A one-hour online session with time for questions.",
    Kind.TRAINING: "A hands-on course over several dates, for practitioners.",
    Kind.BROKERAGE: "Pre-arranged 20-minute one-to-one meetings between members.",
    Kind.SITE_VISIT: "A guided tour on site, followed by coffee and an open discussion.",
    Kind.CONFERENCE: "Talks, panels and workshops over one or more days.",
    Kind.MENTORING_CIRCLE: "A small closed group meeting once a month.",
}

# (kind, organising clusters, title, topics, extras). The first PAST_COUNT entries lie in
# the past year, the rest in the year ahead. A slug comes from its entry's title.
CATALOGUE: list[tuple[str, tuple[str, ...], str, tuple[str, ...], dict[str, Any]]] = [
    (Kind.WEBINAR, ("mechatronics",), "Servo Drive Efficiency: Measuring What Matters",
     ("energy-efficiency", "industry-4-0"), {}),
    (Kind.TRAINING, ("maritime",), "Port Cybersecurity Basics", ("cybersecurity",),
     {"dates": 3}),
    (Kind.BROKERAGE, ("textiles",), "Circular Textiles B2B Matchmaking Day",
     ("circular-economy", "supply-chain"), {}),
    (Kind.SITE_VISIT, ("mechatronics",), "Site Visit: Traunstein Motion Systems Assembly Line",
     ("robotics", "industry-4-0"), {}),
    (Kind.WEBINAR, ("maritime",), "Green Corridors: Funding for Low-Emission Shipping",
     ("funding", "green-transition"), {}),
    (Kind.CONFERENCE, ("textiles",), "SmartTex Annual Members' Meeting",
     ("circular-economy", "product-design"), {}),
    (Kind.WEBINAR, ("textiles",), "Protecting Your Designs: IP Basics for Fashion SMEs",
     ("intellectual-property",), {"language": "it"}),
    (Kind.TRAINING, ("mechatronics",), "Cobot Safety Training", ("robotics", "skills-training"),
     {"dates": 2, "language": "de"}),
    (Kind.MENTORING_CIRCLE, ("mechatronics",), "Mentoring Circle: Women in Engineering Leadership",
     ("women-in-leadership", "leadership"), {"circle": True}),
    (Kind.SITE_VISIT, ("maritime",), "Behind the Scenes at Scheldemond Shipyards",
     ("green-transition",), {}),
    (Kind.WEBINAR, ("mechatronics",), "Applied AI for Predictive Maintenance",
     ("artificial-intelligence", "big-data"), {}),
    (Kind.BROKERAGE, ("maritime",), "North Sea Logistics Meet & Match", ("supply-chain",), {}),
    (Kind.WEBINAR, ("textiles",), "Low-Water Dyeing: Results from the Pilot Line",
     ("green-transition", "circular-economy"), {}),
    (Kind.TRAINING, ("textiles",), "Digital Marketing for Textile Brands",
     ("marketing-sales", "digital-skills"), {"dates": 2}),
    (Kind.WEBINAR, ("maritime",), "Data Sharing in Port Community Systems",
     ("big-data", "internet-of-things"), {}),
    (Kind.SITE_VISIT, ("textiles",), "Mill Tour: Lanificio Valsesia", ("circular-economy",), {}),
    (Kind.WEBINAR, ("mechatronics", "textiles"), "Wearable Sensors: Where Electronics Meet Fabric",
     ("internet-of-things", "product-design"), {}),
    (Kind.BROKERAGE, ("mechatronics",), "Automotive Supplier Day", ("supply-chain",),
     {"language": "de"}),
    (Kind.WEBINAR, ("mechatronics", "maritime", "textiles"),
     "Horizon Europe Cluster Calls Explained", ("funding", "research-collaboration"),
     {"audience": Audience.PUBLIC}),
    (Kind.TRAINING, ("maritime",), "Leadership for New Team Leads", ("leadership",),
     {"dates": 3}),
    # --- the year ahead ---
    (Kind.WEBINAR, ("mechatronics",), "Patch Management for Industrial IoT",
     ("cybersecurity", "internet-of-things"), {"capacity": 30, "registrants": 36}),
    (Kind.WEBINAR, ("maritime",), "Shore Power: Lessons from Three Ports",
     ("energy-efficiency", "green-transition"), {"audience": Audience.PUBLIC}),
    (Kind.MENTORING_CIRCLE, ("maritime",), "Mentoring Circle: First-Time Team Leads",
     ("leadership", "skills-training"), {"circle": True}),
    (Kind.TRAINING, ("textiles",), "Life-Cycle Assessment for Textile Products",
     ("circular-economy", "green-transition"), {"dates": 3, "capacity": 20, "registrants": 19}),
    (Kind.BROKERAGE, ("maritime",), "Offshore Wind Supply Chain B2B Day",
     ("supply-chain", "internationalisation"), {"approval_required": True}),
    (Kind.SITE_VISIT, ("mechatronics",), "Site Visit: Bohemian Institute of Robotics Labs",
     ("robotics", "research-collaboration"), {"capacity": 15, "registrants": 20}),
    (Kind.WEBINAR, ("textiles",), "Smart Fabrics Market Outlook",
     ("marketing-sales", "product-design"), {}),
    (Kind.WEBINAR, ("mechatronics", "maritime", "textiles"),
     "Women in Industrial Leadership: A Fireside Chat", ("women-in-leadership", "leadership"),
     {"audience": Audience.PUBLIC}),
    (Kind.TRAINING, ("mechatronics",), "Additive Manufacturing for Tooling",
     ("additive-manufacturing",), {"dates": 2}),
    (Kind.WEBINAR, ("maritime",), "Cold Chain Digitalisation", ("supply-chain", "big-data"),
     {"status": EStatus.CANCELLED}),
    (Kind.BROKERAGE, ("textiles",), "Euro-Med Textile Sourcing Meetings",
     ("supply-chain", "internationalisation"), {}),
    (Kind.WEBINAR, ("mechatronics",), "Funding Clinic: Regional Innovation Vouchers",
     ("funding",), {"status": EStatus.DRAFT}),
    (Kind.SITE_VISIT, ("maritime",), "Container Terminal Automation Tour",
     ("robotics", "supply-chain"), {"capacity": 25, "registrants": 23}),
    (Kind.WEBINAR, ("textiles",), "Recycled Fibres: Quality Standards Update",
     ("circular-economy",), {}),
    (Kind.TRAINING, ("maritime",), "Cybersecurity Incident Response Drill", ("cybersecurity",),
     {"dates": 2}),
    (Kind.WEBINAR, ("textiles",), "Digital Product Passports for Textiles",
     ("digital-skills", "circular-economy"), {"status": EStatus.DRAFT}),
    (Kind.WEBINAR, ("mechatronics",), "Robotics Start-up Pitch Night",
     ("entrepreneurship", "robotics"), {}),
    (Kind.BROKERAGE, ("mechatronics", "maritime"), "Cross-Cluster Innovation Brokerage",
     ("research-collaboration", "internationalisation"), {}),
    (Kind.SITE_VISIT, ("textiles",), "Technical Textiles Lab Visit in Roubaix",
     ("product-design",), {"language": "fr"}),
    (Kind.WEBINAR, ("mechatronics", "maritime", "textiles"),
     "Public Procurement of Innovation: A Primer", ("public-procurement", "funding"),
     {"audience": Audience.PUBLIC}),
]  # fmt: skip
PAST_COUNT = 20
CONFERENCE_SLUG = "smart-manufacturing-days"

# The webinar that starts within the next day (its reminders are due), and the campaign.
SOON_TITLE = "Energy Monitoring Quick Wins for the Shop Floor"
SOON_BLOCK = timedelta(hours=6)
SOON_AHEAD = timedelta(hours=18)
CAMPAIGN_EVENT = "smart-fabrics-market-outlook"
CAMPAIGN_CLUSTER = "textiles"
CAMPAIGN_TOPIC = "circular-economy"
CAMPAIGN_MESSAGE = (
    "We would love to see you at this webinar: the market outlook for smart fabrics, "
    "with time for your questions. One click on the link below registers you."
)

# People the demo knows only by name: external guests of the conference.
GUEST_KEYNOTE = ("Dr. Helena Marchetti", "European Institute for Industrial Futures")
GUEST_PANELLIST = ("Tomasz Wróbel", "Baltic Automation Forum")


# --- The plan ---------------------------------------------------------------------------


@dataclass
class StagePlan:
    role: str
    email: str = ""  # a member; or a guest:
    guest_name: str = ""
    guest_organisation: str = ""
    guest_gender: str = ""  # recorded only with the guest's consent
    session: str | None = None  # session title, or None for the whole event


@dataclass
class SessionPlan:
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    track: str = ""
    room: str = ""
    capacity: int | None = None
    description: str = ""


@dataclass
class EventPlan:
    slug: str
    values: dict[str, Any]  # Event fields
    clusters: tuple[str, ...]
    topics: tuple[str, ...]
    language: str
    organiser: str  # e-mail
    sessions: list[SessionPlan] = field(default_factory=list)
    stage: list[StagePlan] = field(default_factory=list)
    invitations: list[str] = field(default_factory=list)
    registrants: list[str] = field(default_factory=list)  # e-mails, in registration order
    session_registrants: dict[str, list[str]] = field(default_factory=dict)

    @property
    def past(self) -> bool:
        return self.values["status"] == EStatus.COMPLETED


def demo_anchor(now: datetime | None = None) -> datetime:
    """The Monday of the current week at 00:00 UTC: every demo date is relative to it."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(0), tzinfo=UTC)


def _at(day: date, hour: int, minute: int, zone: str) -> datetime:
    """A wall-clock time in the event's zone, as UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _organiser_email(cluster: str) -> str:
    return f"organiser@{cluster}.example"


class _People:
    """The members demo network's people, for choosing speakers and registrants."""

    def __init__(self, network: DemoPlan, rng: random.Random) -> None:
        people = network.people
        cluster_of_org = {o.slug: set(o.clusters) for o in network.organisations}
        self.by_email = {p.email: p for p in people}
        self.fixed = [p.email for p in people if p.email.endswith("@demo.example")]
        self.clusters_of = {
            p.email: cluster_of_org.get(p.organisation, set()) if p.organisation else set()
            for p in people
        }
        # People of an organisation in some cluster today: not a pending request, nor the
        # people of an organisation that has left its cluster.
        self.members = [p.email for p in people if self.clusters_of[p.email] and not p.is_staff]
        self.rng = rng

    def in_clusters(self, clusters: tuple[str, ...]) -> list[str]:
        return [e for e in self.members if self.clusters_of[e] & set(clusters)]

    def pick(self, pool: list[str], n: int, *, avoid: set[str] = frozenset()) -> list[str]:
        candidates = [e for e in pool if e not in avoid]
        return self.rng.sample(candidates, min(n, len(candidates)))

    def of_gender(
        self, pool: list[str], gender: str, n: int, avoid: set[str], *, counted: bool = False
    ) -> list[str]:
        """`n` people of a gender; `counted`: only those who agreed to be counted in the
        statistics (so that, e.g., the all-male panel shows as one on the balance pages)."""
        fitting = [
            e for e in pool
            if self.by_email[e].gender == gender
            and (not counted or self.by_email[e].statistics_consent)
        ]  # fmt: skip
        return self.pick(fitting, n, avoid=avoid)


def _plan_catalogue_event(
    index: int, entry: tuple, anchor: datetime, rng: random.Random, people: _People
) -> EventPlan:
    kind, clusters, title, topics, extra = entry
    past = index < PAST_COUNT
    zone = CLUSTER_ZONES[clusters[0]]
    # Spread over the past year (the last in the week before this one) and over the year
    # ahead (the first in the coming week).
    week = -2 - (PAST_COUNT - 1 - index) * 5 // 2 if past else 1 + (index - PAST_COUNT) * 5 // 2
    day = (anchor + timedelta(weeks=week, days=rng.choice((1, 2, 3)))).date()
    hour = rng.choice((10, 14)) if kind == Kind.WEBINAR else rng.choice((9, 13))
    hours = {Kind.WEBINAR: 1, Kind.SITE_VISIT: 3, Kind.BROKERAGE: 5, Kind.CONFERENCE: 7}
    sessions: list[SessionPlan] = []
    starts_at = _at(day, hour, 0, zone)
    ends_at = starts_at + timedelta(hours=hours.get(kind, 4))
    slug = slugify(title)[:110]
    if extra.get("dates"):
        for n in range(extra["dates"]):
            start = _at(day + timedelta(weeks=n), 9, 0, zone)
            sessions.append(
                SessionPlan(f"Day {n + 1}", SKind.WORKSHOP, start, start + timedelta(hours=4))
            )
    if extra.get("circle"):
        first = day - timedelta(weeks=20) if past else day
        for n in range(6):
            start = _at(first + timedelta(weeks=4 * n), 17, 30, zone)
            sessions.append(
                SessionPlan(f"Meeting {n + 1}", SKind.MEETING, start, start + timedelta(hours=1.5))
            )
    if kind == Kind.CONFERENCE:
        agenda = (("Welcome and the year in review", 9), ("Member projects", 10),
                  ("Working groups report", 11), ("General assembly", 14))  # fmt: skip
        for talk, hour_ in agenda:
            start = _at(day, hour_, 0, zone)
            sessions.append(
                SessionPlan(talk, SKind.TALK, start, start + timedelta(minutes=50), room="Hall")
            )
    if sessions:
        starts_at, ends_at = sessions[0].starts_at, max(s.ends_at for s in sessions)

    status = extra.get("status", EStatus.COMPLETED if past else EStatus.PUBLISHED)
    audience = extra.get("audience")
    if audience is None:
        if extra.get("circle"):
            audience = Audience.INVITATION
        elif kind == Kind.WEBINAR and rng.random() < 0.4:
            audience = Audience.PUBLIC
        else:
            audience = Audience.MEMBERS
    online = kind == Kind.WEBINAR or (extra.get("circle") and not past)
    venue_name, venue_address = ("", "") if online else rng.choice(VENUES[clusters[0]])
    capacity = extra.get("capacity", CAPACITY[kind] if kind != Kind.WEBINAR or rng.random() < 0.7
                         else None)  # fmt: skip
    values = {
        "kind": kind,
        "title": title,
        "summary": SUMMARY[kind],
        "description": (
            f"## {title}\n\n{SUMMARY[kind]} Organised by the "
            + " and the ".join(c["name"] for c in CLUSTERS if c["slug"] in clusters)
            + ".\n\n- Who: members working on "
            + ", ".join(t.replace("-", " ") for t in topics)
            + "\n- Bring: your questions and a business card\n"
        ),
        "timezone": zone,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "venue_name": venue_name,
        "venue_address": venue_address,
        "online_platform": rng.choice(PLATFORMS) if online else "",
        "online_url": f"https://meet.example.org/clusterhub/{slug}" if online else "",
        "capacity": capacity,
        # Open for ten weeks, and open already for everything ahead.
        "registration_opens_at": min(starts_at - timedelta(weeks=10), anchor - timedelta(weeks=2)),
        "registration_closes_at": starts_at - timedelta(hours=12),
        "audience": audience,
        "approval_required": extra.get("approval_required", False),
        "status": status,
        "materials_url": f"https://files.example.org/clusterhub/{slug}/slides.pdf" if past else "",
        "recording_url": (
            f"https://video.example.org/clusterhub/{slug}" if past and kind == Kind.WEBINAR else ""
        ),
    }
    plan = EventPlan(
        slug=slug,
        values=values,
        clusters=clusters,
        topics=topics,
        language=extra.get("language", "en"),
        organiser=_organiser_email(clusters[0]),
        sessions=sessions,
    )
    pool = people.members if audience == Audience.PUBLIC else people.in_clusters(clusters)
    if kind in (Kind.WEBINAR, Kind.TRAINING, Kind.CONFERENCE):
        for email in people.pick(pool, 1 if kind != Kind.CONFERENCE else 3):
            plan.stage.append(StagePlan(Role.SPEAKER, email=email))
    if extra.get("circle"):
        circle = people.pick(pool, 6)
        fixed = [e for e in people.fixed if people.clusters_of[e] & set(clusters)]
        circle = list(dict.fromkeys([*fixed, *circle]))[:6]
        plan.invitations = circle
        plan.registrants = circle
        plan.stage.append(StagePlan(Role.MODERATOR, email=circle[-1]))
        return plan
    if status in (EStatus.DRAFT, EStatus.CANCELLED):
        return plan
    low, high = REGISTRANTS[kind]
    n = extra.get("registrants", rng.randint(low, high))
    registrants = people.pick(pool, n)
    for email in people.fixed:  # every demo login has something to show
        if email in pool and email not in registrants and rng.random() < 0.45:
            registrants.insert(rng.randrange(len(registrants) + 1), email)
    plan.registrants = registrants
    return plan


def _plan_conference(anchor: datetime, rng: random.Random, people: _People) -> EventPlan:
    """Two days next month, three parallel tracks, keynotes and panels."""
    zone = "Europe/Vienna"
    first = (anchor + timedelta(weeks=4, days=1)).date()  # a Tuesday next month
    tracks = [("Automation & Robotics", "Hall A"), ("Smart Materials", "Hall B"),
              ("Data & Security", "Room C")]  # fmt: skip
    plenary = ("Plenary", "Main Hall")
    S = SessionPlan  # noqa: N806 -- a table reads better with a short name

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return _at(first + timedelta(days=day), hour, minute, zone)

    talks = {
        0: ["Cobots on the Shop Floor: Three Years of Data", "Recycled Fibres in Car Interiors",
            "Anomaly Detection on Drive Telemetry", "Vision-Guided Picking at Scale",
            "Conductive Yarns Without Compromise", "Zero Trust for OT Networks"],
        1: ["Digital Twins for Small Batch Production", "Textile Sensors for Predictive Comfort",
            "Federated Learning Across Plants", "Retrofitting Legacy Machines",
            "Bio-Based Coatings for Technical Fabrics", "Secure Remote Maintenance"],
    }  # fmt: skip
    sessions = [
        S("Opening Keynote: The Self-Optimising Factory", SKind.KEYNOTE, at(0, 9), at(0, 9, 45),
          *plenary),
        S("Coffee Break", SKind.BREAK, at(0, 11), at(0, 11, 30), *plenary),
        S("Panel: Who Will Run the Factory of 2035?", SKind.PANEL, at(0, 11, 30), at(0, 12, 30),
          *tracks[0]),
        S("Workshop: Cobot Programming Hands-On", SKind.WORKSHOP, at(0, 11, 30), at(0, 12, 30),
          *tracks[1], capacity=20),
        S("Lunch", SKind.BREAK, at(0, 12, 30), at(0, 13, 30), *plenary),
        S("Panel: Skills for the Twin Transition", SKind.PANEL, at(0, 15, 30), at(0, 16, 30),
          *plenary),
        S("Keynote: Materials That Think", SKind.KEYNOTE, at(1, 9), at(1, 9, 45), *plenary),
        S("Workshop: Securing Your First OPC UA Server", SKind.WORKSHOP, at(1, 11, 30),
          at(1, 12, 30), *tracks[2], capacity=25),
        S("Closing Session and Awards", SKind.TALK, at(1, 14), at(1, 14, 45), *plenary),
    ]  # fmt: skip
    for day, titles in talks.items():
        for slot, hour in enumerate((10, 14) if day == 0 else (10, 13)):  # day two ends early
            for t, (track, room) in enumerate(tracks):
                sessions.append(S(titles[slot * 3 + t], SKind.TALK, at(day, hour),
                                  at(day, hour, 50), track, room))  # fmt: skip
    sessions.sort(key=lambda s: (s.starts_at, s.track))
    slug = CONFERENCE_SLUG
    values = {
        "kind": Kind.CONFERENCE,
        "title": "Smart Manufacturing Days",
        "summary": "Two days of talks, panels and hands-on workshops on automation, smart "
        "materials and industrial data, co-organised by DanuMech and SmartTex.",
        "description": (
            "## Smart Manufacturing Days\n\nThree parallel tracks (**Automation & Robotics**, "
            "**Smart Materials**, **Data & Security**), two keynotes, two panels and two "
            "hands-on workshops with limited seats. Register for the conference first, then "
            "choose your workshop.\n"
        ),
        "timezone": zone,
        "starts_at": sessions[0].starts_at,
        "ends_at": max(s.ends_at for s in sessions),
        "venue_name": "Danube Congress Centre",
        "venue_address": "Donaulände 7, 4020 Linz, Austria",
        "online_platform": "",
        "online_url": "",
        "capacity": 250,
        "registration_opens_at": sessions[0].starts_at - timedelta(weeks=12),
        "registration_closes_at": sessions[0].starts_at - timedelta(days=2),
        "audience": Audience.PUBLIC,
        "approval_required": False,
        "status": EStatus.PUBLISHED,
        "materials_url": "",
        "recording_url": "",
    }
    clusters = ("mechatronics", "textiles")
    plan = EventPlan(
        slug=slug,
        values=values,
        clusters=clusters,
        topics=("industry-4-0", "robotics", "product-design", "cybersecurity"),
        language="en",
        organiser=_organiser_email("mechatronics"),
        sessions=sessions,
    )
    pool = people.in_clusters(clusters)
    used: set[str] = set()

    def take(gender: str, n: int, *, counted: bool = False) -> list[str]:
        chosen = people.of_gender(pool, gender, n, used, counted=counted)
        used.update(chosen)
        return chosen

    all_male = "Panel: Who Will Run the Factory of 2035?"
    balanced = "Panel: Skills for the Twin Transition"
    plan.stage += [
        StagePlan(Role.PANELLIST, email=e, session=all_male)
        for e in take(Gender.MAN, 4, counted=True)
    ]
    plan.stage += [
        StagePlan(Role.MODERATOR, email=e, session=all_male)
        for e in take(Gender.MAN, 1, counted=True)
    ]
    plan.stage += [
        StagePlan(Role.MODERATOR, email=e, session=balanced)
        for e in take(Gender.WOMAN, 1) + take(Gender.MAN, 1)
    ]
    plan.stage += [
        StagePlan(Role.PANELLIST, email=e, session=balanced)
        for e in take(Gender.WOMAN, 2) + take(Gender.MAN, 2)
    ]
    plan.stage += [
        StagePlan(Role.PANELLIST, guest_name=GUEST_PANELLIST[0],
                  guest_organisation=GUEST_PANELLIST[1], session=balanced),
        StagePlan(Role.SPEAKER, guest_name=GUEST_KEYNOTE[0], guest_organisation=GUEST_KEYNOTE[1],
                  guest_gender=Gender.WOMAN, session=sessions[0].title),
    ]  # fmt: skip
    for s in sessions:
        if s.kind in (SKind.TALK, SKind.WORKSHOP) or s.title.startswith("Keynote"):
            speaker = people.pick(pool, 1, avoid=used)
            used.update(speaker)
            plan.stage += [StagePlan(Role.SPEAKER, email=e, session=s.title) for e in speaker]

    registrants = people.pick(pool, rng.randint(*REGISTRANTS[Kind.CONFERENCE]))
    registrants = list(dict.fromkeys([*people.fixed, *registrants]))
    plan.registrants = registrants
    # The cobot workshop overflows into a waitlist; the OPC UA one stays nearly full.
    plan.session_registrants = {
        "Workshop: Cobot Programming Hands-On": registrants[:27],
        "Workshop: Securing Your First OPC UA Server": registrants[27:50],
    }
    return plan


def soon_starts_at(now: datetime | None = None) -> datetime:
    """When the webinar "within the next day" starts: 12 to 18 hours after `now`."""
    now = now or timezone.now()
    midnight = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    block = (now - midnight) // SOON_BLOCK
    return midnight + block * SOON_BLOCK + SOON_AHEAD


def _plan_soon_event(anchor: datetime, now: datetime, people: _People) -> EventPlan:
    """A webinar starting within the next day, the demo members registered: reminders due."""
    rng = random.Random(f"{SEED}:soon")
    clusters = ("mechatronics",)
    topics = ("energy-efficiency", "internet-of-things")
    starts_at = soon_starts_at(now)
    slug = slugify(SOON_TITLE)
    plan = EventPlan(
        slug=slug,
        values={
            "kind": Kind.WEBINAR,
            "title": SOON_TITLE,
            "summary": SUMMARY[Kind.WEBINAR],
            "description": (
                f"## {SOON_TITLE}\n\nThree metering set-ups that paid for themselves within a "
                "year, shown by the members who run them.\n\n- Who: production and energy "
                "managers\n- Bring: last year's energy bill\n"
            ),
            "timezone": CLUSTER_ZONES["mechatronics"],
            "starts_at": starts_at,
            "ends_at": starts_at + timedelta(hours=1),
            "venue_name": "",
            "venue_address": "",
            "online_platform": PLATFORMS[0],
            "online_url": f"https://meet.example.org/clusterhub/{slug}",
            "capacity": 100,
            "registration_opens_at": anchor - timedelta(weeks=2),
            "registration_closes_at": starts_at - timedelta(hours=1),
            "audience": Audience.MEMBERS,
            "approval_required": False,
            "status": EStatus.PUBLISHED,
            "materials_url": "",
            "recording_url": "",
        },
        clusters=clusters,
        topics=topics,
        language="en",
        organiser=_organiser_email(clusters[0]),
    )
    pool = people.in_clusters(clusters)
    speaker = rng.choice(sorted(pool))
    plan.stage.append(StagePlan(Role.SPEAKER, email=speaker))
    fixed = [e for e in people.fixed if e in pool]
    others = rng.sample(sorted(set(pool) - {speaker, *fixed}), 20)
    plan.registrants = [*fixed, *others]
    return plan


def demo_events_plan(
    *, anchor: datetime | None = None, now: datetime | None = None
) -> list[EventPlan]:
    """Every demo event, planned in memory: the same slugs on every run."""
    anchor = anchor or demo_anchor(now)
    rng = random.Random(SEED)
    people = _People(demo_plan(), rng)
    plans = [
        _plan_catalogue_event(i, entry, anchor, rng, people) for i, entry in enumerate(CATALOGUE)
    ]
    plans.append(_plan_conference(anchor, rng, people))
    plans.append(_plan_soon_event(anchor, now or timezone.now(), people))
    assert len({p.slug for p in plans}) == len(plans), "demo event slugs must be unique"
    return plans


# --- Bringing the database in line with the plan ----------------------------------------


@dataclass
class DemoEvents:
    totals: dict[str, int]
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        summary = ", ".join(f"{n} {name}" for name, n in self.totals.items())
        changes = "; ".join(
            [f"created {n} {name}" for name, n in self.created.items()]
            + [f"updated {n} {name}" for name, n in self.updated.items()]
        )
        return f"Demo events ({summary}): {changes or 'already up to date'}."


def _sync(obj: Any, values: dict[str, Any]) -> list[str]:
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


TIME_PLACE_STATUS = {"starts_at", "ends_at", "venue_name", "venue_address", "online_url",
                     "status"}  # fmt: skip


def _seed_event(plan: EventPlan, refs: dict[str, Any], result: DemoEvents) -> Event:
    values = {
        **plan.values,
        "language": refs["languages"][plan.language],
        "created_by": refs["users"][plan.organiser],
    }
    event = refs["events"].get(plan.slug)
    fresh = event is None
    if fresh:
        event = Event.objects.create(slug=plan.slug, **values)
        result.created["events"] += 1
    else:
        changed = _sync(event, values)
        if changed:
            if TIME_PLACE_STATUS & set(changed):
                event.sequence += 1
                changed.append("sequence")
            event.save(update_fields=[*changed, "updated_at"])
            result.updated["events"] += 1
    for name, wanted in (
        ("clusters", [refs["clusters"][c] for c in plan.clusters]),
        ("topics", [refs["topics"][t] for t in plan.topics]),
    ):
        manager = getattr(event, name)
        if fresh:
            manager.set(wanted)
        elif {o.pk for o in manager.all()} != {o.pk for o in wanted}:
            manager.set(wanted)
            result.updated[f"event {name}"] += 1
    return event


def _seed_sessions(event: Event, plan: EventPlan, result: DemoEvents) -> dict[str, Session]:
    existing = {s.title: s for s in event.sessions.all()}
    sessions = {}
    for sp in plan.sessions:
        values = {
            "kind": sp.kind,
            "starts_at": sp.starts_at,
            "ends_at": sp.ends_at,
            "track": sp.track,
            "room": sp.room,
            "capacity": sp.capacity,
            "description": sp.description,
        }
        session = existing.get(sp.title)
        if session is None:
            session = Session.objects.create(event=event, title=sp.title, **values)
            result.created["sessions"] += 1
        elif changed := _sync(session, values):
            if {"starts_at", "ends_at", "room"} & set(changed):
                session.sequence += 1
                changed.append("sequence")
            session.save(update_fields=[*changed, "updated_at"])
            result.updated["sessions"] += 1
        sessions[sp.title] = session
    return sessions


def _seed_stage(
    event: Event, plan: EventPlan, sessions: dict[str, Session], refs: dict, result: DemoEvents
) -> None:
    """Who is on stage; the set is replaced whole when it differs from the plan."""
    wanted = [
        (
            sp.role,
            sessions[sp.session].pk if sp.session else None,
            refs["profiles"][sp.email].pk if sp.email else None,
            sp.guest_name,
            sp.guest_organisation,
            sp.guest_gender,
            bool(sp.guest_gender),
            order,
        )
        for order, sp in enumerate(plan.stage)
    ]
    current = list(
        event.stage_roles.order_by("order", "pk").values_list(
            "role", "session_id", "profile_id", "guest_name", "guest_organisation",
            "guest_gender", "guest_gender_consent", "order",
        )
    )  # fmt: skip
    if current == wanted:
        return
    if current:
        result.updated["stage line-ups"] += 1
    else:
        result.created["stage line-ups"] += 1
    event.stage_roles.all().delete()
    names = ("role", "session_id", "profile_id", "guest_name", "guest_organisation",
             "guest_gender", "guest_gender_consent", "order")  # fmt: skip
    StageRole.objects.bulk_create(
        [StageRole(event=event, **dict(zip(names, row, strict=True))) for row in wanted]
    )


def _seed_invitations(event: Event, plan: EventPlan, result: DemoEvents) -> None:
    have = set(event.invitations.values_list("email", flat=True))
    missing = [Invitation(event=event, email=e) for e in plan.invitations if e not in have]
    if missing:
        Invitation.objects.bulk_create(missing)
        result.created["invitations"] += len(missing)


def _history(event: Event, users: list[User], rng: random.Random) -> list[Registration]:
    """Registrations of a past event: mostly attended and checked in, some no-shows."""
    rows = []
    for user in users:
        roll = rng.random()
        status = RStatus.ATTENDED if roll < 0.72 else RStatus.NO_SHOW if roll < 0.86 else (
            RStatus.CANCELLED
        )  # fmt: skip
        checked_in = (
            event.starts_at + timedelta(minutes=rng.randint(-20, 15))
            if status == RStatus.ATTENDED
            else None
        )
        rows.append(Registration(event=event, user=user, status=status, checked_in_at=checked_in))
    return rows


def _seed_registrations(
    event: Event,
    plan: EventPlan,
    sessions: dict[str, Session],
    refs: dict,
    have: set[tuple[int, int | None, int]],
    result: DemoEvents,
) -> None:
    users = refs["users"]
    rng = random.Random(f"{SEED}:{plan.slug}")
    missing = [users[e] for e in plan.registrants if (event.pk, None, users[e].pk) not in have]
    if plan.past:
        # Decide every registrant's fate from the whole list, so the result does not depend
        # on which rows already exist.
        history = _history(event, [users[e] for e in plan.registrants], rng)
        new = [r for r in history if r.user in missing]
        if new:
            Registration.objects.bulk_create(new)
            result.created["past registrations"] += len(new)
        return
    for user in missing:
        services.event_register(event=event, user=user)
        result.created["registrations"] += 1
    for title, emails in plan.session_registrants.items():
        session = sessions[title]
        for email in emails:
            if (event.pk, session.pk, users[email].pk) not in have:
                services.event_register(event=event, user=users[email], session=session)
                result.created["session registrations"] += 1


def _seed_campaign(refs: dict, result: DemoEvents) -> Campaign | None:
    """The sent invitation campaign, created and sent through `events.campaigns` once."""
    event = refs["events"].get(CAMPAIGN_EVENT) or Event.objects.get(slug=CAMPAIGN_EVENT)
    organiser = refs["users"][_organiser_email(CAMPAIGN_CLUSTER)]
    existing = Campaign.objects.filter(
        event=event, created_by=organiser, message=CAMPAIGN_MESSAGE
    ).first()
    if existing is not None:
        return existing
    if event.status != EStatus.PUBLISHED or event.ends_at <= timezone.now():
        return None  # nothing to invite to (cannot happen with the plan: it lies ahead)
    campaign = campaigns.campaign_create(
        event=event,
        by=organiser,
        clusters=[refs["clusters"][CAMPAIGN_CLUSTER]],
        topics=[refs["topics"][CAMPAIGN_TOPIC]],
        message=CAMPAIGN_MESSAGE,
    )
    # The fan-out runs after this seed's transaction commits (in-process in the demo).
    campaigns.campaign_send(campaign=campaign, by=organiser)
    result.created["sent campaigns"] += 1
    return campaign


@transaction.atomic
def demo_seed(*, stdout_write: Callable[[str], object] | None = None) -> DemoEvents:
    """Add (or bring back) the demo events; safe to run any number of times."""
    say = stdout_write or (lambda message: None)
    now = timezone.now()
    plans = demo_events_plan(now=now)
    emails = {p.organiser for p in plans}
    emails |= {e for p in plans for e in p.registrants}
    emails |= {s.email for p in plans for s in p.stage if s.email}
    users = {u.email: u for u in User.objects.filter(email__in=emails)}
    if emails - set(users):
        raise RuntimeError("The demo members are missing: run the members demo seed first.")
    refs = {
        "users": users,
        "profiles": {
            p.user.email: p
            for p in Profile.objects.filter(user__in=users.values()).select_related("user")
        },  # fmt: skip
        "clusters": {c.slug: c for c in Cluster.objects.filter(slug__in=CLUSTER_ZONES)},
        "topics": {t.slug: t for t in Topic.objects.all()},
        "languages": {lang.code: lang for lang in Language.objects.all()},
        "events": {e.slug: e for e in Event.objects.filter(slug__in=[p.slug for p in plans])},
    }
    result = DemoEvents(totals={})
    events = []
    for plan in plans:
        event = _seed_event(plan, refs, result)
        sessions = _seed_sessions(event, plan, result)
        _seed_stage(event, plan, sessions, refs, result)
        _seed_invitations(event, plan, result)
        events.append((event, plan, sessions))
    say(f"{len(events)} demo events planned around {demo_anchor(now):%Y-%m-%d}")
    have = set(
        Registration.objects.filter(event__in=[e for e, _, _ in events]).values_list(
            "event_id", "session_id", "user_id"
        )
    )
    for event, plan, sessions in events:
        _seed_registrations(event, plan, sessions, refs, have, result)
    campaign = _seed_campaign(refs, result)
    # Due reminders (the webinar starting within the day); the outbox's keys make a second
    # sweep queue nothing.
    reminded = reminders.reminders_send_due()
    if reminded:
        result.created["reminders queued"] += reminded
    registrations = Registration.objects.filter(event__in=[e for e, _, _ in events])
    result.totals = {
        "events": len(events),
        "sessions": Session.objects.filter(event__in=[e for e, _, _ in events]).count(),
        "registrations": registrations.count(),
        "waitlisted": registrations.filter(status=RStatus.WAITLISTED).count(),
        "sent campaigns": int(campaign is not None),
    }
    return result
