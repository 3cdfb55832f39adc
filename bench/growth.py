"""Growth: the event list, an event page and registration at 5,000 and at 50,000 events (issue 18).

Two PostgreSQL databases, `<name>_5k` and `<name>_50k` (GROWTH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/clusterhub_bench_growth), generated once with SQL and
reused while their counts hold. Each has 20,000 people and 20 registrations per event on
average (100,000 and 1,000,000): past events, one every two hours back in time, with
attendance (attended / no-show / cancelled); 300 upcoming events over the next six months
whatever the size — history is what grows; every 500th event a big one (1,000 people);
members-only, public and invitation-only events of three clusters. A public conference a
month ahead (1,000 people, 8 sessions in 2 tracks, 10 speakers) is the measured event page.

Two gunicorns (2 workers x 4 threads each), one per database, are measured side by side,
request by request in turn, so a busy machine weighs on both sizes alike: REQUESTS sequential
GETs of `/events/` and of the conference page (signed in as a cluster member), and RUNNERS
sequential API registrations (`POST /api/v1/events/<id>/register/`, each by another person,
on events with room). Verdict per figure: median at 50k / median at 5k <= 1.5, with p95 and
each page's query count at both sizes (counted in-process with the test client).
GROWTH_EXPLAIN=1 also prints EXPLAIN ANALYZE of every query of the pages at each size.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlparse

from bench._support import (
    ROOT,
    _ensure_database,
    bench_env,
    django_setup,
    gunicorn,
    logged_in,
    median,
    percentile,
    record,
    request,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clusterhub_bench_growth"
SIZES = {"5k": 5_000, "50k": 50_000}
PER_EVENT = 20  # registrations per event on average: 100,000 and 1,000,000
USERS = 20_000
UPCOMING = 300
BIG_EVERY, BIG = 500, 1_000  # every 500th event has 1,000 people
TARGETS = 10  # upcoming public events with room, registered for by the runners
RUNNERS = 110  # the first WARM_UP_REGISTRATIONS are the warm-up
WARM_UP_REGISTRATIONS = 10
REQUESTS = 200  # sequential GETs per page and size
WARM_UP = 30
TIME_LIMIT = 240  # seconds per measured series at most
RATIO = 1.5
PREFIX = "growth-"
CONFERENCE = f"{PREFIX}conference"
CONFERENCE_AT = 50  # the 51st upcoming event, a big one (see _plan), a month ahead
# Where _plan puts the conference, from the hour of generation; reused data is moved back there.
CONFERENCE_AHEAD = timedelta(hours=14 * (CONFERENCE_AT + 1))
COMMAND = "make bench BENCH=growth  (python -m bench growth)"


# --- databases ---------------------------------------------------------------------------

_django_ready = False


def _use(url: str) -> dict[str, str]:
    """Create and migrate the database at `url` and point this process's Django at it;
    the environment for a gunicorn serving it."""
    global _django_ready
    os.environ["DATABASE_URL"] = url
    if not _django_ready:
        _django_ready = True
        return django_setup()
    env = bench_env()
    _ensure_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    _switch(url)
    return env


def _switch(url: str) -> None:
    """Point this process's Django at another (migrated) database."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = urlparse(url).path.lstrip("/")


# --- the data set ------------------------------------------------------------------------


def _plan(events: int) -> dict[str, list]:
    """Per event i (in time order): hours from now, kind, audience, status, capacity and
    its number of registrations — exactly PER_EVENT * events in all."""
    past = events - UPCOMING
    kinds = ["webinar", "conference", "training", "brokerage", "site_visit", "webinar"]
    plan = {k: [] for k in ("hours", "kind", "audience", "status", "capacity", "count")}
    for i in range(events):
        j = i - past  # >= 0: upcoming
        big = i % BIG_EVERY == BIG_EVERY // 2
        target = j >= UPCOMING - TARGETS
        if j < 0:
            hours = -2 * (past - i)  # one every two hours back in time
            status = "cancelled" if i % 50 == 7 else "completed"
        else:
            hours = 14 * (j + 1)  # 300 over the next six months
            status = "draft" if j % 50 == 7 and not target else "published"
        plan["hours"].append(hours)
        plan["kind"].append(kinds[i % len(kinds)])
        plan["audience"].append(
            "public" if target or i % 6 < 2 else "members" if i % 6 < 5 else "invitation"
        )
        plan["status"].append(status)
        plan["capacity"].append(2 * BIG if big else 1_000 if target else 40 + (i % 5) * 20)
        plan["count"].append(BIG if big else 0 if status == "draft" else 8 + (i * 37) % 21)
    # Spread what is left over the ordinary events that take registrations.
    ordinary = [i for i in range(events) if plan["count"][i] and plan["count"][i] != BIG]
    share, rest = divmod(PER_EVENT * events - sum(plan["count"]), len(ordinary))
    for n, i in enumerate(ordinary):
        plan["count"][i] += share + (n < rest)
    assert sum(plan["count"]) == PER_EVENT * events
    assert all(c <= cap for c, cap in zip(plan["count"], plan["capacity"], strict=True))
    return plan


