"""The demo network that `manage.py seed_demo` builds.

Three invented clusters, about sixty organisations of every kind across a dozen EU
countries and about three hundred members, plus fixed logins for a staff user, one
organiser per cluster and a few ordinary members. Every name, company and domain is made
up (`.example` / `.example.org`); any likeness to a real organisation is a coincidence.

Membership is confirmed as on a live site: every person with an organisation has a
confirmed affiliation (most "from before confirmation existed", a few confirmed by their
cluster's organiser lately) and organisations belong to clusters as members or partners
since a given year. The demo also shows one pending request (a new engineer at Traunstein
Motion Systems, whose address at its Czech subsidiary's subdomain does not match the
company's domain rule), that company's domain rule and its admin (the member login Anna
Keller), a former member of the maritime cluster that left a few months ago, and the
membership log of these decisions. These rows are written directly, like the rest of the
network: the seed queues no mail.

The whole network is first planned in memory from fixed seeds (`random.Random(2027)` and
seeded Faker instances), so every run plans exactly the same rows; only then is the
database brought in line with the plan. Rows are keyed by slug (clusters, organisations)
and e-mail (users), affiliations by person and organisation, cluster memberships by cluster
and organisation, log entries by what was decided about whom; a row is written only where
it differs from the plan, so a second run changes nothing. The recent membership history
(requests, decisions, the former member's end) is dated back from the Monday of the
current week, as in the events demo, so a run in a later week moves it. Two things are
written only when an account is created and never compared afterwards: its password (a
fresh salt would count as a change) and its gender (read only by `members.privacy`, and
once set it is the member's to change).
"""

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify
from faker import Faker

from members import privacy, services
from members.languages import SUPPORTED as SITE_LANGUAGES
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    ClusterOrganiser,
    GenderIdentity,
    Language,
    MembershipLog,
    Organisation,
    OrganisationDomain,
    Profile,
    Sector,
    Topic,
    User,
)

SEED = 2027
DEMO_PASSWORD = "demo-clusterhub-2027"  # noqa: S105 -- published on purpose: demo data only
GENERATED_MEMBERS = 300

Kind = Organisation.Kind
Gender = GenderIdentity.Gender
Stance = Profile.MentoringStance
Visibility = Profile.Visibility
MStatus = ClusterMembership.Status
AStatus = Affiliation.Status
Via = Affiliation.Via
Action = MembershipLog.Action


# --- What the demo network looks like -------------------------------------------------


@dataclass(frozen=True)
class CountryInfo:
    locales: tuple[str, ...]  # Faker locales, first is the most common
    timezone: str
    legal_form: str  # what an SME's name ends with


# Faker locale -> the language its speakers put first on their profile.
LOCALE_LANGUAGE = {
    "de_AT": "de",
    "de_DE": "de",
    "cs_CZ": "cs",
    "sl_SI": "sl",
    "hu_HU": "hu",
    "nl_NL": "nl",
    "nl_BE": "nl",
    "fr_BE": "fr",
    "da_DK": "da",
    "sv_SE": "sv",
    "pl_PL": "pl",
    "el_GR": "el",
    "it_IT": "it",
    "pt_PT": "pt",
    "es_ES": "es",
    "fr_FR": "fr",
    "ro_RO": "ro",
}

COUNTRIES: dict[str, CountryInfo] = {
    "AT": CountryInfo(("de_AT",), "Europe/Vienna", "GmbH"),
    "DE": CountryInfo(("de_DE",), "Europe/Berlin", "GmbH"),
    "CZ": CountryInfo(("cs_CZ",), "Europe/Prague", "s.r.o."),
    "SI": CountryInfo(("sl_SI",), "Europe/Ljubljana", "d.o.o."),
    "HU": CountryInfo(("hu_HU",), "Europe/Budapest", "Kft."),
    "NL": CountryInfo(("nl_NL",), "Europe/Amsterdam", "B.V."),
    "BE": CountryInfo(("nl_BE", "fr_BE"), "Europe/Brussels", "BV"),
    "DK": CountryInfo(("da_DK",), "Europe/Copenhagen", "ApS"),
    "SE": CountryInfo(("sv_SE",), "Europe/Stockholm", "AB"),
    "PL": CountryInfo(("pl_PL",), "Europe/Warsaw", "sp. z o.o."),
    "GR": CountryInfo(("el_GR",), "Europe/Athens", "P.C."),
    "IT": CountryInfo(("it_IT",), "Europe/Rome", "S.r.l."),
    "PT": CountryInfo(("pt_PT",), "Europe/Lisbon", "Lda."),
    "ES": CountryInfo(("es_ES",), "Europe/Madrid", "S.L."),
    "FR": CountryInfo(("fr_FR",), "Europe/Paris", "SAS"),
    "RO": CountryInfo(("ro_RO",), "Europe/Bucharest", "S.R.L."),
}


@dataclass(frozen=True)
class ClusterTheme:
    """What a cluster is about: used to invent its companies and its members' profiles."""

    # Where its SMEs are: (country, weight, regions of that country in this industry).
    sme_countries: tuple[tuple[str, int, tuple[str, ...]], ...]
    sme_trades: tuple[str, ...]
    focus: tuple[str, ...]  # what its organisations do, for descriptions
    topics: tuple[str, ...]  # topic slugs its members care about most
    industry: str  # "… years in {industry}"
    core_sectors: tuple[str, ...]  # every SME has one of these


CLUSTERS: list[dict[str, Any]] = [
    {
        "slug": "mechatronics",
        "name": "Danube Mechatronics Alliance",
        "short_name": "DanuMech",
        "country": "AT",
        "region": "Upper Austria",
        "website": "https://mechatronics-alliance.example.org",
        "description": (
            "A network of machine builders, drive and sensor makers, research institutes and "
            "public agencies along the upper Danube. Members meet in working groups on "
            "automation, robotics and energy-efficient production, run joint pilot lines and "
            "apply together for EU funding."
        ),
        "sectors": ["mechatronics", "automotive", "electronics", "metalworking", "plastics"],
    },
    {
        "slug": "maritime",
        "name": "North Sea Maritime & Logistics Network",
        "short_name": "NSML",
        "country": "NL",
        "region": "Zeeland",
        "website": "https://maritime-logistics.example.org",
        "description": (
            "Shipyards, ports, shipping lines, logistics providers and universities around the "
            "North Sea and the Baltic working on greener ships, smarter ports and resilient "
            "supply chains. The network brokers B2B meetings and runs a cross-border "
            "mentoring programme."
        ),
        "sectors": ["maritime", "logistics", "energy", "environment", "ict"],
    },
    {
        "slug": "textiles",
        "name": "Euro-Med Smart Textiles Cluster",
        "short_name": "SmartTex",
        "country": "IT",
        "region": "Piedmont",
        "website": "https://smart-textiles.example.org",
        "description": (
            "Mills, fashion and technical-textile makers, designers and research centres from "
            "Italy, Portugal, Spain, France and Romania. Common projects cover recycled fibres, "
            "smart fabrics with embedded electronics and traceable, circular supply chains."
        ),
        "sectors": ["textiles", "creative", "chemicals", "health"],
    },
]

