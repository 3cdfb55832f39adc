"""The demo mentoring programmes that `manage.py seed_demo` adds after members and events.

Two programmes, both drawn from the members demo network:

- "Women in Leadership 2027", a 1:1 programme of the Danube Mechatronics Alliance whose
  mentee track is for women working in a member organisation. It started a few months
  ago and is running: mentors and mentees applied and were approved, the matching ran and
  was published, most pairs accepted, two were declined and re-matched in a second run
  whose proposals still await answers. Pairs have met (meeting logs, goals and progress),
  a few have finished (one early) and gave feedback, so the organisers' health figures (satisfaction
  included) are filled in. Anna Keller (anna.keller@demo.example) mentors one running
  pair, locked by the organisers before the first run.
- "Digital Skills Circles 2027", a circles programme of the Euro-Med Smart Textiles
  Cluster, open for applications for about three more weeks: mentors and mentees have
  applied, most are approved and a few still wait for review; nothing is matched yet, so
  the organiser can press "Run matching".

Everything that a person or an organiser does goes through `matchmaking.services`
(applications, reviews, the lock, matching runs, publication, answers, meeting logs,
goals, endings, feedback), so the rules and the mail hold; the mail those services queue
lands wherever mail is configured (files under var/mail/ in the demo). Services work in
the present, so the running programme's history is then moved into the past by writing
its dates directly (as `events.demo` writes past registrations): the application window,
submissions and reviews, the first run and its publication, answers and acceptances. The
meeting logs are added after that, through the service, at past dates that lie after each
pair's acceptance.

The people, their roles and every choice come from the members plan and fixed seeds
(`random.Random(2029)`), so every first run builds the same programmes; who applies as a
woman is decided from the genders the members plan recorded for its own accounts (the plan
is in memory; no one's gender record is read here). A programme is keyed by its slug and
built once: when it exists, it is the organisers' (they may have run the matching, closed
applications or edited it), and a second run changes nothing and queues no mail.
"""

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from events.demo import demo_anchor
from matchmaking import services
from matchmaking.models import (
    Application,
    Feedback,
    Match,
    MatchingRun,
    MeetingLog,
    PairRule,
    Programme,
)
from members.demo import TOPIC_PHRASES, DemoPlan, PersonPlan, demo_plan
from members.models import Cluster, GenderIdentity, Language, Sector, Topic, User

SEED = 2029

Gender = GenderIdentity.Gender
Role = Application.Role
Seniority = Application.Seniority
Format = Application.MeetingFormat
MStatus = Match.Status

LEADERSHIP_SLUG = "women-in-leadership-2027"
CIRCLES_SLUG = "digital-skills-circles-2027"
ANNA = "anna.keller@demo.example"
LUCA = "luca.romano@demo.example"

EXECUTIVE_TITLES = {
    "Managing Director", "Founder & CEO", "Head of Engineering", "Head of Innovation",
    "Plant Manager", "Professor", "Head of Department", "Partner", "Venture Partner",
    "Secretary General", "Head of Business Development",
}  # fmt: skip
SENIOR_TITLES = EXECUTIVE_TITLES | {
    "Senior Engineer", "Senior Researcher", "R&D Project Lead", "Digital Transformation Lead",
    "Team Lead Automation", "Operations Manager", "Production Manager", "Quality Manager",
    "Supply Chain Manager", "Sustainability Manager", "Lab Manager",
}  # fmt: skip
EARLY_TITLES = {
    "PhD Candidate", "Analyst", "Associate", "Software Developer", "R&D Engineer",
    "Research Engineer", "Postdoctoral Researcher", "Event Coordinator", "Trainer",
}  # fmt: skip