def _people():
    """20,000 people, RUNNERS people who register during the run, a member who views,
    ten speakers with profiles; created once per database."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from members import services as member_services
    from members.models import Cluster, Organisation, Profile, User

    unusable = make_password(None)
    with connection.cursor() as cursor:
        for name, count in (("user", USERS), ("runner", RUNNERS)):
            cursor.execute(
                """
                insert into members_user (password, is_superuser, first_name, last_name,
                    is_staff, is_active, date_joined, email)
                select %s, false, '', '', false, true, now(),
                       %s || lpad(g::text, 5, '0') || '@bench.example'
                from generate_series(0, %s - 1) g
                on conflict do nothing
                """,
                [unusable, f"{PREFIX}{name}-", count],
            )
    clusters = [
        Cluster.objects.get_or_create(slug=f"{PREFIX}{c}", defaults={"name": f"Growth {c}"})[0]
        for c in "abc"
    ]
    organisation, _ = Organisation.objects.get_or_create(
        slug=f"{PREFIX}organisation", defaults={"name": "Growth Organisation"}
    )
    organisation.clusters.add(clusters[0])
    viewer, _ = User.objects.get_or_create(
        email=f"{PREFIX}viewer@bench.example", defaults={"is_active": True}
    )
    member_services.profile_create(user=viewer, display_name="Growth Viewer")
    # A member of the first cluster (bench data: the affiliation's outcome, set directly).
    Profile.objects.filter(user=viewer).update(organisation=organisation)
    speakers = User.objects.filter(email__startswith=f"{PREFIX}user-").order_by("email")[:10]
    for n, speaker in enumerate(speakers):
        Profile.objects.get_or_create(
            user=speaker, defaults={"display_name": f"Speaker {n}", "organisation": organisation}
        )
    return viewer, clusters


def _dataset(events: int) -> None:
    """The events, their clusters and topics, the registrations and the conference."""
    from django.db import connection, transaction

    from events import tally
    from events.models import Event, Registration, Session, StageRole
    from members.models import Profile, Topic

    viewer, clusters = _people()
    have = Event.objects.filter(slug__startswith=PREFIX).count()
    if (
        have == events
        and Registration.objects.count()
        - Registration.objects.filter(user__email__startswith=f"{PREFIX}runner-").count()
        == PER_EVENT * events
        and Session.objects.filter(event__slug=CONFERENCE).exists()
    ):
        return
    began = time.perf_counter()
    plan = _plan(events)
    with transaction.atomic(), connection.cursor() as cursor:
        # This database is the benchmark's alone: start again from no events at all.
        cursor.execute("truncate events_event, events_registrationtally cascade")
        cursor.execute(
            """
            insert into events_event (uid, kind, title, slug, summary, description, timezone,
                starts_at, ends_at, venue_name, venue_address, online_platform, online_url,
                capacity, audience, approval_required, status, materials_url, recording_url,
                sequence, created_at, updated_at, reminder_offsets)
            select gen_random_uuid(), p.kind, 'Growth event ' || (p.i - 1),
                   %(prefix)s || lpad((p.i - 1)::text, 5, '0'),
                   'An event generated for the growth benchmark.', '', 'Europe/Brussels',
                   date_trunc('hour', now()) + p.hours * interval '1 hour',
                   date_trunc('hour', now()) + (p.hours + 3) * interval '1 hour',
                   case when p.i %% 2 = 0 then 'Growth Hall' else '' end, '',
                   case when p.i %% 2 = 1 then 'Zoom' else '' end,
                   case when p.i %% 2 = 1 then 'https://meet.example.org/growth' else '' end,
                   p.capacity, p.audience, false, p.status, '', '', 0, now(), now(), '[1440]'
            from unnest(%(hours)s::int[], %(kind)s::text[], %(audience)s::text[],
                        %(status)s::text[], %(capacity)s::int[]) with ordinality
                 as p(hours, kind, audience, status, capacity, i)
            """,
            {"prefix": PREFIX, **plan},
        )
        # Organised by one cluster (every 25th by two); one topic each.
        cluster_ids = [c.pk for c in clusters]
        topic_ids = list(Topic.objects.order_by("pk").values_list("pk", flat=True)[:6])
        cursor.execute(
            """
            insert into events_event_clusters (event_id, cluster_id)
            select e.id, (%(clusters)s::bigint[])[1 + (e.id %% 3)] from events_event e
            union all
            select e.id, (%(clusters)s::bigint[])[1 + ((e.id + 1) %% 3)]
            from events_event e where e.id %% 25 = 3
            """,
            {"clusters": cluster_ids},
        )
        if topic_ids:
            cursor.execute(
                "insert into events_event_topics (event_id, topic_id) "
                "select e.id, (%(topics)s::bigint[])[1 + (e.id %% %(n)s)] from events_event e",
                {"topics": topic_ids, "n": len(topic_ids)},
            )
        # Distinct people per event (331 is prime to 20,000). The tally triggers count
        # every row as it goes in.
        cursor.execute(
            """
            with ev as (
                select e.id, e.starts_at, e.ends_at < now() as past,
                       e.status = 'cancelled' as called_off, p.i, p.n
                from unnest(%(count)s::int[]) with ordinality as p(n, i)
                join events_event e on e.slug = %(prefix)s || lpad((p.i - 1)::text, 5, '0')
            ), us as (
                select id, row_number() over (order by email) - 1 as j
                from members_user where email like %(users)s
            ), r as (
                select ev.*, k, case
                    when called_off then 'cancelled'
                    when past and (k + i) %% 10 < 7 then 'attended'
                    when past and (k + i) %% 10 < 9 then 'no_show'
                    when past then 'cancelled'
                    when (k + i) %% 15 = 7 then 'cancelled'
                    else 'confirmed' end as status
                from ev, generate_series(0, ev.n - 1) as k
            )
            insert into events_registration (event_id, session_id, user_id, status,
                waitlist_position, sequence, created_at, updated_at, checked_in_at,
                calendar_answer)
            select r.id, null, us.id, r.status, null, 0,
                   least(now(), r.starts_at - interval '20 days'),
                   least(now(), r.starts_at - interval '20 days'),
                   case when r.status = 'attended' then r.starts_at end, ''
            from r join us on us.j = (r.i * 7919 + r.k * 331) %% %(users_count)s
            """,
            {"count": plan["count"], "prefix": PREFIX, "users": f"{PREFIX}user-%",
             "users_count": USERS},
        )  # fmt: skip
        # The measured page: a big public conference a month ahead, 8 sessions in two
        # tracks, 10 speakers.
        conference = Event.objects.get(slug=f"{PREFIX}{events - UPCOMING + CONFERENCE_AT:05d}")
        Event.objects.filter(pk=conference.pk).update(
            slug=CONFERENCE, kind=Event.Kind.CONFERENCE, audience=Event.Audience.PUBLIC,
            title="Growth conference",
        )  # fmt: skip
        sessions = Session.objects.bulk_create(
            Session(
                event=conference,
                title=f"Talk {n}",
                track=f"Track {n % 2 + 1}",
                starts_at=conference.starts_at + timedelta(minutes=40 * (n // 2)),
                ends_at=conference.starts_at + timedelta(minutes=40 * (n // 2) + 35),
            )
            for n in range(8)
        )
        profiles = list(Profile.objects.filter(user__email__startswith=f"{PREFIX}user-"))
        StageRole.objects.bulk_create(
            [StageRole(event=conference, session=s, profile=profiles[n], order=n)
             for n, s in enumerate(sessions)]
            + [StageRole(event=conference, profile=p, role=StageRole.Role.MODERATOR, order=8 + n)
               for n, p in enumerate(profiles[8:10])]
        )  # fmt: skip
    tally.compact(connection)
    with connection.cursor() as cursor:
        cursor.execute("vacuum analyze")
    print(
        f"generated {events} events, {Registration.objects.count()} registrations "
        f"in {time.perf_counter() - began:.1f} s"
    )


def _now_relative() -> None:
    """Move every event so the conference is CONFERENCE_AHEAD from this hour again: reused
    data stays 300 upcoming events and the rest past, however old the data set is."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select date_trunc('hour', now()) + %s - starts_at from events_event where slug = %s",
            [CONFERENCE_AHEAD, CONFERENCE],
        )
        (shift,) = cursor.fetchone()
        if abs(shift) < timedelta(hours=1):
            return
        for table in ("events_event", "events_session"):
            cursor.execute(
                f"update {table} set starts_at = starts_at + %s, ends_at = ends_at + %s",  # noqa: S608
                [shift, shift],
            )
        cursor.execute("vacuum analyze events_event, events_session")


