"""Pages under a mixed load, each compared with a minimal Django view in the same run (issue 18).

gunicorn (2 gthread workers x 4 threads, as in the issue's pretix comparison) on 127.0.0.1,
PostgreSQL, Redis as the cache (MIXED_LOAD_CACHE_URL, default redis://127.0.0.1:6379/5).
The data: the 5,000 events (half past) and 100,000 registrations of `bench.event_list`,
a profile for each of its 2,000 people, and a conference with 20 sessions and 30 speakers.

Eight clients, each signed in as a different member, run for 60 s. Each cycles through the
same mix, starting at a different place in it: the minimal view `/__bench_minimal__`
(`bench.urls`), `/events/`, the conference page, `/api/v1/events/`, `/api/v1/events/{id}/`,
a registration (an API POST to an upcoming event with room, a new one each time), the member
directory `/members/` and the client's own `/me/edit/`. So every URL gets the same number
of client slots, and all share one machine at the same moment. The API's per-person rate
limit is raised for the run (see `main`).

Throughput of a URL, as defined here: 1 / its median latency under this mixed load, i.e. the
requests per second one client slot gets from it. Applied identically to the minimal view.
(Raw completed requests per second are equal for every URL by construction, so they say
nothing.) Verdict per read page: throughput >= 0.4 x the minimal view's (its median <= 2.5 x
the minimal view's median) and its p95 <= 3 x its own median.
"""

import json
import os
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

from bench._support import (
    django_setup,
    gunicorn,
    logged_in,
    median,
    percentile,
    record,
    request,
)

CLIENTS = 8
DURATION = 60  # seconds of measured load
WARM_UP_ROUNDS = 3  # of every URL, per client, before measuring
WORKERS, THREADS = 2, 4
CONFERENCE = "bench-mix-conference"
SESSIONS, SPEAKERS = 20, 30
COMMAND = "make bench  (python -m bench mixed_load)"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/5"
THROUGHPUT_RATIO, P95_RATIO = 0.4, 3.0


