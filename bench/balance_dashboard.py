"""Cluster gender-balance dashboard with 1,000,000 registrations over 10,000 events (issue 6).

PostgreSQL. The data set: 3 clusters (most events in the first), 60 organisations, 50,000
people with profiles, a gender record for ~85% of them (~85% consenting to statistics),
10,000 events over the last five years and the next months, 1,000,000 event registrations
(attended / no-show / cancelled for past events, confirmed / waitlisted / cancelled for
upcoming ones), ~3 stage roles per event, panels with moderators and consenting guests.
A ten times smaller copy (1,000 events, 100,000 registrations, its own 3 clusters, the same
people) is the baseline. Both are generated once (bulk inserts) and reused by later runs.

Measured, for the busiest cluster, with the default filter (last 12 months, by quarter)
and an all-time filter:
- in-process: one "dashboard" = balance_by_period_and_kind (trend and kind) + balance_by_topic +
  balance_pipeline + stage_in_period + events_against_target (25 latest events) — median
  and p95 over RUNS runs, and its query count (which must not grow with the data);
- over HTTP, when the page `/events/balance/<cluster>/` exists: gunicorn on 127.0.0.1, an
  organiser of the cluster, REQUESTS sequential requests per filter, median and p95.
"""

import random
import time
from datetime import date, timedelta

from bench._support import (
    django_setup,
    gunicorn,
    logged_in,
    median,
    percentile,
    record,
    request,
    route_exists,
)

USERS = 50_000
ORGANISATIONS = 60
TOPICS = 12
FULL = ("full", 10_000, 1_000_000)
TENTH = ("tenth", 1_000, 100_000)
PREFIX = "bench-bal-"
RUNS = 15  # in-process dashboards per filter
REQUESTS = 15  # HTTP requests per filter
TIME_LIMIT = 120  # seconds per measured series at most
TARGET_MS = 1000
COMMAND = "make bench BENCH=balance_dashboard  (python -m bench balance_dashboard)"


# --- the data set ----------------------------------------------------------------------


def _clusters(tag: str):
    from members.models import Cluster

    return [
        Cluster.objects.get_or_create(
            slug=f"{PREFIX}{tag}-{c}", defaults={"name": f"Bench balance {tag} {c}"}
        )[0]
        for c in "abc"
    ]


def _people(rng: random.Random) -> None:
    """60 organisations in the clusters of both sets; 50,000 people with profiles and
    (for ~85%) a gender record. Created once."""
    from django.contrib.auth.hashers import make_password

    from members.models import GenderIdentity, Organisation, Profile, User

    full, tenth = _clusters(FULL[0]), _clusters(TENTH[0])
    if User.objects.filter(email__startswith=PREFIX).count() >= USERS:
        return
    G = GenderIdentity.Gender
    organisations = []
    for o in range(ORGANISATIONS):
        organisation, _ = Organisation.objects.get_or_create(
            slug=f"{PREFIX}org-{o:02d}", defaults={"name": f"Bench balance organisation {o}"}
        )
        # 40 in the first cluster, 12 in the second, 8 in the third; every 10th in two.
        c = 0 if o < 40 else 1 if o < 52 else 2
        wanted = {c} | ({(c + 1) % 3} if o % 10 == 0 else set())
        organisation.clusters.add(*[full[i] for i in wanted], *[tenth[i] for i in wanted])
        organisations.append(organisation)
    unusable = make_password(None)
    User.objects.filter(email__startswith=PREFIX).delete()
    User.objects.bulk_create(
        [
            User(email=f"{PREFIX}{j:05d}@bench.example", password=unusable, is_active=True)
            for j in range(USERS)
        ],
        batch_size=5000,
    )
    users = list(User.objects.filter(email__startswith=PREFIX).order_by("email"))
    Profile.objects.bulk_create(
        [
            Profile(
                user=u,
                display_name=f"Bench person {j}",
                organisation=organisations[rng.randrange(ORGANISATIONS)],
            )
            for j, u in enumerate(users)
        ],
        batch_size=5000,
    )
    # Of the people with a record: 38% women, 52% men, 2% non-binary, 1% self-described,
    # 7% undisclosed; 85% consent to statistics.
    weights = [(G.WOMAN, 38), (G.MAN, 52), (G.NON_BINARY, 2), (G.SELF_DESCRIBED, 1),
               (G.UNDISCLOSED, 7)]  # fmt: skip
    genders = [g for g, w in weights for _ in range(w)]
    records = []
    for u in users:
        if rng.random() >= 0.85:
            continue
        gender = rng.choice(genders)
        records.append(
            GenderIdentity(
                user=u,
                gender=gender,
                self_description="bench" if gender == G.SELF_DESCRIBED else "",
                statistics_consent=rng.random() < 0.85,
            )
        )
    GenderIdentity.objects.bulk_create(records, batch_size=5000)