# --- measures ----------------------------------------------------------------------------


def _forget_runners() -> None:
    from events.models import Registration

    Registration.objects.filter(user__email__startswith=f"{PREFIX}runner-").delete()


def _prepare(tag: str, events: int) -> dict:
    """Data, sessions and query counts of one size; what its gunicorn needs."""
    env = _use(f"{_base_url()}_{tag}")
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from events.models import Event
    from members.models import User

    # Each size its own cache keys, in this process and in its gunicorn: the two databases
    # hold different events under the same ids, and BENCH_CACHE_URL may be one Redis.
    prefix = f"{PREFIX}{tag}"
    separator = "&" if "?" in env["CACHE_URL"] else "?"
    env = {**env, "CACHE_URL": f"{env['CACHE_URL']}{separator}key_prefix={prefix}"}
    caches["default"].key_prefix = prefix
    _dataset(events)
    _now_relative()
    _forget_runners()
    viewer = User.objects.get(email=f"{PREFIX}viewer@bench.example")
    runners = list(User.objects.filter(email__startswith=f"{PREFIX}runner-").order_by("email"))
    targets = list(
        Event.objects.filter(slug__startswith=PREFIX, capacity=1_000, audience="public")
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )
    assert len(targets) == TARGETS and len(runners) == RUNNERS, (len(targets), len(runners))
    paths = {"event list": "/events/", "event page": f"/events/{CONFERENCE}/"}
    queries = {}
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(viewer)
    for name, path in paths.items():
        client.get(path)  # caches warm, as in the measured runs
        with CaptureQueriesContext(connection) as captured:
            status = client.get(path).status_code
        assert status == 200, (path, status)
        queries[name] = len(captured)
        if os.environ.get("GROWTH_EXPLAIN"):
            _explain(tag, name, captured.captured_queries)
    runner = Client(HTTP_HOST="127.0.0.1")
    runner.force_login(runners[-1])
    with CaptureQueriesContext(connection) as captured:
        status = runner.post(f"/api/v1/events/{targets[0]}/register/").status_code
    assert status == 201, status
    queries["registration"] = len(captured)
    if os.environ.get("GROWTH_EXPLAIN"):
        _explain(tag, "registration", captured.captured_queries)
    _forget_runners()
    return {
        "env": env,
        "paths": paths,
        "queries": queries,
        "viewer": logged_in(viewer).headers,
        "runners": [{**logged_in(r).headers, "Accept": "application/json"} for r in runners],
        "targets": targets,
    }