AVAILABILITY = (
    "one hour every two weeks",
    "one hour a month, evenings",
    "an hour every three weeks, lunchtime",
    "flexible, mostly Friday afternoons",
    "every two weeks, early mornings",
)
MEETING_NOTES = (
    "Talked through the first 90 days in the new role and what to delegate.",
    "Prepared the pitch for the budget meeting; practised the difficult questions.",
    "Went through the feedback from the team survey and picked two things to change.",
    "Discussed how to build a network outside the company; agreed on three events to attend.",
    "Reviewed the project plan and the stakeholder map.",
    "Shared experience of leading people who used to be peers.",
    "Looked at the promotion criteria and what evidence to collect.",
    "Short call: checked in on progress, set the agenda for next time.",
)
LEADERSHIP_GOALS = (
    "Grow into a leadership role and get better at {first}{also}.",
    "Find a sparring partner for {first}; build confidence leading a team.",
    "Learn from someone who has done it: {first}{also} in practice.",
)
DIGITAL_GOALS = (
    "Put {first} to work in our company; a group to compare notes with.",
    "Catch up on {first}{also} with people facing the same questions.",
    "Plan our first steps in {first} and learn from others' mistakes.",
)
FEEDBACK = (
    (5, "Exactly the outside view I needed; we reached both goals."),
    (5, "Generous with time and very honest. I would do it again."),
    (4, "Very useful conversations, though we met less often than planned."),
    (4, "A good match; the mentee came prepared every time."),
    (5, "It was a pleasure to see the progress over the months."),
    (3, "Helpful, but our schedules made it hard to keep a rhythm."),
)


# --- The plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationPlan:
    email: str
    role: str
    fields: dict[str, Any]
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    sectors: tuple[str, ...]
    approved: bool = True
    late: bool = False  # approved only after the first matching run


@dataclass
class ProgrammePlan:
    slug: str
    cluster: str
    organiser: str
    values: dict[str, Any]
    applications: list[ApplicationPlan] = field(default_factory=list)
    lock: tuple[str, str] | None = None  # (mentor e-mail, mentee e-mail)


def _members_of(network: DemoPlan, cluster: str) -> list[PersonPlan]:
    """Members of the cluster's organisations, organisers and staff left out."""
    clusters_of = {o.slug: o.clusters for o in network.organisations}
    return [
        p
        for p in network.people
        if p.organisation
        and cluster in clusters_of[p.organisation]
        and not p.is_staff
        and not p.organiser_of
    ]


def _seniority(person: PersonPlan, role: str) -> int:
    if role == Role.MENTOR:
        return Seniority.EXECUTIVE if person.job_title in EXECUTIVE_TITLES else Seniority.SENIOR
    return Seniority.EARLY if person.job_title in EARLY_TITLES else Seniority.MID


def _application(
    person: PersonPlan,
    role: str,
    rng: random.Random,
    *,
    region: str,
    extra_topics: tuple[str, ...],
    goals: tuple[str, ...] = (),
    fields: dict[str, Any] | None = None,
    **flags: bool,
) -> ApplicationPlan:
    own = person.expertise if role == Role.MENTOR else person.interests
    topics = tuple(dict.fromkeys([*own[:3], *extra_topics]))
    values: dict[str, Any] = {
        "seniority": _seniority(person, role),
        "meeting_format": rng.choice((Format.ONLINE, Format.EITHER, Format.EITHER)),
        "country": person.country,
        "region": region,
        "timezone": person.timezone,
        "availability": rng.choice(AVAILABILITY),
    }
    if role == Role.MENTOR:
        values["capacity"] = rng.choice((1, 2, 2, 2, 3))
    else:
        first, *rest = [TOPIC_PHRASES[t] for t in topics]
        also = f" and {rest[0]}" if rest else ""
        values["goals"] = rng.choice(goals).format(first=first, also=also)
    values.update(fields or {})
    return ApplicationPlan(
        email=person.email,
        role=role,
        fields=values,
        topics=topics,
        languages=person.languages,
        sectors=person.sectors,
        **flags,
    )