THEMES: dict[str, ClusterTheme] = {
    "mechatronics": ClusterTheme(
        sme_countries=(
            ("AT", 5, ("Upper Austria", "Styria")),
            ("DE", 4, ("Bavaria", "Baden-Württemberg")),
            ("CZ", 2, ("South Bohemia", "South Moravia")),
            ("SI", 1, ("Podravska", "Savinjska")),
            ("HU", 1, ("Győr-Moson-Sopron",)),
        ),
        sme_trades=(
            "Automation",
            "Precision Engineering",
            "Motion Systems",
            "Sensor Technologies",
            "Robotics",
            "Control Systems",
            "Tooling",
            "Drive Solutions",
            "Test Systems",
        ),
        focus=(
            "servo drives and motion control",
            "industrial sensors",
            "collaborative robot cells",
            "precision machining",
            "PLC and control software",
            "test benches for electric drivetrains",
            "injection-moulding tools",
        ),
        topics=(
            "industry-4-0",
            "robotics",
            "additive-manufacturing",
            "internet-of-things",
            "artificial-intelligence",
            "energy-efficiency",
            "product-design",
            "cybersecurity",
        ),
        industry="machine building",
        core_sectors=("mechatronics", "automotive", "metalworking"),
    ),
    "maritime": ClusterTheme(
        sme_countries=(
            ("NL", 4, ("Zeeland", "South Holland")),
            ("BE", 2, ("Antwerp", "East Flanders")),
            ("DE", 2, ("Hamburg", "Bremen")),
            ("DK", 1, ("Southern Denmark",)),
            ("SE", 1, ("Västra Götaland",)),
            ("PL", 2, ("Pomerania",)),
            ("GR", 2, ("Attica",)),
        ),
        sme_trades=(
            "Marine Services",
            "Port Logistics",
            "Offshore Engineering",
            "Freight",
            "Naval Design",
            "Cold Chain",
            "Shipping",
            "Maritime Software",
        ),
        focus=(
            "short-sea shipping",
            "port logistics software",
            "offshore wind installation",
            "cold-chain logistics",
            "hull design and retrofits",
            "container terminal automation",
            "low-emission ship propulsion",
        ),
        topics=(
            "supply-chain",
            "green-transition",
            "big-data",
            "energy-efficiency",
            "cybersecurity",
            "internationalisation",
            "internet-of-things",
            "artificial-intelligence",
        ),
        industry="shipping and logistics",
        core_sectors=("maritime", "logistics"),
    ),
    "textiles": ClusterTheme(
        sme_countries=(
            ("IT", 5, ("Piedmont", "Lombardy", "Tuscany")),
            ("PT", 3, ("Norte",)),
            ("ES", 2, ("Catalonia", "Valencia")),
            ("FR", 2, ("Hauts-de-France", "Auvergne-Rhône-Alpes")),
            ("RO", 1, ("Nord-Vest",)),
        ),
        sme_trades=(
            "Textiles",
            "Knitwear",
            "Technical Fabrics",
            "Yarns",
            "Design Studio",
            "Dyeing & Finishing",
            "Nonwovens",
            "Fashion Lab",
        ),
        focus=(
            "technical fabrics for car interiors",
            "recycled wool yarns",
            "smart textiles with embedded sensors",
            "low-water dyeing and finishing",
            "knitwear",
            "medical textiles",
            "circular fashion collections",
        ),
        topics=(
            "circular-economy",
            "green-transition",
            "product-design",
            "marketing-sales",
            "intellectual-property",
            "entrepreneurship",
            "supply-chain",
            "digital-skills",
        ),
        industry="the textile industry",
        core_sectors=("textiles",),
    ),
}

# Organisations other than SMEs, written by hand so they read like real ones (but are not).
# (kind, name, email domain, country, region, clusters, sectors)
NAMED_ORGANISATIONS: list[tuple[str, str, str, str, str, tuple[str, ...], tuple[str, ...]]] = [
    # Danube Mechatronics Alliance
    (Kind.CLUSTER_ORGANISATION, "DanuMech Cluster Office", "danumech", "AT", "Upper Austria",
     ("mechatronics",), ("mechatronics",)),
    (Kind.LARGE_COMPANY, "Traunstein Motion Systems AG", "traunstein-motion", "AT",
     "Upper Austria", ("mechatronics",), ("mechatronics", "electronics")),
    (Kind.LARGE_COMPANY, "Isarwerk Automotive Components GmbH", "isarwerk", "DE", "Bavaria",
     ("mechatronics",), ("automotive", "metalworking")),
    (Kind.LARGE_COMPANY, "Moravia Precision Castings a.s.", "moravia-castings", "CZ",
     "South Moravia", ("mechatronics",), ("metalworking",)),
    (Kind.RESEARCH, "Danube University of Applied Sciences", "danube-uas", "AT", "Upper Austria",
     ("mechatronics", "textiles"), ("mechatronics", "electronics", "textiles")),
    (Kind.RESEARCH, "Bohemian Institute of Robotics", "bir-research", "CZ", "South Bohemia",
     ("mechatronics",), ("mechatronics", "ict")),
    (Kind.PUBLIC_BODY, "Mühlviertel Regional Development Agency", "muehlviertel-rda", "AT",
     "Upper Austria", ("mechatronics",), ("mechatronics", "metalworking")),
    (Kind.ASSOCIATION, "Association of Precision Engineering Firms", "apef", "DE",
     "Baden-Württemberg", ("mechatronics",), ("mechatronics", "metalworking")),
    (Kind.OTHER, "FabLab Traunviertel", "fablab-traunviertel", "AT", "Upper Austria",
     ("mechatronics",), ("mechatronics", "plastics")),
    (Kind.INVESTOR, "Alpine Deep Tech Ventures", "alpine-deeptech", "AT", "Vienna",
     ("mechatronics",), ("mechatronics", "electronics")),
    # North Sea Maritime & Logistics Network
    (Kind.CLUSTER_ORGANISATION, "NSML Network Office", "nsml", "NL", "Zeeland",
     ("maritime",), ("maritime", "logistics")),
    (Kind.LARGE_COMPANY, "Scheldemond Shipyards N.V.", "scheldemond", "NL", "Zeeland",
     ("maritime",), ("maritime",)),
    (Kind.LARGE_COMPANY, "Hanseatic Feeder Lines GmbH", "hanseatic-feeder", "DE", "Hamburg",
     ("maritime",), ("maritime", "logistics")),
    (Kind.LARGE_COMPANY, "TransAlpine Rail Cargo GmbH", "transalpine-cargo", "AT", "Upper Austria",
     ("maritime", "mechatronics"), ("logistics",)),
    (Kind.RESEARCH, "Delta Institute for Maritime Technology", "delta-maritime", "NL",
     "South Holland", ("maritime",), ("maritime", "energy")),
    (Kind.RESEARCH, "Aegean Centre for Shipping Research", "aegean-shipping", "GR", "Attica",
     ("maritime",), ("maritime", "logistics")),
    (Kind.PUBLIC_BODY, "Zeeland Port & Innovation Agency", "zeeland-ports", "NL", "Zeeland",
     ("maritime",), ("maritime", "logistics", "environment")),
    (Kind.PUBLIC_BODY, "Scheldt Delta Logistics Board", "scheldt-logistics", "BE", "Antwerp",
     ("maritime",), ("logistics",)),
    (Kind.INVESTOR, "Blue Economy Capital Partners", "blue-economy-capital", "DK",
     "Southern Denmark", ("maritime",), ("maritime", "energy")),
    (Kind.ASSOCIATION, "Nordic Short-Sea Shipping Association", "nordic-shortsea", "SE",
     "Västra Götaland", ("maritime",), ("maritime", "logistics")),
    (Kind.OTHER, "Harbour Skills Academy", "harbour-skills", "NL", "South Holland",
     ("maritime",), ("maritime", "logistics")),
    # Euro-Med Smart Textiles Cluster
    (Kind.CLUSTER_ORGANISATION, "SmartTex Cluster Secretariat", "smarttex", "IT", "Piedmont",
     ("textiles",), ("textiles",)),
    (Kind.LARGE_COMPANY, "Lanificio Valsesia S.p.A.", "lanificio-valsesia", "IT", "Piedmont",
     ("textiles",), ("textiles",)),
    (Kind.LARGE_COMPANY, "Tecelagem do Alto Ave S.A.", "tecelagem-alto-ave", "PT", "Norte",
     ("textiles",), ("textiles",)),
    (Kind.LARGE_COMPANY, "Roubaix Technical Textiles SA", "roubaix-tt", "FR", "Hauts-de-France",
     ("textiles",), ("textiles", "chemicals")),
    (Kind.RESEARCH, "Catalan Centre for Wearable Materials", "ccwm", "ES", "Catalonia",
     ("textiles", "mechatronics"), ("textiles", "electronics", "health")),
    (Kind.PUBLIC_BODY, "Piedmont Agency for Industrial Innovation", "piedmont-innovation", "IT",
     "Piedmont", ("textiles",), ("textiles", "creative")),
    (Kind.INVESTOR, "Circular Fashion Impact Fund", "circular-fashion-fund", "ES", "Catalonia",
     ("textiles",), ("textiles", "creative")),
    (Kind.ASSOCIATION, "Romanian Knitwear Producers' Association", "rokpa", "RO", "Nord-Vest",
     ("textiles",), ("textiles",)),
    (Kind.OTHER, "Atelier Commons Porto", "atelier-commons", "PT", "Norte",
     ("textiles",), ("textiles", "creative")),
    # Across all three clusters
    (Kind.INVESTOR, "Scale-up Europe Industrial Fund", "scaleup-industrial", "BE", "Brussels",
     ("mechatronics", "maritime", "textiles"), ("mechatronics", "maritime", "textiles")),
]  # fmt: skip

SMES_PER_CLUSTER = {"mechatronics": 10, "maritime": 10, "textiles": 9}

# How many members an organisation of each kind has, relative to the others.
MEMBER_WEIGHT = {
    Kind.LARGE_COMPANY: 10.0,
    Kind.RESEARCH: 7.0,
    Kind.PUBLIC_BODY: 4.0,
    Kind.SME: 3.5,
    Kind.CLUSTER_ORGANISATION: 3.0,
    Kind.ASSOCIATION: 3.0,
    Kind.INVESTOR: 2.0,
    Kind.OTHER: 2.0,
}

