"""A member's own profile form, `/me/edit/`, with the demo data (issue 16).

Server time: the request through the whole middleware stack and the view, in this process
(Django's test client, PostgreSQL, DEBUG off), as Anna Keller of the demo. 60 requests after
a warm-up; median and p95. In the same run, the baseline: the same page with Django's own
template-rendered `<select>` for its two long lists (about 420 time zones and 250 countries),
as it was before `members.widgets.LongSelect`. Target: under 200 ms.

Issue 18 (a second row): the member directory `/members/` and a member's own `/me/edit/`
next to the minimal view `/__bench_minimal__` served by the same gunicorn (2 workers × 4
threads, PostgreSQL, Redis cache), with MEMBERS more people in the demo's organisations.
Throughput of a page: CLIENTS clients (each signed in as a different demo member) ask for
that page only, back to back, for PHASE_SECONDS; requests completed per second. The pages
take turns, ROUNDS times, so the machine's noise falls on all of them alike. Target per
page: ≥ 0.4 × the minimal view's requests/s, and p95 ≤ 3 × its median.
"""

import os
import subprocess
import sys
import time

from bench._support import ROOT, django_setup, median, percentile, record

REQUESTS = 60
WARM_UP = 5
DEMO_MEMBER = "anna.keller@demo.example"
DEMO_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/clusterhub_bench_demo"
COMMAND = "make bench BENCH=profile_edit  (python -m bench profile_edit)"


def _measure(client) -> tuple[list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARM_UP):
        assert client.get("/me/edit/").status_code == 200
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        response = client.get("/me/edit/")
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        size = len(client.get("/me/edit/").content)
    return times, size, len(queries)


def main() -> None:
    # A database of its own holding exactly the demo (the other benchmarks add thousands of
    # events and people to theirs).
    os.environ.setdefault("DATABASE_URL", DEMO_DATABASE_URL)
    env = django_setup()
    from django import forms
    from django.test import Client

    from members.forms import ProfileForm
    from members.models import User

    if not User.objects.filter(email=DEMO_MEMBER).exists():
        subprocess.run(
            [sys.executable, "manage.py", "seed_demo", "--force"], cwd=ROOT, env=env, check=True
        )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(email=DEMO_MEMBER))

    times, size, queries = _measure(client)
    from members import views

    fields = ProfileForm.base_fields
    ours = {name: fields[name].widget for name in ("timezone", "country")}
    cached_form = views.profile_form_html
    try:
        views.profile_form_html = str  # the form rendered on every request, as before
        for name, widget in ours.items():
            stock = forms.Select(attrs=widget.attrs)
            stock.choices = widget.choices
            fields[name].widget = stock
        before, before_size, _ = _measure(client)
    finally:
        views.profile_form_html = cached_form
        for name, widget in ours.items():
            fields[name].widget = widget

    verdict = "met" if median(times) < 200 and percentile(times, 95) < 200 else "NOT met"
    figure = (
        f"/me/edit/ server time median {median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms "
        f"({REQUESTS} requests, demo data, {size / 1024:.0f} KB, {queries} queries); "
        f"target < 200 ms: {verdict}"
    )
    baseline = (
        f"same run, Django's template-rendered selects, no cached form: "
        f"median {median(before):.0f} ms, p95 {percentile(before, 95):.0f} ms "
        f"({before_size / 1024:.0f} KB); "
        f"{median(before) / median(times):.1f}× slower"
    )
    record(benchmark="profile_edit", command=COMMAND, figure=figure, baseline=baseline, issue="#16")

    figure, baseline = load_verdict(measure_under_load(env))
    record(benchmark="profile_edit", command=COMMAND, figure=figure, baseline=baseline, issue="#18")


# --- issue 18: the directory and /me/edit/ next to a minimal view, under load --------

MEMBERS = 3000  # people added to the demo's organisations (three clusters)
CLIENTS = 8
ROUNDS = 2
PHASE_SECONDS = 8.0
PAGES = ("/__bench_minimal__", "/members/", "/me/edit/")