def _plan_leadership(network: DemoPlan, anchor: datetime, rng: random.Random) -> ProgrammePlan:
    region_of = {o.slug: o.region for o in network.organisations}
    members = _members_of(network, "mechatronics")
    anna = next(p for p in members if p.email == ANNA)
    offers = [p for p in members if p.mentoring_stance == "offers" and p.email != ANNA]
    senior = [
        p
        for p in members
        if p.mentoring_stance == "neither"
        and p.job_title in SENIOR_TITLES
        and p.gender != Gender.WOMAN  # the women of the cluster are the mentee track
    ]
    mentors = [anna, *offers, *rng.sample(senior, min(len(senior), 25 - 1 - len(offers)))]
    taken = {p.email for p in mentors}
    # The mentee track is for women: members whose own record (as the members plan wrote
    # it) says so. Those who said they seek a mentor first.
    women = [p for p in members if p.gender == Gender.WOMAN and p.email not in taken]
    women.sort(key=lambda p: p.mentoring_stance != "seeks")
    mentees = women[:60]
    anna_mentee = next(
        p for p in mentees if p.mentoring_stance == "seeks" and p.organisation != anna.organisation
    )
    plan = ProgrammePlan(
        slug=LEADERSHIP_SLUG,
        cluster="mechatronics",
        organiser="organiser@mechatronics.example",
        values={
            "title": "Women in Leadership 2027",
            "summary": (
                "Twelve months of one-to-one mentoring for women in the alliance's member "
                "organisations who lead, or want to lead, teams and projects."
            ),
            "description": (
                "## How it works\n\n"
                "- Mentors from across the alliance, matched to you on topics, sector, "
                "seniority, language and place\n"
                "- You meet about once a month, online or in person, and log your meetings\n"
                "- A kick-off, a mid-term get-together and a closing event\n\n"
                "You may ask for a mentor of a particular gender; mentors choose whether that "
                "may be used, and it is a preference, never a rule."
            ),
            "format": Programme.Format.ONE_TO_ONE,
            "timezone": "Europe/Vienna",
            "mentee_eligibility": Programme.Eligibility.TARGET_GROUP,
            "mentee_target_group": "Women working in a member organisation of the cluster",
            "mentor_eligibility": Programme.Eligibility.MEMBERS,
            "allow_mentor_gender_preference": True,
            "weight_topics": 40,
            "weight_relevance": 20,
            "weight_seniority": 15,
            "weight_place": 15,
            "weight_preferences": 10,
            "acceptance_days": 14,
            "nudge_after_days": 30,
            # Where the programme's history lies; written once the services have run.
            "applications_open_at": anchor - timedelta(weeks=22),
            "applications_close_at": anchor - timedelta(weeks=18),
            "starts_on": (anchor - timedelta(weeks=16)).date(),
            "ends_on": (anchor + timedelta(weeks=36)).date(),
        },
        lock=(ANNA, anna_mentee.email),
    )
    for person in mentors:
        region = region_of[person.organisation]
        plan.applications.append(
            _application(
                person,
                Role.MENTOR,
                rng,
                region=region,
                extra_topics=("leadership", "women-in-leadership")[: rng.randint(1, 2)],
                fields={
                    "gender_may_be_matched": person.gender == Gender.WOMAN or rng.random() < 0.5
                },
            )
        )
    late = set(rng.sample([p.email for p in mentees if p.email != anna_mentee.email], 3))
    for person in mentees:
        prefers_woman = rng.random() < 0.25
        plan.applications.append(
            _application(
                person,
                Role.MENTEE,
                rng,
                region=region_of[person.organisation],
                extra_topics=("leadership", "women-in-leadership"),
                goals=LEADERSHIP_GOALS,
                fields={
                    "belongs_to_target_group": True,
                    "preferred_mentor_gender": Gender.WOMAN if prefers_woman else "",
                },
                late=person.email in late,
            )
        )
    return plan