JOB_TITLES: dict[str, tuple[str, ...]] = {
    Kind.SME: (
        "Managing Director",
        "Founder & CEO",
        "Head of Engineering",
        "Sales Manager",
        "Production Manager",
        "Project Manager",
        "R&D Engineer",
        "Quality Manager",
        "Export Manager",
        "Software Developer",
        "Operations Manager",
    ),
    Kind.LARGE_COMPANY: (
        "Head of Innovation",
        "Plant Manager",
        "Senior Engineer",
        "Procurement Manager",
        "R&D Project Lead",
        "HR Business Partner",
        "Digital Transformation Lead",
        "Supply Chain Manager",
        "Key Account Manager",
        "Sustainability Manager",
        "Team Lead Automation",
    ),
    Kind.RESEARCH: (
        "Professor",
        "Senior Researcher",
        "PhD Candidate",
        "Postdoctoral Researcher",
        "Technology Transfer Officer",
        "Lab Manager",
        "Head of Department",
        "Research Engineer",
    ),
    Kind.PUBLIC_BODY: (
        "Innovation Advisor",
        "Programme Manager",
        "Policy Officer",
        "Head of Business Development",
        "EU Funding Advisor",
        "Regional Development Officer",
    ),
    Kind.CLUSTER_ORGANISATION: (
        "Project Manager",
        "Community Manager",
        "Event Coordinator",
        "Internationalisation Manager",
    ),
    Kind.INVESTOR: ("Partner", "Investment Manager", "Associate", "Venture Partner", "Analyst"),
    Kind.ASSOCIATION: (
        "Secretary General",
        "Policy Advisor",
        "Member Relations Manager",
        "Training Coordinator",
    ),
    Kind.OTHER: ("Workshop Lead", "Trainer", "Community Coordinator", "Consultant"),
}

KIND_TOPICS: dict[str, tuple[str, ...]] = {
    Kind.SME: ("internationalisation", "marketing-sales", "funding", "digital-skills"),
    Kind.LARGE_COMPANY: ("supply-chain", "leadership", "skills-training", "research-collaboration"),
    Kind.RESEARCH: ("research-collaboration", "funding", "intellectual-property"),
    Kind.PUBLIC_BODY: ("funding", "public-procurement", "internationalisation"),
    Kind.CLUSTER_ORGANISATION: ("internationalisation", "funding", "research-collaboration"),
    Kind.INVESTOR: ("funding", "entrepreneurship", "intellectual-property"),
    Kind.ASSOCIATION: ("skills-training", "leadership", "gender-equality"),
    Kind.OTHER: ("skills-training", "entrepreneurship", "digital-skills"),
}

# How each topic reads in the middle of a sentence.
TOPIC_PHRASES = {
    "digital-skills": "digital skills",
    "artificial-intelligence": "applied AI",
    "cybersecurity": "industrial cybersecurity",
    "big-data": "data analytics",
    "internet-of-things": "connected devices",
    "industry-4-0": "factory automation",
    "robotics": "robotics",
    "additive-manufacturing": "3D printing",
    "green-transition": "decarbonisation",
    "circular-economy": "circular business models",
    "energy-efficiency": "energy efficiency",
    "leadership": "leadership",
    "women-in-leadership": "women in leadership",
    "gender-equality": "diversity and inclusion",
    "internationalisation": "new export markets",
    "funding": "EU funding programmes",
    "public-procurement": "innovation procurement",
    "research-collaboration": "joint research with universities",
    "entrepreneurship": "start-ups",
    "skills-training": "upskilling teams",
    "supply-chain": "supply chain resilience",
    "intellectual-property": "patents and IP",
    "marketing-sales": "B2B sales",
    "product-design": "product design",
}

KIND_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    Kind.SME: (
        "Family-owned company from {region} with {staff} employees, specialising in {focus}.",
        "Founded in {year}, {short} specialises in {focus} for customers across Europe.",
        "{short} is a {staff}-person team in {region} working on {focus}.",
    ),
    Kind.LARGE_COMPANY: (
        "{big_staff} employees worldwide; headquarters and main plant in {region}. "
        "Works with cluster members on {focus}.",
    ),
    Kind.RESEARCH: (
        "Applied research on {focus}; runs joint projects, test facilities and student "
        "placements with member companies.",
    ),
    Kind.PUBLIC_BODY: (
        "Regional agency supporting companies in {region} with innovation funding, site "
        "development and internationalisation.",
    ),
    Kind.CLUSTER_ORGANISATION: (
        "Management office of the {cluster}: events, projects, matchmaking and EU funding "
        "advice for member organisations.",
    ),
    Kind.INVESTOR: (
        "Invests seed to growth capital in industrial technology companies; tickets of "
        "€{ticket_low}–{ticket_high} million.",
    ),
    Kind.ASSOCIATION: (
        "Represents {staff} member companies and runs training and working groups on {focus}.",
    ),
    Kind.OTHER: (
        "Open workshop and training space in {region}, used for prototyping courses and "
        "community events.",
    ),
}

# Where a surname may rightly start with a lower-case particle ("van Loon", "de Vries").
LOWERCASE_PARTICLE_LOCALES = {"nl_NL", "nl_BE", "fr_BE", "fr_FR", "de_DE", "de_AT", "it_IT"}

SELF_DESCRIPTIONS = ("genderfluid", "agender", "genderqueer")

# Share of the generated members in each category. "None" means no record at all.
GENDER_MIX: list[tuple[str | None, float]] = [
    (Gender.WOMAN, 0.38),
    (Gender.MAN, 0.47),
    (Gender.NON_BINARY, 0.02),
    (Gender.SELF_DESCRIBED, 0.01),
    (Gender.UNDISCLOSED, 0.05),
    (None, 0.07),
]
STATISTICS_CONSENT_SHARE = 0.85
MENTORING_MIX = [(Stance.OFFERS, 0.15), (Stance.SEEKS, 0.15), (Stance.NEITHER, 0.70)]
VISIBILITY_MIX = [(Visibility.CLUSTER, 0.70), (Visibility.MEMBERS, 0.25), (Visibility.HIDDEN, 0.05)]


# --- The plan: plain data, built without touching the database -----------------------


@dataclass(frozen=True)
class OrganisationPlan:
    slug: str
    name: str
    short: str  # the name without its legal form, for sentences
    domain: str  # e-mail addresses are <someone>@<domain>.example
    kind: str
    country: str
    region: str
    clusters: tuple[str, ...]  # the clusters it belongs to today (as a member or partner)
    sectors: tuple[str, ...]
    description: str
    partner_of: tuple[str, ...] = ()  # those of `clusters` it belongs to as a partner
    left: tuple[str, ...] = ()  # clusters it was a member of and has left


@dataclass(frozen=True)
class PersonPlan:
    email: str
    first_name: str
    last_name: str
    organisation: str | None  # slug
    job_title: str
    country: str
    languages: tuple[str, ...]
    sectors: tuple[str, ...]
    expertise: tuple[str, ...]
    interests: tuple[str, ...]
    bio: str
    mentoring_stance: str
    visibility: str
    timezone: str
    gender: str | None = None  # None: no record at all
    self_description: str = ""
    statistics_consent: bool = False
    is_staff: bool = False
    organiser_of: str | None = None  # cluster slug
    organisation_admin: bool = False  # answers the organisation's requests
    requested: str | None = None  # slug of the organisation asked to join, still pending

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class DemoPlan:
    organisations: list[OrganisationPlan]
    people: list[PersonPlan]


# --- What the command prints ----------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    email: str
    description: str


@dataclass(frozen=True)
class DemoLogins:
    url: str
    password: str
    staff: DemoLogin
    organisers: tuple[DemoLogin, ...]
    members: tuple[DemoLogin, ...]
    totals: dict[str, int] = field(default_factory=dict)  # rows of the demo network
    created: dict[str, int] = field(default_factory=dict)  # rows this run created
    updated: dict[str, int] = field(default_factory=dict)  # rows this run changed


STAFF_EMAIL = "staff@clusterhub.example"


