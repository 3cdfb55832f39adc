"""Event list latency with 5,000 events and 100,000 registrations (issue 3).

gunicorn (8 gthread workers x 4 threads) on 127.0.0.1, PostgreSQL. Eight concurrent
clients, signed in as a cluster member, request in turn: a minimal Django view (the full
middleware stack and a fixed answer, `bench.urls`), the event list page `/events/` and the
API list `/api/v1/events/`. Reports the median and p95 latency of each and the ratio of
each list's throughput to the minimal view's, measured in the same run. The data set is
generated once (bulk inserts) and reused by later runs.
"""

import threading
import time
from collections import Counter
from datetime import timedelta

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

EVENTS = 5_000
REGISTRATIONS = 100_000
USERS = 2_000
CLIENTS = 8
REQUESTS = 400  # per URL, shared by the clients
TIME_LIMIT = 60  # seconds per URL at most
WARM_UP = 32
PREFIX = "bench-list-"
COMMAND = "make bench  (python -m bench event_list)"


def _dataset():
    """The 5,000 events and 100,000 registrations, created on the first run only."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from events.models import Event, Registration
    from members import services as member_services
    from members.models import Cluster, Organisation, Profile, Topic, User

    clusters = [
        Cluster.objects.get_or_create(slug=f"bench-{c}", defaults={"name": f"Bench cluster {c}"})[0]
        for c in "abc"
    ]
    viewer_email = "bench-viewer@bench.example"
    viewer, _ = User.objects.get_or_create(email=viewer_email, defaults={"is_active": True})
    organisation, _ = Organisation.objects.get_or_create(
        slug="bench-organisation", defaults={"name": "Bench Organisation"}
    )
    organisation.clusters.add(clusters[0])
    if not Profile.objects.filter(user=viewer).exists():
        profile = member_services.profile_create(user=viewer, display_name="Bench Viewer")
        # Bench data: the affiliation workflow (members.membership) is not what is measured.
        Profile.objects.filter(pk=profile.pk).update(organisation=organisation)

    if Event.objects.filter(slug__startswith=PREFIX).count() == EVENTS and (
        # Only the generated people's: other benchmarks register their own on these events.
        Registration.objects.filter(
            event__slug__startswith=PREFIX, user__email__startswith=PREFIX
        ).count()
        == REGISTRATIONS
    ):
        return viewer
    began = time.perf_counter()
    with transaction.atomic():
        Event.objects.filter(slug__startswith=PREFIX).delete()
        emails = [f"bench-list-{i:04d}@bench.example" for i in range(USERS)]
        unusable = make_password(None)  # nobody signs in with a password
        have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
        User.objects.bulk_create(
            [User(email=e, password=unusable, is_active=True) for e in emails if e not in have],
            batch_size=1000,
        )
        users = list(
            User.objects.filter(email__in=emails).order_by("email").values_list("pk", flat=True)
        )
        now = timezone.now()
        kinds = list(Event.Kind.values)
        audiences = [Event.Audience.PUBLIC, Event.Audience.MEMBERS, Event.Audience.PUBLIC]
        events = []
        for i in range(EVENTS):
            start = now + timedelta(hours=(i - EVENTS // 2) * 3)  # half past, half ahead
            past = start < now
            events.append(
                Event(
                    slug=f"{PREFIX}{i:05d}",
                    kind=kinds[i % len(kinds)],
                    title=f"Benchmark event {i}",
                    summary="An event generated for the benchmark.",
                    starts_at=start,
                    ends_at=start + timedelta(hours=2),
                    capacity=50,
                    audience=audiences[i % len(audiences)],
                    status=Event.Status.COMPLETED if past else Event.Status.PUBLISHED,
                    online_platform="Zoom" if i % 2 else "",
                    online_url="https://meet.example.org/bench" if i % 2 else "",
                    venue_name="" if i % 2 else "Bench Hall",
                )
            )
        Event.objects.bulk_create(events, batch_size=1000)
        events = list(Event.objects.filter(slug__startswith=PREFIX).order_by("slug"))
        topics = list(Topic.objects.all()[:6])
        Event.clusters.through.objects.bulk_create(
            [
                Event.clusters.through(event=e, cluster=clusters[i % 3])
                for i, e in enumerate(events)
            ],
            batch_size=5000,
        )
        Event.topics.through.objects.bulk_create(
            [
                Event.topics.through(event=e, topic=topics[i % len(topics)])
                for i, e in enumerate(events)
            ],
            batch_size=5000,
        )
        per_event = REGISTRATIONS // EVENTS
        rows = []
        for i, event in enumerate(events):
            past = event.status == Event.Status.COMPLETED
            for k in range(per_event):  # 97 * k < USERS: distinct people per event
                status = (
                    (Registration.Status.ATTENDED if k % 5 else Registration.Status.NO_SHOW)
                    if past
                    else Registration.Status.CONFIRMED
                )
                rows.append(
                    Registration(
                        event=event, user_id=users[(i * 7 + k * 97) % USERS], status=status
                    )
                )
        Registration.objects.bulk_create(rows, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("analyze")
    print(f"generated {EVENTS} events and {len(rows)} registrations in "
          f"{time.perf_counter() - began:.1f} s")  # fmt: skip
    return viewer


def _load(port: int, path: str, headers: dict[str, str]) -> dict:
    """CLIENTS threads share REQUESTS requests of `path`; latencies, answers, throughput."""
    latencies: list[float] = []
    answers: Counter = Counter()
    lock = threading.Lock()
    remaining = [REQUESTS]
    deadline = time.monotonic() + TIME_LIMIT

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            began = time.perf_counter()
            try:
                status, _ = request(port, "GET", path, headers=headers)
            except Exception as error:  # noqa: BLE001 -- a failed request is a result
                status = type(error).__name__
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                answers[status] += 1

    for _ in range(WARM_UP):
        request(port, "GET", path, headers=headers)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIME_LIMIT + 70)
    wall = time.perf_counter() - began
    return {
        "n": len(latencies),
        "median_ms": median(latencies) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "per_second": len(latencies) / wall if wall else float("nan"),
        "answers": dict(answers),
    }


def main() -> None:
    env = django_setup()
    paths = {"minimal view": "/__bench_minimal__", "event list": "/events/",
             "API list": "/api/v1/events/"}  # fmt: skip
    missing = [p for p in paths.values() if not route_exists(p)]
    if missing:
        print(f"endpoint missing: {', '.join(missing)} do not resolve; nothing measured.")
        return
    viewer = _dataset()
    headers = {**logged_in(viewer).headers, "Accept": "text/html,application/json"}
    results = {}
    with gunicorn(env) as port:
        for name, path in paths.items():
            results[name] = _load(port, path, headers)
            print(f"{name:<13} {path:<20} {results[name]}")
    base = results["minimal view"]["per_second"]
    ok = all(set(r["answers"]) == {200} for r in results.values())
    figure = "; ".join(
        f"{name} `{paths[name]}`: median {r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
        f"{r['per_second']:.0f} req/s"
        + ("" if name == "minimal view" else f" = {r['per_second'] / base:.2f} x minimal")
        + ("" if set(r["answers"]) == {200} else f" (answers {r['answers']})")
        for name, r in results.items()
    )
    record(
        benchmark="event_list",
        command=COMMAND,
        figure=(
            f"{'' if ok else 'ERRORS: '}{EVENTS} events, {REGISTRATIONS} registrations, "
            f"{CLIENTS} clients x {REQUESTS} requests per URL (gunicorn 8x4 gthread): {figure}"
        ),
        baseline="minimal Django view `/__bench_minimal__` in the same run",
    )
    if not ok:
        raise SystemExit("event_list: some requests failed (see the row above)")


if __name__ == "__main__":
    main()