def _plan_circles(network: DemoPlan, anchor: datetime, rng: random.Random) -> ProgrammePlan:
    region_of = {o.slug: o.region for o in network.organisations}
    members = _members_of(network, "textiles")
    offers = [p for p in members if p.mentoring_stance == "offers"]
    mentors = rng.sample(offers, 6)
    taken = {p.email for p in mentors}
    seekers = [p for p in members if p.mentoring_stance == "seeks" and p.email not in taken]
    others = [p for p in members if p.mentoring_stance == "neither" and p.email not in taken]
    mentees = seekers + rng.sample(others, 25 - len(seekers))
    mentees.sort(key=lambda p: p.email != LUCA)  # the demo login applied first
    closes = anchor + timedelta(weeks=3, days=4, hours=16)
    starts_on = (anchor + timedelta(weeks=8)).date()  # a Monday, after the winter holidays
    plan = ProgrammePlan(
        slug=CIRCLES_SLUG,
        cluster="textiles",
        organiser="organiser@textiles.example",
        values={
            "title": "Digital Skills Circles 2027",
            "summary": (
                "Small groups of five around one experienced mentor: e-commerce, data and "
                "digital product passports for textile companies."
            ),
            "description": (
                "Each circle meets online every four weeks for six months. Bring a real "
                "question from your work; the circle works on it together.\n\n"
                "Applications close in a few weeks; the circles are announced soon after."
            ),
            "format": Programme.Format.CIRCLES,
            "circle_size": 5,
            "circle_meeting_weeks": 4,
            "timezone": "Europe/Rome",
            "mentee_eligibility": Programme.Eligibility.MEMBERS,
            "mentor_eligibility": Programme.Eligibility.MEMBERS,
            "allow_mentor_gender_preference": False,
            "applications_open_at": anchor - timedelta(weeks=2),
            "applications_close_at": closes,
            "starts_on": starts_on,
            "ends_on": starts_on + timedelta(weeks=26),
        },
    )
    for person in mentors:
        plan.applications.append(
            _application(
                person,
                Role.MENTOR,
                rng,
                region=region_of[person.organisation],
                extra_topics=("digital-skills",),
            )
        )
    waiting = set(rng.sample([p.email for p in mentees if p.email != LUCA], 4))
    for person in mentees:
        plan.applications.append(
            _application(
                person,
                Role.MENTEE,
                rng,
                region=region_of[person.organisation],
                extra_topics=("digital-skills",),
                goals=DIGITAL_GOALS,
                approved=person.email not in waiting,
            )
        )
    return plan


def demo_mentoring_plan(*, anchor: datetime) -> list[ProgrammePlan]:
    """Both demo programmes, planned in memory: the same people on every call."""
    rng = random.Random(SEED)
    network = demo_plan()
    return [_plan_leadership(network, anchor, rng), _plan_circles(network, anchor, rng)]


# --- Bringing the database in line with the plan ----------------------------------------


@dataclass
class DemoMentoring:
    totals: dict[str, int]
    created: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        summary = ", ".join(f"{n} {name}" for name, n in self.totals.items())
        changes = "; ".join(f"created {n} {name}" for name, n in self.created.items())
        return f"Mentoring demo ({summary}): {changes or 'already up to date'}."


class _Refs:
    def __init__(self, emails: set[str]) -> None:
        self.users = {u.email: u for u in User.objects.filter(email__in=emails)}
        missing = emails - set(self.users)
        if missing:
            raise RuntimeError("The demo members are missing: run the members demo seed first.")
        self.topics = {t.slug: t for t in Topic.objects.all()}
        self.languages = {lang.code: lang for lang in Language.objects.all()}
        self.sectors = {s.slug: s for s in Sector.objects.all()}