def _fixed_people() -> list[PersonPlan]:
    """The logins printed at the end: staff, one organiser per cluster, three members."""
    return [
        PersonPlan(
            email=STAFF_EMAIL,
            first_name="Sophie",
            last_name="Laurent",
            organisation=None,
            job_title="Platform administrator",
            country="BE",
            languages=("fr", "en", "nl"),
            sectors=(),
            expertise=("digital-skills", "cybersecurity"),
            interests=("gender-equality", "internationalisation"),
            bio="Runs this Clusterhub site for the three clusters. Write to me if something "
            "does not work as it should.",
            mentoring_stance=Stance.NEITHER,
            visibility=Visibility.MEMBERS,
            timezone="Europe/Brussels",
            is_staff=True,
        ),
        PersonPlan(
            email="organiser@mechatronics.example",
            first_name="Katharina",
            last_name="Leitner",
            organisation="danumech-cluster-office",
            job_title="Cluster Manager",
            country="AT",
            languages=("de", "en", "cs"),
            sectors=("mechatronics", "automotive"),
            expertise=("industry-4-0", "funding", "internationalisation"),
            interests=("women-in-leadership", "artificial-intelligence"),
            bio="Manages the Danube Mechatronics Alliance and its working groups. Always keen "
            "to hear which event or project would help your company next.",
            mentoring_stance=Stance.OFFERS,
            visibility=Visibility.MEMBERS,
            timezone="Europe/Vienna",
            gender=Gender.WOMAN,
            statistics_consent=True,
            organiser_of="mechatronics",
        ),
        PersonPlan(
            email="organiser@maritime.example",
            first_name="Maarten",
            last_name="Jansen",
            organisation="nsml-network-office",
            job_title="Cluster Manager",
            country="NL",
            languages=("nl", "en", "de"),
            sectors=("maritime", "logistics"),
            expertise=("supply-chain", "funding", "research-collaboration"),
            interests=("green-transition", "big-data"),
            bio="Runs the North Sea Maritime & Logistics Network from Vlissingen. Organises "
            "the B2B days and the cross-border mentoring programme.",
            mentoring_stance=Stance.OFFERS,
            visibility=Visibility.MEMBERS,
            timezone="Europe/Amsterdam",
            gender=Gender.MAN,
            statistics_consent=True,
            organiser_of="maritime",
        ),
        PersonPlan(
            email="organiser@textiles.example",
            first_name="Giulia",
            last_name="Ferraris",
            organisation="smarttex-cluster-secretariat",
            job_title="Cluster Manager",
            country="IT",
            languages=("it", "en", "fr"),
            sectors=("textiles", "creative"),
            expertise=("circular-economy", "funding", "internationalisation"),
            interests=("digital-skills", "women-in-leadership"),
            bio="Coordinates the Euro-Med Smart Textiles Cluster. Previously worked ten years "
            "in product development for a wool mill in Biella.",
            mentoring_stance=Stance.NEITHER,
            visibility=Visibility.MEMBERS,
            timezone="Europe/Rome",
            gender=Gender.WOMAN,
            statistics_consent=False,
            organiser_of="textiles",
        ),
        PersonPlan(
            email="anna.keller@demo.example",
            first_name="Anna",
            last_name="Keller",
            organisation="traunstein-motion-systems-ag",
            job_title="Head of Innovation",
            country="AT",
            languages=("de", "en"),
            sectors=("mechatronics", "electronics"),
            expertise=("robotics", "industry-4-0", "leadership"),
            interests=("artificial-intelligence", "women-in-leadership"),
            bio="Leads the innovation team for servo drives at Traunstein Motion Systems. "
            "Happy to mentor engineers moving into their first leadership role.",
            mentoring_stance=Stance.OFFERS,
            visibility=Visibility.CLUSTER,
            timezone="Europe/Vienna",
            gender=Gender.WOMAN,
            statistics_consent=True,
            organisation_admin=True,
        ),
        PersonPlan(
            email="luca.romano@demo.example",
            first_name="Luca",
            last_name="Romano",
            organisation="lanificio-valsesia-spa",
            job_title="Product Developer",
            country="IT",
            languages=("it", "en", "es"),
            sectors=("textiles",),
            expertise=("product-design", "circular-economy"),
            interests=("entrepreneurship", "funding", "marketing-sales"),
            bio="Develops recycled wool fabrics at Lanificio Valsesia. Looking for a mentor "
            "with experience in bringing a new product line to market.",
            mentoring_stance=Stance.SEEKS,
            visibility=Visibility.CLUSTER,
            timezone="Europe/Rome",
            gender=Gender.MAN,
            statistics_consent=True,
        ),
        PersonPlan(
            email="jan.devries@demo.example",
            first_name="Jan",
            last_name="de Vries",
            organisation="scheldemond-shipyards-nv",
            job_title="Operations Manager",
            country="NL",
            languages=("nl", "en"),
            sectors=("maritime",),
            expertise=("supply-chain", "energy-efficiency", "big-data"),
            interests=("green-transition", "cybersecurity"),
            bio="Plans retrofits of ferries and offshore vessels at Scheldemond Shipyards. "
            "Interested in anyone working on shore power or battery propulsion.",
            mentoring_stance=Stance.NEITHER,
            visibility=Visibility.MEMBERS,
            timezone="Europe/Amsterdam",
            gender=Gender.UNDISCLOSED,
            statistics_consent=False,
        ),
    ]


# The membership story (see the module docstring): one company with a domain rule and an
# admin, one person whose request to join it waits, one organisation that left a cluster.
DOMAIN_RULE_ORGANISATION = "traunstein-motion-systems-ag"
DOMAIN_RULE = "traunstein-motion.example"
PENDING_EMAIL = "tomas.horak@cz.traunstein-motion.example"  # the subsidiary: no match

FORMER_MEMBER = OrganisationPlan(
    slug="baltic-hull-coatings-sp-z-oo",
    name="Baltic Hull Coatings sp. z o.o.",
    short="Baltic Hull Coatings",
    domain="baltic-hull-coatings",
    kind=Kind.SME,
    country="PL",
    region="Pomerania",
    clusters=(),
    sectors=("maritime",),
    description="Family-owned company from Pomerania with 45 employees, specialising in "
    "low-emission antifouling and hull coatings for ferries and offshore vessels.",
    left=("maritime",),
)


def _membership_people() -> list[PersonPlan]:
    """The person whose request waits, and the people of the former member."""
    return [
        PersonPlan(
            email=PENDING_EMAIL,
            first_name="Tomáš",
            last_name="Horák",
            organisation=None,
            requested=DOMAIN_RULE_ORGANISATION,
            job_title="Commissioning Engineer",
            country="CZ",
            languages=("cs", "en", "de"),
            sectors=("mechatronics",),
            expertise=("industry-4-0", "robotics"),
            interests=("artificial-intelligence", "digital-skills"),
            bio="Commissions servo-drive test benches at the Czech plant of Traunstein Motion "
            "Systems in České Budějovice.",
            mentoring_stance=Stance.SEEKS,
            visibility=Visibility.CLUSTER,
            timezone="Europe/Prague",
            gender=Gender.MAN,
            statistics_consent=True,
        ),
        PersonPlan(
            email="magdalena.wojcik@baltic-hull-coatings.example",
            first_name="Magdalena",
            last_name="Wójcik",
            organisation=FORMER_MEMBER.slug,
            job_title="Managing Director",
            country="PL",
            languages=("pl", "en"),
            sectors=("maritime",),
            expertise=("green-transition", "product-design"),
            interests=("funding", "internationalisation"),
            bio="Runs Baltic Hull Coatings, a family company in Gdynia making low-emission "
            "antifouling coatings for ferries and offshore vessels.",
            mentoring_stance=Stance.NEITHER,
            visibility=Visibility.MEMBERS,
            timezone="Europe/Warsaw",
            gender=Gender.WOMAN,
            statistics_consent=True,
        ),
        PersonPlan(
            email="piotr.zielinski@baltic-hull-coatings.example",
            first_name="Piotr",
            last_name="Zieliński",
            organisation=FORMER_MEMBER.slug,
            job_title="Sales Manager",
            country="PL",
            languages=("pl", "en", "de"),
            sectors=("maritime",),
            expertise=("marketing-sales", "supply-chain"),
            interests=("internationalisation", "energy-efficiency"),
            bio="Sells hull coatings to shipyards around the Baltic and the North Sea.",
            mentoring_stance=Stance.NEITHER,
            visibility=Visibility.CLUSTER,
            timezone="Europe/Warsaw",
            gender=Gender.MAN,
            statistics_consent=True,
        ),
    ]


_LETTERS = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "ß": "ss", "đ": "d",
     "Đ": "D", "ð": "d", "þ": "th", "œ": "oe", "ı": "i"}
)  # fmt: skip
_GREEK_PAIRS = {"ου": "ou", "αυ": "av", "ευ": "ev", "γγ": "ng", "μπ": "b", "ντ": "nt"}
_GREEK = str.maketrans(
    {"α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
     "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
     "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
     "ω": "o"}
)  # fmt: skip