def _dataset(tag: str, events_count: int, registrations: int, rng: random.Random):
    """The events, registrations, sessions and stage roles of one set; created once."""
    from django.db import connection, transaction
    from django.utils import timezone

    from events.models import Event, Registration, Session, StageRole
    from members.models import Profile, Topic

    clusters = _clusters(tag)
    prefix = f"{PREFIX}{tag}-"
    have_events = Event.objects.filter(slug__startswith=prefix).count()
    if have_events == events_count and (
        Registration.objects.filter(event__slug__startswith=prefix).count() == registrations
    ):
        return clusters
    began = time.perf_counter()
    with transaction.atomic():
        Event.objects.filter(slug__startswith=prefix).delete()
        topics = [
            Topic.objects.get_or_create(
                slug=f"{PREFIX}topic-{t:02d}", defaults={"name": f"Bench balance topic {t}"}
            )[0]
            for t in range(TOPICS)
        ]
        now = timezone.now()
        first = now - timedelta(days=5 * 365)
        span = timedelta(days=5 * 365 + 120)  # five years back, four months ahead
        kinds = list(Event.Kind.values)
        events = []
        for i in range(events_count):
            start = first + span * i / events_count
            past = start < now
            if past:
                status = Event.Status.CANCELLED if i % 50 == 7 else Event.Status.COMPLETED
            else:
                status = Event.Status.DRAFT if i % 97 == 0 else Event.Status.PUBLISHED
            events.append(
                Event(
                    slug=f"{prefix}{i:05d}",
                    kind=kinds[(i * 7 + i // 13) % len(kinds)],
                    title=f"Bench balance event {i}",
                    starts_at=start,
                    ends_at=start + timedelta(hours=3),
                    capacity=150,
                    status=status,
                )
            )
        Event.objects.bulk_create(events, batch_size=2000)
        events = list(Event.objects.filter(slug__startswith=prefix).order_by("slug"))
        through = Event.clusters.through
        links = []
        for i, event in enumerate(events):
            c = 0 if i % 20 < 14 else 1 if i % 20 < 18 else 2  # 70% / 20% / 10%
            links.append(through(event=event, cluster=clusters[c]))
            if i % 25 == 3:  # some events are organised by two clusters
                links.append(through(event=event, cluster=clusters[(c + 1) % 3]))
        through.objects.bulk_create(links, batch_size=5000)
        through = Event.topics.through
        links = []
        for i, event in enumerate(events):
            links.append(through(event=event, topic=topics[i % TOPICS]))
            if i % 3 == 0:
                links.append(through(event=event, topic=topics[(i * 5 + 1) % TOPICS]))
        through.objects.bulk_create(links, batch_size=5000)
        # Stage: two speakers per event; every fifth event has a panel (three panellists
        # and a moderator), one panel in four with a guest who consented to give a gender.
        profiles = list(
            Profile.objects.filter(user__email__startswith=PREFIX).values_list("pk", flat=True)
        )
        panels = Session.objects.bulk_create(
            [
                Session(
                    event=event,
                    kind=Session.Kind.PANEL,
                    title="Panel",
                    starts_at=event.starts_at,
                    ends_at=event.starts_at + timedelta(hours=1),
                )
                for i, event in enumerate(events)
                if i % 5 == 0
            ],
            batch_size=2000,
        )
        panel_of = {s.event_id: s for s in panels}
        roles = []
        guest_genders = ["woman", "man", "man", "non_binary"]
        for i, event in enumerate(events):
            for n in range(2):
                roles.append(
                    StageRole(
                        event=event,
                        role=StageRole.Role.SPEAKER,
                        profile_id=rng.choice(profiles),
                        order=n,
                    )  # fmt: skip
                )
            panel = panel_of.get(event.pk)
            if panel is None:
                continue
            for n in range(3):
                if n == 2 and i % 20 == 0:
                    roles.append(
                        StageRole(
                            event=event, session=panel, role=StageRole.Role.PANELLIST,
                            guest_name=f"Guest {i}", guest_gender=guest_genders[i % 4],
                            guest_gender_consent=True, order=2 + n,
                        )
                    )  # fmt: skip
                else:
                    roles.append(
                        StageRole(
                            event=event,
                            session=panel,
                            role=StageRole.Role.PANELLIST,
                            profile_id=rng.choice(profiles),
                            order=2 + n,
                        )  # fmt: skip
                    )
            roles.append(
                StageRole(
                    event=event,
                    session=panel,
                    role=StageRole.Role.MODERATOR,
                    profile_id=rng.choice(profiles),
                    order=5,
                )  # fmt: skip
            )
        StageRole.objects.bulk_create(roles, batch_size=5000)
        # Registrations, in the database: event i gets per ± d people (pairs of events
        # cancel out, so the total is exact), distinct people per event.
        per = registrations // events_count
        assert events_count % 2 == 0 and per + 40 < USERS // 331
        with connection.cursor() as cursor:
            cursor.execute(
                """
                with ev as (
                    select id, starts_at, row_number() over (order by slug) - 1 as i
                    from events_event where slug like %(events)s
                ), us as (
                    select id, row_number() over (order by email) - 1 as j
                    from members_user where email like %(users)s
                ), r as (
                    select ev.id as event_id, ev.starts_at, ev.i, k,
                           ev.starts_at < now() as past
                    from ev, generate_series(
                        0,
                        %(per)s - 1 + (case when ev.i %% 2 = 0 then 1 else -1 end)
                                      * ((ev.i / 2 * 37) %% 81 - 40)
                    ) as k
                ), s as (
                    select r.*, case
                        when past and (k + i) %% 10 < 7 then 'attended'
                        when past and (k + i) %% 10 < 9 then 'no_show'
                        when past then 'cancelled'
                        when (k + i) %% 12 = 11 then 'waitlisted'
                        when (k + i) %% 15 = 7 then 'cancelled'
                        else 'confirmed' end as status
                    from r
                )
                insert into events_registration (event_id, session_id, user_id, status,
                    waitlist_position, sequence, created_at, updated_at, checked_in_at)
                select s.event_id, null, us.id, s.status,
                       case when s.status = 'waitlisted' then s.k + 1 end, 0,
                       s.starts_at - interval '20 days', s.starts_at - interval '20 days',
                       case when s.status = 'attended' then s.starts_at end
                from s join us on us.j = (s.i * 7919 + s.k * 331) %% %(users_count)s
                """,
                {"events": f"{prefix}%", "users": f"{PREFIX}%", "per": per,
                 "users_count": USERS},
            )  # fmt: skip
        made = Registration.objects.filter(event__slug__startswith=prefix).count()
        assert made == registrations, made
    with connection.cursor() as cursor:
        cursor.execute("analyze")
    print(
        f"generated {tag}: {events_count} events, {registrations} registrations, "
        f"{len(roles)} stage roles in {time.perf_counter() - began:.1f} s"
    )
    return clusters


def _organiser(clusters):
    from members import services as member_services
    from members.models import ClusterOrganiser, Profile, User

    user, _ = User.objects.get_or_create(
        email=f"{PREFIX}organiser@bench.example", defaults={"is_active": True}
    )
    if not Profile.objects.filter(user=user).exists():
        member_services.profile_create(user=user, display_name="Bench Organiser")
    for cluster in clusters:
        ClusterOrganiser.objects.get_or_create(cluster=cluster, user=user)
    return user


# --- the measures ----------------------------------------------------------------------


def _filters(cluster) -> dict:
    """The default filter (last 12 months, by quarter) and all of time (by year)."""
    from insights.balance import BalanceFilter
    from insights.forms import default_range

    start, last = default_range()  # the page's default: the last 12 months
    end = last + timedelta(days=1)  # the page's end is inclusive, the filter's exclusive
    return {
        "last 12 months": BalanceFilter(cluster=cluster, start=start, end=end),
        "all time": BalanceFilter(cluster=cluster, start=date(2000, 1, 1), end=end, period="year"),
    }


def dashboard(filters) -> int:
    """Everything the dashboard page shows; a number that depends on all of it."""
    from insights import balance

    events = list(balance.events_in(filters).order_by("-starts_at")[:25])
    parts = [
        *balance.balance_by_period_and_kind(filters=filters).values(),
        balance.balance_by_topic(filters=filters),
        balance.balance_pipeline(filters=filters).stages,
        balance.stage_in_period(filters=filters),
        balance.events_against_target(filters=filters, events=events),
    ]
    return sum(len(part) for part in parts)


def _in_process(filters) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        dashboard(filters)  # also the warm-up
    queries = list(captured.captured_queries)
    dashboard(filters)
    times: list[float] = []
    deadline = time.monotonic() + TIME_LIMIT
    for _ in range(RUNS):
        began = time.perf_counter()
        dashboard(filters)
        times.append(time.perf_counter() - began)
        if time.monotonic() > deadline:
            break
    reset_queries()
    return {
        "n": len(times),
        "median_ms": median(times) * 1000,
        "p95_ms": percentile(times, 95) * 1000,
        "queries": len(queries),
        "sql": queries,
    }


def _slowest(filters, top: int = 3) -> None:
    """EXPLAIN ANALYZE of the slowest queries of one dashboard, printed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        dashboard(filters)
    ranked = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:top]
    with connection.cursor() as cursor:
        for q in ranked:
            print(f"--- {float(q['time']) * 1000:.0f} ms\n{q['sql'][:1500]}")
            cursor.execute("explain (analyze, buffers off) " + q["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()))


def _http(port: int, path: str, headers: dict[str, str]) -> dict:
    for _ in range(2):  # warm-up
        request(port, "GET", path, headers=headers)
    times: list[float] = []
    answers: dict = {}
    deadline = time.monotonic() + TIME_LIMIT
    for _ in range(REQUESTS):
        began = time.perf_counter()
        try:
            status, _ = request(port, "GET", path, headers=headers)
        except Exception as error:  # noqa: BLE001 -- a failed request is a result
            status = type(error).__name__
        times.append(time.perf_counter() - began)
        answers[status] = answers.get(status, 0) + 1
        if time.monotonic() > deadline:
            break
    return {
        "n": len(times),
        "median_ms": median(times) * 1000,
        "p95_ms": percentile(times, 95) * 1000,
        "answers": answers,
    }


def _compacted() -> int:
    """Fold the registration tallies as the hourly job does (beat "events-tallies-compact"):
    bulk inserts leave one +1 row per registration, production one row per event, status
    and category plus the last hour's. Returns how many tally rows there are."""
    from django.db import connection

    from events import tally
    from events.models import RegistrationTally

    tally.compact(connection)
    with connection.cursor() as cursor:
        cursor.execute("vacuum analyze events_registrationtally")
    return RegistrationTally.objects.count()


def _released() -> tuple[int, float]:
    """Draw the due gender-figure releases as the hourly job does (beat
    "insights-releases-draw"): every ended event once, the last ended quarter's pipeline
    of every cluster, ended programmes. A one-off cost per event; returns (how many, s)."""
    from django.db import connection

    from insights import services

    began = time.perf_counter()
    drawn = services.releases_draw_due()
    seconds = time.perf_counter() - began
    # Freshly filled tables have no planner statistics until autovacuum's next pass;
    # without them PostgreSQL joins the released rows in nested loops (3x slower).
    with connection.cursor() as cursor:
        cursor.execute("vacuum analyze insights_release, insights_releasedcell")
    return drawn, seconds


def main() -> None:
    import sys

    env = django_setup()
    rng = random.Random(6)
    _people(rng)
    sets = {tag: _dataset(tag, n, r, rng) for tag, n, r in (FULL, TENTH)}
    busiest = {tag: clusters[0] for tag, clusters in sets.items()}
    tallies = _compacted()
    drawn, drawing_s = _released()
    print(f"releases drawn as the hourly job does: {drawn} in {drawing_s:.1f} s")
    results = {}
    for tag, cluster in busiest.items():
        for name, filters in _filters(cluster).items():
            results[tag, name] = _in_process(filters)
            r = results[tag, name]
            print(f"in-process {tag:<5} {name:<15} median {r['median_ms']:.0f} ms, "
                  f"p95 {r['p95_ms']:.0f} ms, {r['queries']} queries")  # fmt: skip
    if "--explain" in sys.argv or any(
        r["median_ms"] > TARGET_MS for (tag, _), r in results.items() if tag == "full"
    ):
        _slowest(_filters(busiest["full"])["all time"])
    counts = {key: r["queries"] for key, r in results.items()}
    same_count = len(set(counts.values())) == 1

    http = {}
    page = f"/events/balance/{busiest['full'].slug}/"
    if route_exists(page):
        organiser = _organiser(busiest.values())
        headers = {**logged_in(organiser).headers, "Accept": "text/html"}
        paths = {"minimal view": "/__bench_minimal__", "last 12 months": page,
                 "all time": f"{page}?start=2000-01-01&period=year"}  # fmt: skip
        with gunicorn(env, workers=2, threads=1) as port:
            for name, path in paths.items():
                http[name] = _http(port, path, headers)
                print(f"http {name:<15} {path:<50} {http[name]}")
    else:
        print(f"{page} does not resolve yet: measured in-process only.")

    def fig(r):
        return f"median {r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms"

    full = [results["full", n] for n in ("last 12 months", "all time")]
    figure = (
        f"{FULL[1]:,} events, {FULL[2]:,} registrations, {USERS:,} people, {tallies:,} "
        f"registration tally rows in both sets (compacted, as hourly in production); "
        f"releases drawn first, as hourly in production ({drawn:,} in {drawing_s:.1f} s); "
        f"busiest cluster (70% of events); one dashboard in-process (trend, by kind, by "
        f"topic, pipeline, stage, 25 events against target; {RUNS} runs): "
        f"last 12 months {fig(full[0])}, "
        f"{full[0]['queries']} queries; all time {fig(full[1])}, {full[1]['queries']} "
        f"queries; query count {'the same' if same_count else 'DIFFERS: ' + str(counts)} "
        f"for both filters and both data sizes"
    )
    if http:
        ok = all(set(r["answers"]) == {200} for r in http.values())
        figure += "; over HTTP (gunicorn, organiser, sequential): " + "; ".join(
            f"{name} {fig(r)}" + ("" if set(r["answers"]) == {200} else f" ({r['answers']})")
            for name, r in http.items()
        )
    else:
        ok = True
        figure += "; page not yet routed, not measured over HTTP"
    tenth = [results["tenth", n] for n in ("last 12 months", "all time")]
    # The target per filter (the default view, last 12 months, and all time): median and
    # p95, in-process and over HTTP.
    verdict = ", ".join(
        f"{name}: {'under' if max(times) < TARGET_MS else 'OVER'}"
        for name, times in (
            (n, [r[q] for r in (results["full", n], http.get(n)) if r
                 for q in ("median_ms", "p95_ms")])
            for n in ("last 12 months", "all time")
        )
    )  # fmt: skip
    record(
        benchmark="balance_dashboard",
        command=COMMAND,
        figure=f"{'' if ok else 'ERRORS: '}{figure}; the 1 s target (median, p95) — {verdict}",
        baseline=(
            f"target < {TARGET_MS} ms (issues 6, 12); before releases (issue 6, "
            f"docs/benchmarks.md): 0.3–0.5 s and 0.7–1 s; the same dashboard on a 10x "
            f"smaller set "
            f"({TENTH[1]:,} events, {TENTH[2]:,} registrations) in the same run: last 12 "
            f"months {fig(tenth[0])}, all time {fig(tenth[1])}"
        ),
        issue="#12",
    )
    if not ok:
        raise SystemExit("balance_dashboard: some requests failed (see the row above)")


if __name__ == "__main__":
    main()