def _create_programme(plan: ProgrammePlan, refs: _Refs, *, open_until: datetime) -> Programme:
    """The programme, open for applications now (a running one's dates move back later)."""
    now = timezone.now()
    values = dict(plan.values)
    if values["applications_close_at"] <= now:
        values["applications_open_at"] = now - timedelta(minutes=1)
        values["applications_close_at"] = open_until
    programme = Programme(
        slug=plan.slug,
        status=Programme.Status.OPEN,
        created_by=refs.users[plan.organiser],
        **values,
    )
    programme.full_clean()
    programme.save()
    programme.clusters.set(Cluster.objects.filter(slug=plan.cluster))
    return programme


def _apply(
    programme: Programme, plans: list[ApplicationPlan], refs: _Refs
) -> dict[str, Application]:
    applications = {}
    for ap in plans:
        applications[ap.email] = services.application_submit(
            programme=programme,
            user=refs.users[ap.email],
            role=ap.role,
            fields=ap.fields,
            topics=[refs.topics[t] for t in ap.topics],
            languages=[refs.languages[c] for c in ap.languages],
            sectors=[refs.sectors[s] for s in ap.sectors],
        )
    return applications


def _review(
    applications: dict[str, Application], plans: list[ApplicationPlan], organiser: User
) -> None:
    for ap in plans:
        services.application_review(application=applications[ap.email], by=organiser, approve=True)


def _backdate_applications(
    programme: Programme, values: dict[str, Any], rng: random.Random, *, reviewed: datetime | None
) -> None:
    """Submissions spread over the application window so far; the reviewed ones reviewed
    at `reviewed`, or (None) a day or two after they came in."""
    now = timezone.now()
    opens, closes = values["applications_open_at"], values["applications_close_at"]
    window = int((min(closes, now) - opens).total_seconds())
    rows = list(Application.objects.filter(programme=programme).order_by("pk"))
    for row in rows:
        row.created_at = row.updated_at = opens + timedelta(seconds=rng.randint(600, window - 600))
        if row.reviewed_at is not None:
            at = reviewed or min(row.created_at + timedelta(hours=rng.randint(5, 48)), now)
            row.reviewed_at = row.updated_at = max(row.created_at, at)
    Application.objects.bulk_update(rows, ["created_at", "updated_at", "reviewed_at"])


def _meetings(rng: random.Random, *, first: date, until: date, most: int) -> list[date]:
    days, day = [], first
    while day <= until and len(days) < most:
        days.append(day)
        day += timedelta(days=rng.randint(18, 32))
    return days