def ascii_fold(text: str) -> str:
    """'Łukasz Müller' -> 'Lukasz Muller'; Greek is transliterated, lower-cased."""
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c))
    if any("\u0370" <= c <= "\u03ff" for c in text):
        text = text.lower()
        for pair, latin in _GREEK_PAIRS.items():
            text = text.replace(pair, latin)
        text = text.translate(_GREEK)
    return text.encode("ascii", "ignore").decode()


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


def _email_part(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", ascii_fold(name).lower().replace(" ", "")).strip("-")


def _allocate(rng: random.Random, mix: Sequence[tuple[Any, float]], n: int) -> list[Any]:
    """Exactly the given shares of n (largest remainders), in random order."""
    exact = [(value, share * n) for value, share in mix]
    counts = {i: int(x) for i, (_, x) in enumerate(exact)}
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i][1] - counts[i], reverse=True)
    for i in by_remainder[: n - sum(counts.values())]:
        counts[i] += 1
    values = [exact[i][0] for i in range(len(exact)) for _ in range(counts[i])]
    rng.shuffle(values)
    return values


def _weighted_sample(
    rng: random.Random, weights: dict[str, float], k: int, exclude: Sequence[str] = ()
) -> list[str]:
    """k distinct keys, drawn with the given weights."""
    pool = {key: w for key, w in weights.items() if key not in exclude}
    chosen: list[str] = []
    for _ in range(min(k, len(pool))):
        keys = list(pool)
        pick = rng.choices(keys, weights=[pool[key] for key in keys])[0]
        chosen.append(pick)
        del pool[pick]
    return chosen


def _plan_smes(
    rng: random.Random, fakers: dict[str, Faker], taken_names: set[str]
) -> list[OrganisationPlan]:
    smes = []
    for cluster in CLUSTERS:
        theme = THEMES[cluster["slug"]]
        countries = {c: regions for c, _, regions in theme.sme_countries}
        weights = [w for _, w, _ in theme.sme_countries]
        for _ in range(SMES_PER_CLUSTER[cluster["slug"]]):
            country = rng.choices(list(countries), weights=weights)[0]
            info = COUNTRIES[country]
            fake = fakers[info.locales[0]]
            while True:
                surname = fake.last_name()
                if country == "GR":  # company names are usually written in Latin script
                    surname = ascii_fold(surname).title()
                short = f"{_capitalised(surname)} {rng.choice(theme.sme_trades)}"
                name = f"{short} {info.legal_form}"
                if name not in taken_names:
                    break
            taken_names.add(name)
            clusters = [cluster["slug"]]
            if rng.random() < 0.12:  # a few SMEs take part in a second cluster
                clusters.append(
                    rng.choice([c["slug"] for c in CLUSTERS if c["slug"] not in clusters])
                )
            # One of the cluster's core sectors, sometimes one more of its others.
            sectors = [rng.choice(theme.core_sectors)]
            if rng.random() < 0.35:
                sectors.append(
                    rng.choice([s for s in cluster["sectors"] if s not in theme.core_sectors])
                )
            region = rng.choice(countries[country])
            description = rng.choice(KIND_DESCRIPTIONS[Kind.SME]).format(
                region=region,
                staff=rng.randint(8, 180),
                focus=rng.choice(theme.focus),
                year=rng.randint(1962, 2021),
                short=short,
            )
            smes.append(
                OrganisationPlan(
                    slug=slugify(name)[:120],
                    name=name,
                    short=short,
                    domain=slugify(short),
                    kind=Kind.SME,
                    country=country,
                    region=region,
                    clusters=tuple(dict.fromkeys(clusters)),
                    sectors=tuple(sectors),
                    description=description,
                )
            )
    return smes


def _plan_organisations(rng: random.Random, fakers: dict[str, Faker]) -> list[OrganisationPlan]:
    cluster_names = {c["slug"]: c["name"] for c in CLUSTERS}
    named = []
    for kind, name, domain, country, region, clusters, sectors in NAMED_ORGANISATIONS:
        theme = THEMES[clusters[0]]
        description = rng.choice(KIND_DESCRIPTIONS[kind]).format(
            region=region,
            focus=rng.choice(theme.focus),
            staff=rng.randint(40, 260),
            big_staff=f"{rng.randint(18, 140) * 100:,}",
            cluster=cluster_names[clusters[0]],
            ticket_low=rng.choice((0.5, 1, 2)),
            ticket_high=rng.choice((5, 10, 15)),
        )
        named.append(
            OrganisationPlan(
                slug=slugify(name)[:120],
                name=name,
                short=name,
                domain=domain,
                kind=kind,
                country=country,
                region=region,
                clusters=clusters,
                sectors=sectors,
                description=description,
                # Investors support the clusters as partners rather than join as members.
                partner_of=clusters if kind == Kind.INVESTOR else (),
            )
        )
    return named + _plan_smes(rng, fakers, {o.name for o in named})


def _plan_people(
    rng: random.Random,
    fakers: dict[str, Faker],
    organisations: list[OrganisationPlan],
    taken_emails: set[str],
) -> list[PersonPlan]:
    # Everyone works somewhere; bigger kinds of organisation have more members.
    employers = list(organisations)
    employers += rng.choices(
        organisations,
        weights=[MEMBER_WEIGHT[o.kind] for o in organisations],
        k=GENERATED_MEMBERS - len(organisations),
    )
    rng.shuffle(employers)
    genders = _allocate(rng, GENDER_MIX, GENERATED_MEMBERS)
    stances = _allocate(rng, MENTORING_MIX, GENERATED_MEMBERS)
    visibilities = _allocate(rng, VISIBILITY_MIX, GENERATED_MEMBERS)
    topic_slugs = list(TOPIC_PHRASES)

    people = []
    for org, gender, stance, visibility in zip(
        employers, genders, stances, visibilities, strict=True
    ):
        info = COUNTRIES[org.country]
        locale = info.locales[0]
        if len(info.locales) > 1 and rng.random() < 0.4:
            locale = info.locales[1]
        fake = fakers[locale]
        female = gender == Gender.WOMAN or (gender != Gender.MAN and rng.random() < 0.5)
        first = fake.first_name_female() if female else fake.first_name_male()
        last = fake.last_name_female() if female else fake.last_name_male()
        while "," in last or " en " in last or last.split()[-1].islower():  # "Dussen, van"
            last = fake.last_name_female() if female else fake.last_name_male()
        if locale not in LOWERCASE_PARTICLE_LOCALES:  # a few Faker surnames are lower-case
            last = _capitalised(last)

        local = f"{_email_part(first)}.{_email_part(last)}"
        email, n = f"{local}@{org.domain}.example", 1
        while email in taken_emails:
            n += 1
            email = f"{local}{n}@{org.domain}.example"
        taken_emails.add(email)

        languages = [LOCALE_LANGUAGE[locale]]
        if org.region == "Catalonia" and rng.random() < 0.6:
            languages.append("ca")
        if rng.random() < 0.88:
            languages.append("en")
        if len(languages) < 3 and rng.random() < 0.3:
            languages.append(
                rng.choice([c for c in ("de", "fr", "es", "it", "en") if c not in languages])
            )

        theme = THEMES[org.clusters[0]]
        weights = dict.fromkeys(topic_slugs, 1.0)
        for slug in theme.topics:
            weights[slug] += 5
        for slug in KIND_TOPICS[org.kind]:
            weights[slug] += 4
        expertise = _weighted_sample(rng, weights, rng.randint(2, 5))
        interests = _weighted_sample(rng, weights, rng.randint(2, 4), exclude=expertise)
        job_title = rng.choice(JOB_TITLES[org.kind])

        e1, e2 = (TOPIC_PHRASES[s] for s in expertise[:2])
        i1, i2 = (TOPIC_PHRASES[s] for s in interests[:2])
        opening = rng.choice(
            (
                f"{job_title} at {org.short}, focusing on {e1} and {e2}.",
                f"Works on {e1} at {org.short} in {org.region}.",
                f"{rng.randint(4, 28)} years in {theme.industry}; now {job_title} at {org.short}.",
                f"At {org.short} since {rng.randint(2008, 2024)}, mostly on {e1}.",
            )
        )
        follow_up = rng.choice(
            (
                f" Looking for partners interested in {i1}.",
                f" Happy to share what we learned about {e2}.",
                f" Currently exploring {i1} and {i2}.",
                f" Open to joint EU project proposals on {i1}.",
                "",
            )
        )

        self_description = ""
        if gender == Gender.SELF_DESCRIBED:
            self_description = rng.choice(SELF_DESCRIPTIONS)
        people.append(
            PersonPlan(
                email=email,
                first_name=first,
                last_name=last,
                organisation=org.slug,
                job_title=job_title,
                country=org.country,
                languages=tuple(languages),
                sectors=tuple(rng.sample(org.sectors, k=min(len(org.sectors), rng.randint(1, 2)))),
                expertise=tuple(expertise),
                interests=tuple(interests),
                bio=opening + follow_up,
                mentoring_stance=stance,
                visibility=visibility,
                timezone=info.timezone,
                gender=gender,
                self_description=self_description,
                statistics_consent=rng.random() < STATISTICS_CONSENT_SHARE,
            )
        )
    return people