def _explain(tag: str, page: str, captured: list[dict]) -> None:
    from django.db import connection

    for query in captured:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute("explain (analyze, buffers) " + sql)
            plan = "\n    ".join(row[0] for row in cursor.fetchall())
        print(f"--- {tag} {page} ({query['time']} s): {sql[:300]}\n    {plan}")


def _base_url() -> str:
    return os.environ.get("GROWTH_DATABASE_URL", DEFAULT_URL)


def _measure(sizes: dict[str, dict], ports: dict[str, int]) -> dict:
    """Every figure at both sizes, the two sizes' requests in turn."""
    times: dict[tuple[str, str], list[float]] = {}
    answers: dict[tuple[str, str], set] = {}

    def timed(tag: str, figure: str, method: str, path: str, headers: dict, ok: int) -> None:
        began = time.perf_counter()
        try:
            status, _ = request(ports[tag], method, path, headers=headers)
        except OSError as error:  # a failed request is a result
            status = type(error).__name__
        elapsed = time.perf_counter() - began
        times.setdefault((tag, figure), []).append(elapsed * 1000)
        answers.setdefault((tag, figure), set()).add(status)
        if status != ok:
            print(f"{tag} {figure} {method} {path}: {status}")

    any_size = next(iter(sizes.values()))
    for figure in any_size["paths"]:
        for _ in range(WARM_UP):
            for tag, size in sizes.items():
                request(ports[tag], "GET", size["paths"][figure], headers=size["viewer"])
        deadline = time.monotonic() + TIME_LIMIT
        for _ in range(REQUESTS):
            if time.monotonic() > deadline:
                break
            for tag, size in sizes.items():
                timed(tag, figure, "GET", size["paths"][figure], size["viewer"], 200)
    deadline = time.monotonic() + TIME_LIMIT
    for r in range(RUNNERS):
        if time.monotonic() > deadline:
            break
        for tag, size in sizes.items():
            path = f"/api/v1/events/{size['targets'][r % TARGETS]}/register/"
            if r < WARM_UP_REGISTRATIONS:
                request(ports[tag], "POST", path, headers=size["runners"][r])
            else:
                timed(tag, "registration", "POST", path, size["runners"][r], 201)
    return {"times": times, "answers": answers}