def _ensure_members() -> None:
    """MEMBERS extra people with profiles in the demo's organisations (once per database)."""
    import random

    from django.contrib.auth.hashers import make_password

    from members.models import Language, Organisation, Profile, Topic, User

    prefix = "bench-member-"
    if User.objects.filter(email__startswith=prefix).count() >= MEMBERS:
        return
    rng = random.Random(18)
    organisations = list(Organisation.objects.values_list("pk", flat=True))
    topics = list(Topic.objects.values_list("pk", flat=True))
    languages = list(Language.objects.values_list("pk", flat=True))
    password = make_password(None)
    users = User.objects.bulk_create(
        User(email=f"{prefix}{i}@bench.example", password=password) for i in range(MEMBERS)
    )
    visibility = rng.choices(["cluster", "members", "hidden"], [6, 3, 1], k=MEMBERS)
    stance = rng.choices(["offers", "seeks", "neither"], [1, 1, 3], k=MEMBERS)
    profiles = Profile.objects.bulk_create(
        Profile(
            user=user,
            display_name=f"Bench Member {i:04}",
            organisation_id=rng.choice(organisations),
            job_title=rng.choice(["Engineer", "CEO", "Researcher", "Buyer", ""]),
            country=rng.choice(["AT", "DE", "FR", "IT", "RO", "ES"]),
            visibility=visibility[i],
            mentoring_stance=stance[i],
        )
        for i, user in enumerate(users)
    )
    for field, pool, most in (("expertise", topics, 4), ("interests", topics, 3),
                              ("languages", languages, 3)):  # fmt: skip
        through = getattr(Profile, field).through
        column = "language_id" if field == "languages" else "topic_id"
        through.objects.bulk_create(
            through(profile_id=profile.pk, **{column: pk})
            for profile in profiles
            for pk in rng.sample(pool, rng.randint(1, most))
        )
    from django.db import connection

    with connection.cursor() as cursor:  # the planner's statistics, as autovacuum would
        cursor.execute("ANALYZE")


def _load(port: int, clients: list, path: str, seconds: float) -> tuple[list[float], float]:
    """CLIENTS threads, each with its own session, GET `path` for `seconds`: latencies, rate."""
    import threading

    from bench._support import request

    latencies: list[list[float]] = [[] for _ in clients]
    failures: list[str] = []
    stop_at = time.monotonic() + seconds

    def run(index: int) -> None:
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            status, _body = request(port, "GET", path, headers=clients[index].headers)
            latencies[index].append((time.perf_counter() - began) * 1000)
            if status != 200:
                failures.append(f"{path}: {status}")
                return

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    elapsed = time.monotonic() - began
    if failures:
        raise RuntimeError(f"failed requests: {failures[:3]}")
    flat = [value for values in latencies for value in values]
    return flat, len(flat) / elapsed


def measure_under_load(env: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """Per page: requests/s, median and p95 ms, with gunicorn 2 workers × 4 threads, a Redis
    cache and CLIENTS clients (each signed in as a different demo member) asking for one page
    at a time; ROUNDS rounds alternate the pages so the machine's noise falls on all alike."""
    from bench._support import gunicorn, logged_in
    from members.models import User

    _ensure_members()
    people = User.objects.filter(
        email__endswith="@demo.example", profile__organisation__isnull=False
    )
    clients = [logged_in(user) for user in people.order_by("pk")[:CLIENTS]]
    served = {**env, "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/7")}
    results: dict[str, tuple[list[float], float]] = {path: ([], 0.0) for path in PAGES}
    with gunicorn(served, workers=2, threads=4) as port:
        for path in PAGES:
            _load(port, clients, path, 2.0)  # warm-up: imports, caches, connections
        for _ in range(ROUNDS):
            for path in PAGES:
                latencies, rate = _load(port, clients, path, PHASE_SECONDS)
                before, total = results[path]
                results[path] = (before + latencies, total + rate / ROUNDS)
    return {
        path: (rate, median(latencies), percentile(latencies, 95))
        for path, (latencies, rate) in results.items()
    }


def load_verdict(figures: dict[str, tuple[float, float, float]]) -> tuple[str, str]:
    """The issue-18 figure (each page vs the minimal view, met / NOT met) and its baseline."""
    minimal = figures["/__bench_minimal__"][0]
    parts = []
    for path in PAGES[1:]:
        rate, mid, p95 = figures[path]
        ok = rate >= 0.4 * minimal and p95 <= 3 * mid
        parts.append(
            f"{path} {rate:.0f} req/s = {rate / minimal:.2f}× minimal (target ≥ 0.4×), "
            f"median {mid:.0f} ms, p95 {p95:.0f} ms = {p95 / mid:.1f}× median (target ≤ 3×): "
            f"{'met' if ok else 'NOT met'}"
        )
    _rate, mid, p95 = figures["/__bench_minimal__"]
    baseline = (
        f"same run, /__bench_minimal__ {minimal:.0f} req/s, median {mid:.0f} ms, p95 {p95:.0f} ms "
        f"(gunicorn 2×4, Redis cache, {CLIENTS} clients, {MEMBERS} + demo members)"
    )
    return "; ".join(parts), baseline