def demo_plan() -> DemoPlan:
    """The whole demo network as plain data; the same on every call."""
    rng = random.Random(SEED)
    fakers: dict[str, Faker] = {}
    for locale in LOCALE_LANGUAGE:
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(SEED)
    organisations = _plan_organisations(rng, fakers)
    fixed = _fixed_people()
    people = fixed + _plan_people(rng, fakers, organisations, {p.email for p in fixed})
    # Written by hand and added last, so they change none of the random draws above.
    return DemoPlan(
        organisations=[*organisations, FORMER_MEMBER], people=[*people, *_membership_people()]
    )


# --- Bringing the database in line with the plan --------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.created: Counter[str] = Counter()
        self.updated: Counter[str] = Counter()


def _plain(value: Any) -> Any:
    return value.code if hasattr(value, "code") else value  # CountryField -> "AT"


def _upsert(
    model: type[models.Model],
    existing: models.Model | None,
    key: dict[str, Any],
    values: dict[str, Any],
    tally: _Tally,
) -> tuple[models.Model, bool]:
    """Create the row, or change only the fields that differ from `values`; True if created."""
    label = model._meta.verbose_name_plural
    if existing is None:
        obj = model(**key, **values)
        obj.full_clean()
        obj.save()
        tally.created[label] += 1
        return obj, True
    changed = [name for name, value in values.items() if _plain(getattr(existing, name)) != value]
    if changed:
        for name in changed:
            setattr(existing, name, values[name])
        existing.full_clean()
        existing.save(update_fields=changed)
        tally.updated[label] += 1
    return existing, False


def _set_related(
    manager: Any, wanted: Sequence[models.Model], *, fresh: bool, tally: _Tally, label: str
) -> None:
    """Set a many-to-many relation of a row just created, or fix it if it differs."""
    if fresh:
        manager.set(wanted)
    elif {obj.pk for obj in manager.all()} != {obj.pk for obj in wanted}:
        manager.set(wanted)
        tally.updated[label] += 1


def _seed_clusters(*, sectors: dict[str, Sector], tally: _Tally) -> dict[str, Cluster]:
    existing = {
        c.slug: c
        for c in Cluster.objects.filter(slug__in=[c["slug"] for c in CLUSTERS]).prefetch_related(
            "sectors"
        )
    }
    clusters = {}
    for spec in CLUSTERS:
        values = {k: v for k, v in spec.items() if k not in ("slug", "sectors")}
        cluster, fresh = _upsert(
            Cluster, existing.get(spec["slug"]), {"slug": spec["slug"]}, values, tally
        )
        _set_related(
            cluster.sectors,
            [sectors[s] for s in spec["sectors"]],
            fresh=fresh,
            tally=tally,
            label="cluster sectors",
        )
        clusters[spec["slug"]] = cluster
    return clusters


def _seed_organisations(
    *, plans: list[OrganisationPlan], sectors: dict[str, Sector], tally: _Tally
) -> dict[str, Organisation]:
    existing = {
        o.slug: o
        for o in Organisation.objects.filter(slug__in=[p.slug for p in plans]).prefetch_related(
            "sectors"
        )
    }
    organisations = {}
    for plan in plans:
        values = {
            "name": plan.name,
            "kind": plan.kind,
            "country": plan.country,
            "region": plan.region,
            "website": f"https://www.{plan.domain}.example",
            "description": plan.description,
        }
        org, fresh = _upsert(
            Organisation, existing.get(plan.slug), {"slug": plan.slug}, values, tally
        )
        _set_related(
            org.sectors,
            [sectors[s] for s in plan.sectors],
            fresh=fresh,
            tally=tally,
            label="organisation sectors",
        )
        organisations[plan.slug] = org
    return organisations


def _seed_users(*, people: list[PersonPlan], tally: _Tally) -> tuple[dict[str, User], set[str]]:
    """Every person's account, keyed by e-mail; and the e-mails created by this run."""
    existing = {u.email: u for u in User.objects.filter(email__in=[p.email for p in people])}
    wanted = {
        p.email: {
            "first_name": p.first_name,
            "last_name": p.last_name,
            "is_active": True,
            "is_staff": p.is_staff,
            "is_superuser": p.is_staff,
        }
        for p in people
    }
    missing = [email for email in wanted if email not in existing]
    if missing:
        password = make_password(DEMO_PASSWORD)  # hashing is slow: once for everybody
        User.objects.bulk_create(
            [User(email=email, password=password, **wanted[email]) for email in missing]
        )
        tally.created["users"] += len(missing)
    changed: dict[str, list[User]] = {}
    for email, user in existing.items():
        fields = [name for name, value in wanted[email].items() if getattr(user, name) != value]
        for name in fields:
            setattr(user, name, wanted[email][name])
        if fields:
            changed.setdefault(",".join(fields), []).append(user)
    for fields, users in changed.items():
        User.objects.bulk_update(users, fields.split(","))
        tally.updated["users"] += len(users)
    users = {u.email: u for u in User.objects.filter(email__in=list(wanted))}
    return users, set(missing)


def _seed_email_addresses(*, users: dict[str, User], tally: _Tally) -> None:
    """Verified primary addresses, so demo users can sign in when verification is mandatory."""
    existing = {
        (a.user_id, a.email): a for a in EmailAddress.objects.filter(user__in=list(users.values()))
    }
    missing = [
        EmailAddress(user=user, email=email, verified=True, primary=True)
        for email, user in users.items()
        if (user.pk, email) not in existing
    ]
    if missing:
        EmailAddress.objects.bulk_create(missing)
        tally.created["e-mail addresses"] += len(missing)
    unverified = [
        a.pk
        for (user_id, email), a in existing.items()
        if email in users and users[email].pk == user_id and not (a.verified and a.primary)
    ]
    if unverified:
        tally.updated["e-mail addresses"] += EmailAddress.objects.filter(pk__in=unverified).update(
            verified=True, primary=True
        )


def _seed_profiles(*, people: list[PersonPlan], users: dict[str, User], tally: _Tally) -> None:
    """Everything of a profile but its organisation, which follows the confirmed
    affiliation (`_seed_affiliations`)."""
    topics = {t.slug: t for t in Topic.objects.all()}
    sectors = {s.slug: s for s in Sector.objects.all()}
    languages = {lang.code: lang for lang in Language.objects.all()}
    # The printed demo logins follow the visitor's browser and the switcher.
    fixed = {plan.email for plan in _fixed_people()}
    existing = {
        p.user_id: p
        for p in Profile.objects.filter(user__in=list(users.values())).prefetch_related(
            "languages", "sectors", "expertise", "interests"
        )
    }
    for person in people:
        user = users[person.email]
        profile = existing.get(user.pk)
        created = profile is None
        if created:
            profile = services.profile_create(user=user, display_name=person.display_name)
            tally.created["profiles"] += 1
        wanted_plain = {
            "display_name": person.display_name,
            "job_title": person.job_title,
            "country": person.country,
            "bio": person.bio,
            "mentoring_stance": person.mentoring_stance,
            "visibility": person.visibility,
            "timezone": person.timezone,
            "preferred_language": "" if person.email in fixed else _site_language(person),
        }
        wanted_m2m = {
            "languages": [languages[c] for c in person.languages],
            "sectors": [sectors[s] for s in person.sectors],
            "expertise": [topics[s] for s in person.expertise],
            "interests": [topics[s] for s in person.interests],
        }
        changes: dict[str, Any] = {}
        for name, value in wanted_plain.items():
            current = _plain(getattr(profile, name))
            if current != value:
                changes[name] = value
        for name, objs in wanted_m2m.items():
            current_pks = set() if created else {o.pk for o in getattr(profile, name).all()}
            if current_pks != {o.pk for o in objs}:
                changes[name] = objs
        if changes:
            services.profile_update(profile=profile, changes=changes)
            if not created:
                tally.updated["profiles"] += 1


def _site_language(person: PersonPlan) -> str:
    """The first language a demo member speaks that the site has (their mail comes in it)."""
    return next((code for code in person.languages if code in SITE_LANGUAGES), "")