def _seed_leadership(plan: ProgrammePlan, refs: _Refs) -> Programme:
    rng = random.Random(f"{SEED}:{plan.slug}")
    organiser = refs.users[plan.organiser]
    now = timezone.now()
    today = timezone.localdate()
    programme = _create_programme(plan, refs, open_until=now + timedelta(days=1))
    applications = _apply(programme, plan.applications, refs)
    _review(applications, [a for a in plan.applications if not a.late], organiser)
    mentor, mentee = plan.lock
    services.pair_rule_set(
        programme=programme, by=organiser, mentor=applications[mentor],
        mentee=applications[mentee], kind=PairRule.Kind.LOCK,
    )  # fmt: skip

    # The first run, published to everyone; nearly everybody accepts, two pairs decline.
    first_run = services.programme_match_run(programme=programme, by=organiser)
    services.programme_publish(programme=programme, by=organiser)
    proposed = list(
        Match.objects.filter(run=first_run).select_related("mentor__user", "mentee__user")
    )
    locked = next(m for m in proposed if m.mentor.user.email == ANNA)
    others = [m for m in proposed if m.pk != locked.pk]
    declining = {others[3].pk: "mentee", others[11].pk: "mentor"}
    for match in proposed:
        sides = (match.mentee.user, match.mentor.user)
        if match.pk in declining:
            person = match.mentee.user if declining[match.pk] == "mentee" else match.mentor.user
            services.match_respond(match=match, by=person, accept=False)
            continue
        for person in sides if rng.random() < 0.5 else reversed(sides):
            services.match_respond(match=match, by=person, accept=True)

    # Late applicants approved, and a second run for them and the declined pairs' mentees:
    # published a few days ago, still waiting for answers (one side has answered once).
    _review(applications, [a for a in plan.applications if a.late], organiser)
    second_run = services.programme_match_run(programme=programme, by=organiser)
    services.programme_publish(programme=programme, by=organiser)
    waiting = list(Match.objects.filter(run=second_run).select_related("mentee__user"))
    if waiting:
        services.match_respond(match=waiting[0], by=waiting[0].mentee.user, accept=True)

    # Move what happened so far into the past.
    values = plan.values
    first_published = values["applications_close_at"] + timedelta(days=9, hours=9)
    second_published = now - timedelta(days=3, hours=2)
    Programme.objects.filter(pk=programme.pk).update(
        applications_open_at=values["applications_open_at"],
        applications_close_at=values["applications_close_at"],
        created_at=values["applications_open_at"] - timedelta(weeks=2),
    )
    programme.refresh_from_db()
    _backdate_applications(
        programme, values, rng, reviewed=values["applications_close_at"] + timedelta(days=2)
    )
    late_ids = [applications[a.email].pk for a in plan.applications if a.late]
    Application.objects.filter(pk__in=late_ids).update(
        reviewed_at=second_published - timedelta(days=1)
    )
    MatchingRun.objects.filter(pk=first_run.pk).update(
        created_at=first_published - timedelta(days=2), published_at=first_published
    )
    MatchingRun.objects.filter(pk=second_run.pk).update(
        created_at=second_published - timedelta(hours=20), published_at=second_published
    )
    Match.objects.filter(run=second_run).update(
        created_at=second_published - timedelta(hours=20),
        published_at=second_published,
        respond_by=second_published + timedelta(days=programme.acceptance_days),
    )
    history = list(Match.objects.filter(run=first_run).order_by("pk"))
    for match in history:
        match.created_at = first_published - timedelta(days=2)
        match.published_at = first_published
        match.respond_by = first_published + timedelta(days=programme.acceptance_days)
        answered = first_published + timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 8))
        if match.status == MStatus.ACCEPTED:
            match.accepted_at = match.updated_at = answered
        else:
            match.ended_at = match.updated_at = answered
    Match.objects.bulk_update(
        history, ["created_at", "published_at", "respond_by", "accepted_at", "ended_at",
                  "updated_at"],
    )  # fmt: skip

    # The months since: meetings, goals, a few pairs done (with feedback), one ended early.
    accepted = [m for m in history if m.status == MStatus.ACCEPTED]
    rest = [m for m in accepted if m.pk != locked.pk]
    completed, ended_early = rest[:4], rest[4:5]
    quiet = {m.pk for m in rng.sample(rest[5:], min(5, len(rest[5:])))}
    logs: list[tuple[MeetingLog, datetime]] = []
    pairs = Match.objects.filter(pk__in=[m.pk for m in accepted])
    users = {
        m.pk: (m.mentor.user, m.mentee.user)
        for m in pairs.select_related("mentor__user", "mentee__user")
    }
    for match in accepted:
        if match.pk in quiet:
            continue  # accepted, not met yet
        mentor_user, mentee_user = users[match.pk]
        start = timezone.localdate(match.accepted_at) + timedelta(days=rng.randint(4, 12))
        if match in completed:
            most = rng.randint(3, 5)
            until = today - timedelta(days=10)
        elif match in ended_early:
            most, until = 1, today
        else:
            most = rng.randint(2, 6)
            until = today - timedelta(days=rng.randint(1, 40))
        if match.pk == locked.pk:
            most, until = 6, today - timedelta(days=5)
        for day in _meetings(rng, first=start, until=until, most=most):
            author = mentee_user if rng.random() < 0.6 else mentor_user
            log = services.meeting_log_add(
                match=match, by=author, met_on=day, notes=rng.choice(MEETING_NOTES)
            )
            logs.append((log, datetime.combine(day, time(18, 30), tzinfo=now.tzinfo)))
        if match.pk == locked.pk or rng.random() < 0.4:
            services.match_update_goals(
                match=match, by=mentee_user,
                goals="1. Lead the team's next project from kick-off to hand-over.\n"
                      "2. Speak at one cluster event.",
                progress="Project kicked off; proposal for the spring event sent in.",
            )  # fmt: skip
    for log, logged_at in logs:
        log.created_at = logged_at
    MeetingLog.objects.bulk_update([log for log, _ in logs], ["created_at"])

    finished: list[tuple[Match, bool]] = [(m, True) for m in completed]
    finished += [(m, False) for m in ended_early]
    for match, done in finished:
        mentor_user, mentee_user = users[match.pk]
        match = services.match_end(
            match=match, by=mentee_user, completed=done,
            reason="" if done else "Changed jobs and can no longer make the time.",
        )  # fmt: skip
        raters = (mentee_user, mentor_user) if done else (mentee_user,)
        for person in raters:
            rating, comment = rng.choice(FEEDBACK)
            services.feedback_submit(match=match, by=person, rating=rating, comment=comment)
        last = Match.objects.get(pk=match.pk).last_met_on or today - timedelta(days=20)
        ended = datetime.combine(last + timedelta(days=3), time(17), tzinfo=now.tzinfo)
        Match.objects.filter(pk=match.pk).update(ended_at=ended, updated_at=ended)
        Feedback.objects.filter(match=match).update(created_at=ended + timedelta(days=1))
    return programme