def _profiles_and_conference() -> None:
    """Profiles for the event list's people and the conference, created once."""
    from django.db import transaction
    from django.utils import timezone

    from events.models import Event, Session, StageRole
    from members.models import Cluster, Organisation, Profile, User

    organisation = Organisation.objects.get(slug="bench-organisation")
    with transaction.atomic():
        missing = User.objects.filter(
            email__startswith="bench-list-", email__endswith="@bench.example", profile__isnull=True
        ).order_by("email")
        Profile.objects.bulk_create(
            [
                Profile(
                    user=user,
                    display_name=f"Bench Member {i:04d}",
                    job_title="Engineer",
                    organisation=organisation if i % 2 == 0 else None,
                    visibility=Profile.Visibility.MEMBERS,
                    bio="A member generated for the benchmark.",
                )
                for i, user in enumerate(missing)
            ],
            batch_size=1000,
        )
    if Event.objects.filter(slug=CONFERENCE).exists():
        return
    now = timezone.now()
    with transaction.atomic():
        starts = now + timedelta(days=30)
        conference = Event.objects.create(
            slug=CONFERENCE,
            kind=Event.Kind.CONFERENCE,
            title="Benchmark Conference",
            summary="Two days, twenty sessions, thirty speakers.",
            description="A conference generated for the benchmark.\n\n" * 5,
            starts_at=starts,
            ends_at=starts + timedelta(days=1, hours=9),
            capacity=400,
            audience=Event.Audience.PUBLIC,
            status=Event.Status.PUBLISHED,
            venue_name="Bench Congress Centre",
            venue_address="1 Bench Street\nBenchtown",
        )
        conference.clusters.add(Cluster.objects.get(slug="bench-a"))
        sessions = Session.objects.bulk_create(
            [
                Session(
                    event=conference,
                    title=f"Session {i + 1}",
                    description="What this session is about.",
                    track=["", "Track A", "Track B"][i % 3],
                    room=f"Room {i % 4 + 1}",
                    starts_at=starts + timedelta(days=i // 10, hours=i % 10 // 2),
                    ends_at=starts + timedelta(days=i // 10, hours=i % 10 // 2, minutes=50),
                    capacity=40 if i % 2 else None,
                )
                for i in range(SESSIONS)
            ]
        )
        speakers = list(Profile.objects.filter(user__email__startswith="bench-list-")[:15])
        StageRole.objects.bulk_create(
            [
                StageRole(
                    event=conference,
                    session=sessions[i % SESSIONS] if i >= 2 else None,
                    profile=speakers[i] if i < len(speakers) else None,
                    guest_name="" if i < len(speakers) else f"Guest Speaker {i}",
                    guest_organisation="" if i < len(speakers) else "Guest Org",
                    order=i,
                )
                for i in range(SPEAKERS)
            ]
        )


def _clients_and_targets() -> list[dict]:
    """Eight members with profiles, each with its own pool of upcoming events with room."""
    from django.utils import timezone

    from events.models import Event, Registration
    from members.models import Organisation, Profile, User

    organisation = Organisation.objects.get(slug="bench-organisation")
    users = []
    for i in range(CLIENTS):  # people of their own: the event list's data stays as generated
        user, _ = User.objects.get_or_create(
            email=f"bench-mix-{i}@bench.example", defaults={"is_active": True}
        )
        Profile.objects.get_or_create(
            user=user,
            defaults={"display_name": f"Bench Client {i}", "organisation": organisation,
                      "visibility": Profile.Visibility.MEMBERS},
        )  # fmt: skip
        users.append(user)
    # Registrations of earlier runs are removed: each run registers people anew.
    Registration.objects.filter(user__in=users, event__slug__startswith="bench-list-").delete()
    upcoming = list(
        Event.objects.filter(
            slug__startswith="bench-list-",
            audience=Event.Audience.PUBLIC,
            status=Event.Status.PUBLISHED,
            starts_at__gt=timezone.now() + timedelta(hours=1),
        )
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )
    return [
        {"user": user, "client": logged_in(user), "register": upcoming[i::CLIENTS]}
        for i, user in enumerate(users)
    ]


def _mix(detail_id: int) -> list[tuple[str, str, str]]:
    """(name, method, path) of one cycle; `register` paths are filled in per request."""
    return [
        ("minimal view", "GET", "/__bench_minimal__"),
        ("event list", "GET", "/events/"),
        ("conference page", "GET", f"/events/{CONFERENCE}/"),
        ("API list", "GET", "/api/v1/events/"),
        ("API detail", "GET", f"/api/v1/events/{detail_id}/"),
        ("registration", "POST", "register"),
        ("member directory", "GET", "/members/"),
        ("own profile form", "GET", "/me/edit/"),
    ]


def _run(port: int, clients: list[dict], mix: list, seconds: float, *, warm: bool) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    answers: dict[str, Counter] = defaultdict(Counter)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int, slot: dict) -> None:
        headers = {**slot["client"].headers, "Content-Type": "application/json"}
        targets = iter(slot["register"])
        step = index  # each client starts at a different place in the mix
        rounds = 0
        while time.monotonic() < deadline and (not warm or rounds < WARM_UP_ROUNDS * len(mix)):
            name, method, path = mix[step % len(mix)]
            step += 1
            rounds += 1
            if path == "register":
                target = next(targets, None)
                if target is None:
                    continue
                path = f"/api/v1/events/{target}/register/"
            began = time.perf_counter()
            try:
                status, _ = request(port, method, path, headers=headers, body="{}" if
                                    method == "POST" else "")  # fmt: skip
            except Exception as error:  # noqa: BLE001 -- a failed request is a result
                status = type(error).__name__
            elapsed = time.perf_counter() - began
            with lock:
                latencies[name].append(elapsed)
                answers[name][status] += 1

    threads = [
        threading.Thread(target=client, args=(i, slot), daemon=True)
        for i, slot in enumerate(clients)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 70)
    wall = time.perf_counter() - began
    return {
        name: {
            "n": len(values),
            "median_ms": median(values) * 1000,
            "p95_ms": percentile(values, 95) * 1000,
            "per_second": 1 / median(values),
            "completed_per_second": len(values) / wall,
            "answers": dict(answers[name]),
        }
        for name, values in latencies.items()
    }


def main() -> None:
    env = django_setup()
    env = {
        **env,
        "CACHE_URL": os.environ.get("MIXED_LOAD_CACHE_URL", DEFAULT_CACHE_URL),
        # Each client asks the API about 300 times a minute; the per-person limit (120 a
        # minute by default) would answer most with 429 and time the limiter, not the pages.
        "API_THROTTLE_USER_RATE": "100000/min",
    }
    from django.db import connection

    from bench.event_list import _dataset
    from events.models import Event

    _dataset()
    _profiles_and_conference()
    clients = _clients_and_targets()
    # Planner statistics as autovacuum keeps them on a live site: the rows just written
    # here (and by the other benchmarks sharing this database) are otherwise planned from
    # stale counts (the directory's page sorted all profiles where its index stops at 20).
    with connection.cursor() as cursor:
        cursor.execute("analyze")
    detail_id = Event.objects.get(slug=CONFERENCE).pk
    mix = _mix(detail_id)
    with gunicorn(env, workers=WORKERS, threads=THREADS) as port:
        warm_clients = [{**c, "register": c["register"][-WARM_UP_ROUNDS:]} for c in clients]
        _run(port, warm_clients, mix, 120, warm=True)
        for slot in clients:
            slot["register"] = slot["register"][:-WARM_UP_ROUNDS]
        results = _run(port, clients, mix, DURATION, warm=False)
    base = results["minimal view"]
    expected = {"registration": {201}}
    lines, verdicts, errors = [], [], []
    for name, _, _path in mix:
        r = results.get(name)
        if r is None:
            errors.append(f"{name}: no request completed")
            continue
        ok_answers = expected.get(name, {200})
        if not set(r["answers"]) <= ok_answers:
            errors.append(f"{name}: answers {r['answers']}")
        ratio = r["per_second"] / base["per_second"]
        spread = r["p95_ms"] / r["median_ms"]
        text = (f"{name}: median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
                f"{r['per_second']:.0f}/s")  # fmt: skip
        if name not in ("minimal view", "registration"):
            met = ratio >= THROUGHPUT_RATIO and spread <= P95_RATIO
            verdicts.append(met)
            text += (f" = {ratio:.2f} x minimal (target >= {THROUGHPUT_RATIO}), "
                     f"p95/median {spread:.1f} (target <= {P95_RATIO:.0f}): "
                     f"{'met' if met else 'NOT met'}")  # fmt: skip
        lines.append(text)
        print(f"{name:<17} n={r['n']:<5} {text}")
    met_all = all(verdicts) and not errors
    print(f"VERDICT mixed_load: {'met' if met_all else 'NOT met'} "
          f"({sum(verdicts)}/{len(verdicts)} read pages met)"
          + (f"; errors: {'; '.join(errors)}" if errors else ""))  # fmt: skip
    record(
        benchmark="mixed_load",
        command=COMMAND,
        figure=(
            f"{'ERRORS: ' + '; '.join(errors) + '; ' if errors else ''}"
            f"{CLIENTS} clients x {DURATION} s, gunicorn {WORKERS}x{THREADS} gthread, Redis "
            f"cache; throughput = 1/median under the same mix; "
            + "; ".join(lines)
            + f"; verdict: {'met' if met_all else 'NOT met'}"
        ),
        baseline="minimal Django view `/__bench_minimal__` in the same run and mix",
        issue="#18",
    )
    if os.environ.get("BENCH_VERBOSE"):
        print(json.dumps(results, indent=1))
    if errors:
        raise SystemExit("mixed_load: some requests failed (see the row above)")


if __name__ == "__main__":
    main()