def _seed_genders(*, people: list[PersonPlan], users: dict[str, User], new: set[str]) -> int:
    """Genders of accounts this run created; an existing member's record is theirs to keep."""
    recorded = 0
    for person in people:
        if person.email in new and person.gender is not None:
            privacy.gender_set(
                user=users[person.email],
                gender=person.gender,
                self_description=person.self_description,
                statistics_consent=person.statistics_consent,
                # In the demo, whoever agreed to be counted also agreed to count on stage.
                stage_consent=person.statistics_consent,
            )
            recorded += 1
    return recorded


def _seed_organisers(
    *,
    people: list[PersonPlan],
    users: dict[str, User],
    clusters: dict[str, Cluster],
    tally: _Tally,
) -> None:
    staff = users[STAFF_EMAIL]
    held = set(
        ClusterOrganiser.objects.filter(user__in=list(users.values())).values_list(
            "cluster_id", "user_id"
        )
    )
    for person in people:
        if person.organiser_of is None:
            continue
        cluster, user = clusters[person.organiser_of], users[person.email]
        if (cluster.pk, user.pk) not in held:
            services.organiser_grant(cluster=cluster, user=user, granted_by=staff)
            tally.created["cluster organisers"] += 1


# --- Membership: cluster memberships, affiliations, the domain rule, the log --------------

# The year each cluster was founded; nobody has been a member for longer.
CLUSTER_FOUNDED = {"mechatronics": 2006, "maritime": 2009, "textiles": 2012}
# Every membership is years old, so the figures of past periods count its people.
LAST_JOINED_YEAR = 2023
# People per cluster whose request its organiser confirmed in the last weeks.
RECENTLY_CONFIRMED_PER_CLUSTER = 2
# They were answered the next day.
ANSWERED_AFTER = timedelta(days=1, hours=5, minutes=35)


@dataclass(frozen=True)
class MembershipCalendar:
    """The dates of the membership history, all counted back from `anchor`."""

    anchor: datetime  # the Monday of the current week, 00:00 UTC (as in the events demo)
    records_start: datetime  # confirmation began on the site
    former_left_on: date  # the former member's first day without access

    @property
    def pending_requested_at(self) -> datetime:
        """The request still waiting: the Saturday evening before the anchor."""
        return self.anchor - timedelta(days=2) + timedelta(hours=17, minutes=40)

    def requested_at(self, days_back: int) -> datetime:
        return self.anchor - timedelta(days=days_back) + timedelta(hours=8, minutes=20)


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def membership_calendar(now: datetime | None = None) -> MembershipCalendar:
    today = (now or timezone.now()).astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return MembershipCalendar(
        anchor=datetime.combine(monday, time(0), tzinfo=UTC),
        records_start=datetime.combine(_month_start(monday, 6), time(9), tzinfo=UTC),
        former_left_on=_month_start(monday, 4),
    )


def joined_on(organisation: OrganisationPlan, cluster: str) -> date:
    """Since when the organisation belongs (or belonged) to the cluster; the same date on
    every run. A cluster's own office is a member from its founding."""
    if organisation.kind == Kind.CLUSTER_ORGANISATION:
        return date(CLUSTER_FOUNDED[cluster], 1, 1)
    rng = random.Random(f"{SEED}:joined:{organisation.slug}:{cluster}")
    return date(rng.randint(CLUSTER_FOUNDED[cluster], LAST_JOINED_YEAR), rng.randint(1, 12), 1)


def confirmed_since(person: PersonPlan, organisation: OrganisationPlan) -> datetime:
    """When a person there before confirmation existed joined the organisation's people
    (their affiliation counts from then, like the upgrade's profile dates): some day after
    the organisation joined its first cluster, years ago; the same on every run."""
    first = min(joined_on(organisation, c) for c in (*organisation.clusters, *organisation.left))
    first = max(first, date(2015, 1, 1))
    rng = random.Random(f"{SEED}:since:{person.email}")
    day = first + timedelta(days=rng.randrange((date(LAST_JOINED_YEAR + 1, 1, 1) - first).days))
    return datetime.combine(day, time(rng.randint(8, 17), rng.randrange(60)), tzinfo=UTC)


def recently_confirmed(plan: DemoPlan) -> dict[str, tuple[str, int]]:
    """People their cluster's organiser confirmed lately: e-mail -> (cluster, days before
    the anchor they asked). Never a fixed login, nor anyone of the domain-rule company."""
    fixed = {p.email for p in _fixed_people()}
    first_cluster = {o.slug: o.clusters[0] for o in plan.organisations if o.clusters}
    kinds = {o.slug: o.kind for o in plan.organisations}
    chosen: dict[str, tuple[str, int]] = {}
    for spec in CLUSTERS:
        cluster = spec["slug"]
        candidates = sorted(
            p.email
            for p in plan.people
            if p.organisation
            and first_cluster.get(p.organisation) == cluster
            and p.email not in fixed
            and p.organisation != DOMAIN_RULE_ORGANISATION
            and kinds[p.organisation] != Kind.CLUSTER_ORGANISATION
        )
        rng = random.Random(f"{SEED}:confirmed:{cluster}")
        for email in rng.sample(candidates, RECENTLY_CONFIRMED_PER_CLUSTER):
            chosen[email] = (cluster, rng.randint(6, 60))
    return chosen


def _seed_cluster_memberships(
    *,
    plans: list[OrganisationPlan],
    organisations: dict[str, Organisation],
    clusters: dict[str, Cluster],
    calendar: MembershipCalendar,
    tally: _Tally,
) -> None:
    """Members and partners since a year long past, the former member until a few months
    ago; any other membership of a demo organisation in a demo cluster goes."""
    wanted: dict[tuple[int, int], dict[str, Any]] = {}
    for plan in plans:
        org = organisations[plan.slug]
        for slug in plan.clusters:
            wanted[(clusters[slug].pk, org.pk)] = {
                "status": MStatus.PARTNER if slug in plan.partner_of else MStatus.MEMBER,
                "joined_on": joined_on(plan, slug),
                "left_on": None,
            }
        for slug in plan.left:
            wanted[(clusters[slug].pk, org.pk)] = {
                "status": MStatus.FORMER,
                "joined_on": joined_on(plan, slug),
                "left_on": calendar.former_left_on,
            }
    existing = {
        (m.cluster_id, m.organisation_id): m
        for m in ClusterMembership.objects.filter(
            organisation__in=list(organisations.values()), cluster__in=list(clusters.values())
        )
    }
    for (cluster_id, organisation_id), values in wanted.items():
        _upsert(
            ClusterMembership,
            existing.pop((cluster_id, organisation_id), None),
            {"cluster_id": cluster_id, "organisation_id": organisation_id},
            values,
            tally,
        )
    if existing:
        ClusterMembership.objects.filter(pk__in=[m.pk for m in existing.values()]).delete()
        tally.updated["cluster memberships"] += len(existing)


def _seed_affiliations(
    *,
    people: list[PersonPlan],
    users: dict[str, User],
    organisations: dict[str, Organisation],
    organisation_plans: dict[str, OrganisationPlan],
    calendar: MembershipCalendar,
    recent: dict[str, tuple[str, int]],
    new: set[str],
    tally: _Tally,
) -> None:
    """Every person with an organisation has a confirmed affiliation there (the admin
    among them marked), the pending request waits; each profile shows the organisation
    of its confirmed affiliation, as `members.membership` keeps it."""
    wanted: dict[int, tuple[Organisation, dict[str, Any]]] = {}
    for person in people:
        user = users[person.email]
        if person.organisation:
            # Most were there before confirmation existed; a few asked lately.
            via = Via.EXISTING
            requested_at = confirmed_since(person, organisation_plans[person.organisation])
            decided_at = requested_at
            if person.email in recent:
                via, requested_at = Via.ORGANISER, calendar.requested_at(recent[person.email][1])
                decided_at = requested_at + ANSWERED_AFTER
            wanted[user.pk] = (
                organisations[person.organisation],
                {
                    "status": AStatus.CONFIRMED,
                    "is_admin": person.organisation_admin,
                    "confirmed_via": via,
                    "requested_at": requested_at,
                    "decided_at": decided_at,
                    "ended_at": None,
                },
            )
        elif person.requested:
            wanted[user.pk] = (
                organisations[person.requested],
                {
                    "status": AStatus.REQUESTED,
                    "is_admin": False,
                    "confirmed_via": "",
                    "requested_at": calendar.pending_requested_at,
                    "decided_at": None,
                    "ended_at": None,
                },
            )
    current = {
        a.user_id: a
        for a in Affiliation.objects.filter(user_id__in=list(wanted), status__in=Affiliation.OPEN)
    }
    missing = []
    for user_id, (organisation, values) in wanted.items():
        affiliation = current.get(user_id)
        if affiliation is not None and affiliation.organisation_id != organisation.pk:
            # Changed by someone trying the demo: it ends, and stays as history.
            confirmed = affiliation.status == AStatus.CONFIRMED
            affiliation.status = AStatus.ENDED if confirmed else AStatus.WITHDRAWN
            affiliation.is_admin = False
            affiliation.ended_at = timezone.now()
            affiliation.save(update_fields=["status", "is_admin", "ended_at"])
            tally.updated["affiliations"] += 1
            affiliation = None
        if affiliation is None:
            missing.append(Affiliation(user_id=user_id, organisation=organisation, **values))
            continue
        changed = [name for name, value in values.items() if getattr(affiliation, name) != value]
        if changed:
            for name in changed:
                setattr(affiliation, name, values[name])
            affiliation.save(update_fields=changed)
            tally.updated["affiliations"] += 1
    if missing:
        Affiliation.objects.bulk_create(missing)
        tally.created["affiliations"] += len(missing)

    confirmed_at = {
        user_id: organisation.pk
        for user_id, (organisation, values) in wanted.items()
        if values["status"] == AStatus.CONFIRMED
    }
    profiles = Profile.objects.filter(user__in=list(users.values())).only(
        "pk", "user", "organisation"
    )
    new_ids = {users[email].pk for email in new}
    stale = []
    for profile in profiles:
        organisation_id = confirmed_at.get(profile.user_id)
        if profile.organisation_id != organisation_id:
            profile.organisation_id = organisation_id
            stale.append(profile)
    if stale:
        Profile.objects.bulk_update(stale, ["organisation"])
        if changed := sum(p.user_id not in new_ids for p in stale):
            tally.updated["profile organisations"] += changed