def _seed_circles(plan: ProgrammePlan, refs: _Refs) -> Programme:
    rng = random.Random(f"{SEED}:{plan.slug}")
    organiser = refs.users[plan.organiser]
    programme = _create_programme(plan, refs, open_until=plan.values["applications_close_at"])
    applications = _apply(programme, plan.applications, refs)
    _review(applications, [a for a in plan.applications if a.approved], organiser)
    _backdate_applications(programme, plan.values, rng, reviewed=None)
    return programme


@transaction.atomic
def demo_seed(*, stdout_write: Callable[[str], object] | None = None) -> DemoMentoring:
    """Add the demo mentoring programmes once; a second run changes nothing."""
    say = stdout_write or (lambda message: None)
    slugs = [LEADERSHIP_SLUG, CIRCLES_SLUG]
    existing = set(Programme.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    result = DemoMentoring(totals={})
    todo: list[ProgrammePlan] = []
    if existing != set(slugs):  # planning costs a second: only when something is missing
        plans = demo_mentoring_plan(anchor=demo_anchor())
        todo = [p for p in plans if p.slug not in existing]
    if todo:
        emails = {p.organiser for p in todo} | {a.email for p in todo for a in p.applications}
        refs = _Refs(emails)
        for plan in todo:
            if plan.slug == LEADERSHIP_SLUG:
                _seed_leadership(plan, refs)
            else:
                _seed_circles(plan, refs)
            result.created["programmes"] += 1
            result.created["applications"] += len(plan.applications)
        say(f"{len(todo)} demo mentoring programmes built")
    programmes = Programme.objects.filter(slug__in=slugs)
    counts = dict(
        Match.objects.filter(programme__in=programmes)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    result.totals = {
        "programmes": programmes.count(),
        "applications": Application.objects.filter(programme__in=programmes).count(),
        "running matches": counts.get(MStatus.ACCEPTED, 0) + counts.get(MStatus.ACTIVE, 0),
        "completed matches": counts.get(MStatus.COMPLETED, 0),
    }
    built = Match.objects.filter(programme__slug__in=[p.slug for p in todo]).count()
    if built:
        result.created["matches"] = built
    return result