def main() -> None:
    # The pages are cached as in production: in a cache both gunicorn workers share (a
    # per-process cache caches nothing, see events.fragments.enabled).
    os.environ.setdefault("BENCH_CACHE_URL", "redis://127.0.0.1:6379/8")
    sizes = {tag: _prepare(tag, events) for tag, events in SIZES.items()}
    ports: dict[str, int] = {}
    try:
        with (
            gunicorn(sizes["5k"]["env"], workers=2, threads=4) as small,
            gunicorn(sizes["50k"]["env"], workers=2, threads=4) as large,
        ):
            ports.update({"5k": small, "50k": large})
            measured = _measure(sizes, ports)
    finally:
        for tag in SIZES:  # the runners' registrations go again
            _switch(f"{_base_url()}_{tag}")
            _forget_runners()
    times, answers = measured["times"], measured["answers"]
    lines, met_all, good_all = [], True, True
    for figure in ["event list", "event page", "registration"]:
        small, large = times[("5k", figure)], times[("50k", figure)]
        ratio = median(large) / median(small)
        met = ratio <= RATIO
        good = answers[("5k", figure)] | answers[("50k", figure)] == {
            201 if figure == "registration" else 200
        }
        met_all &= met
        good_all &= good
        q_small, q_large = sizes["5k"]["queries"][figure], sizes["50k"]["queries"][figure]
        line = (
            f"{figure}: 50k median {median(large):.1f} ms (p95 {percentile(large, 95):.1f}), "
            f"5k median {median(small):.1f} ms (p95 {percentile(small, 95):.1f}), "
            f"ratio {ratio:.2f} (target <= {RATIO}) {'met' if met else 'NOT met'}; "
            f"queries {q_small} / {q_large}"
            + ("" if q_small == q_large else " (grows)")
            + ("" if good else " ERRORS")
        )
        print(line)
        lines.append(line)
    record(
        benchmark="growth",
        command=COMMAND,
        figure=(
            f"{'' if good_all else 'ERRORS: '}5,000 events / 100,000 registrations vs "
            f"50,000 events / 1,000,000 registrations, 20,000 people, "
            f"two gunicorns (2x4 gthread) in turn, "
            f"{REQUESTS} sequential GETs per page and {RUNNERS - WARM_UP_REGISTRATIONS} "
            f"API registrations per size: " + "; ".join(lines)
        ),
        baseline="the same pages at 5,000 events in the same run",
        issue="#18",
    )
    print(f"VERDICT growth: {'met' if met_all else 'NOT met'} (each median 50k/5k <= {RATIO})")
    if not good_all:
        raise SystemExit("growth: some requests failed (see the row above)")


if __name__ == "__main__":
    main()