def _seed_domain_rule(*, organisations: dict[str, Organisation], tally: _Tally) -> None:
    _upsert(
        OrganisationDomain,
        OrganisationDomain.objects.filter(domain=DOMAIN_RULE).first(),
        {"domain": DOMAIN_RULE},
        {"organisation": organisations[DOMAIN_RULE_ORGANISATION]},
        tally,
    )


def _seed_membership_log(
    *,
    plan: DemoPlan,
    users: dict[str, User],
    organisations: dict[str, Organisation],
    clusters: dict[str, Cluster],
    calendar: MembershipCalendar,
    recent: dict[str, tuple[str, int]],
    tally: _Tally,
) -> None:
    """The decisions behind the rows above, as `members.membership` logs them. An entry is
    keyed by what was decided, by whom, about whom; its time and detail follow the plan."""
    organiser = {c: users[f"organiser@{c}.example"] for c in clusters}
    by_email = {p.email: p for p in plan.people}
    rule_org = organisations[DOMAIN_RULE_ORGANISATION]
    admin = next(p for p in plan.people if p.organisation_admin)
    rule_set_at = calendar.records_start + timedelta(days=9, hours=1, minutes=10)
    entries: list[dict[str, Any]] = [
        {"action": Action.ADMIN_GRANTED, "actor": organiser["mechatronics"],
         "person": users[admin.email], "organisation": rule_org, "at": rule_set_at},
        {"action": Action.DOMAIN_ADDED, "actor": organiser["mechatronics"],
         "organisation": rule_org, "detail": DOMAIN_RULE,
         "at": rule_set_at + timedelta(minutes=4)},
    ]  # fmt: skip
    pending = users[PENDING_EMAIL]
    entries.append(
        {"action": Action.REQUESTED, "actor": pending, "person": pending,
         "organisation": organisations[by_email[PENDING_EMAIL].requested],
         "at": calendar.pending_requested_at}
    )  # fmt: skip
    for email, (cluster, days) in recent.items():
        person = users[email]
        organisation = organisations[by_email[email].organisation]
        requested_at = calendar.requested_at(days)
        entries += [
            {"action": Action.REQUESTED, "actor": person, "person": person,
             "organisation": organisation, "at": requested_at},
            {"action": Action.CONFIRMED, "actor": organiser[cluster], "person": person,
             "organisation": organisation, "detail": str(Via.ORGANISER.label),
             "at": requested_at + ANSWERED_AFTER},
        ]  # fmt: skip
    for org_plan in plan.organisations:
        for cluster in org_plan.left:
            status = f"{MStatus.FORMER.label}, {joined_on(org_plan, cluster)} – "
            entries.append(
                {"action": Action.CLUSTER_CHANGED, "actor": organiser[cluster],
                 "organisation": organisations[org_plan.slug], "cluster": clusters[cluster],
                 "detail": f"{status}{calendar.former_left_on}",
                 "at": datetime.combine(calendar.former_left_on - timedelta(days=10),
                                        time(11, 30), tzinfo=UTC)}
            )  # fmt: skip

    def key(entry: dict[str, Any]) -> tuple:
        return tuple(
            getattr(entry.get(name), "pk", None)
            for name in ("actor", "person", "organisation", "cluster")
        ) + (entry["action"],)

    existing: dict[tuple, MembershipLog] = {}
    rows = MembershipLog.objects.filter(
        organisation__in={e["organisation"].pk for e in entries}
    ).order_by("pk")
    for row in rows:
        existing.setdefault(
            (row.actor_id, row.person_id, row.organisation_id, row.cluster_id, row.action), row
        )
    missing = []
    for entry in entries:
        values = {"at": entry["at"], "detail": entry.get("detail", "")}
        row = existing.get(key(entry))
        if row is None:
            fields = {k: v for k, v in entry.items() if k not in values}
            missing.append(MembershipLog(**fields, **values))
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            for name in changed:
                setattr(row, name, values[name])
            row.save(update_fields=changed)
            tally.updated["membership log entries"] += 1
    if missing:
        MembershipLog.objects.bulk_create(missing)
        tally.created["membership log entries"] += len(missing)


@transaction.atomic
def demo_seed(*, stdout_write: Callable[[str], object] | None = None) -> DemoLogins:
    """Build (or bring back) the demo network; safe to run any number of times."""
    say = stdout_write or (lambda message: None)
    plan = demo_plan()
    tally = _Tally()

    sectors = {s.slug: s for s in Sector.objects.all()}
    needed = {s for spec in CLUSTERS for s in spec["sectors"]}
    needed |= {s for o in plan.organisations for s in o.sectors}
    if needed - set(sectors) or not Topic.objects.exists() or not Language.objects.exists():
        raise RuntimeError("The topic taxonomy is missing: run `manage.py migrate` first.")

    calendar = membership_calendar()
    clusters = _seed_clusters(sectors=sectors, tally=tally)
    organisations = _seed_organisations(plans=plan.organisations, sectors=sectors, tally=tally)
    _seed_cluster_memberships(
        plans=plan.organisations,
        organisations=organisations,
        clusters=clusters,
        calendar=calendar,
        tally=tally,
    )
    say(f"{len(clusters)} clusters, {len(organisations)} organisations")
    users, new_emails = _seed_users(people=plan.people, tally=tally)
    _seed_email_addresses(users=users, tally=tally)
    _seed_profiles(people=plan.people, users=users, tally=tally)
    say(f"{len(users)} members ({len(new_emails)} new accounts)")
    genders = _seed_genders(people=plan.people, users=users, new=new_emails)
    if genders:
        tally.created["gender records"] += genders
    _seed_organisers(people=plan.people, users=users, clusters=clusters, tally=tally)
    recent = recently_confirmed(plan)
    _seed_affiliations(
        people=plan.people,
        users=users,
        organisations=organisations,
        organisation_plans={o.slug: o for o in plan.organisations},
        calendar=calendar,
        recent=recent,
        new=new_emails,
        tally=tally,
    )
    _seed_domain_rule(organisations=organisations, tally=tally)
    _seed_membership_log(
        plan=plan,
        users=users,
        organisations=organisations,
        clusters=clusters,
        calendar=calendar,
        recent=recent,
        tally=tally,
    )

    cluster_names = {c["slug"]: c["name"] for c in CLUSTERS}
    org_names = {o.slug: o.name for o in plan.organisations}
    fixed = _fixed_people()
    return DemoLogins(
        url=settings.SITE_URL,
        password=DEMO_PASSWORD,
        staff=DemoLogin(STAFF_EMAIL, "staff and superuser (admin at /admin/)"),
        organisers=tuple(
            DemoLogin(p.email, f"organiser of {cluster_names[p.organiser_of]}")
            for p in fixed
            if p.organiser_of
        ),
        members=tuple(
            DemoLogin(
                p.email,
                f"{p.display_name}, {p.job_title} at {org_names[p.organisation]}"
                + (" (its organisation admin)" if p.organisation_admin else ""),
            )
            for p in fixed
            if not p.is_staff and not p.organiser_of and p.organisation
        ),
        totals={
            "clusters": len(clusters),
            "organisations": len(organisations),
            "members": len(users),
        },
        created=dict(tally.created),
        updated=dict(tally.updated),
    )
