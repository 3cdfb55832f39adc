"""200 simultaneous API registrations for the last 20 seats, against the code before issue 18.

The project as it is now and as it was at `BASELINE_COMMIT` (checked out into a temporary
worktree, its own database, the same venv) are each served by gunicorn (2 workers x 4
threads) on 127.0.0.1, alternately, three runs each. In a run, 200 signed-in members
(sessions made directly) `POST /api/v1/events/<id>/register/` at the same instant; the
database must then hold exactly 20 confirmed and 180 waitlisted registrations, positions
1..180, and every request must get its 201. Mail is handled the same way on both sides:
by default in-process (`CELERY_BROKER_URL` empty, as on a one-machine install: the send
happens in the request after commit); with `BENCH_MAIL=worker` by a Celery worker of that
side's code on Redis (`BENCH_BROKER_URL`, default db 4), and the bench also reports when
the last message was delivered. The new code logs how long it held the seat lock
(`events.capacity_lock`).

Verdict: registrations/s (median of 3) at least 3x the baseline's.
`bench/registration_sustained.py` reuses this machinery for 2,000 registrations at
concurrency 16.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench._support import (
    DEFAULT_DATABASE_URL,
    HOST,
    ROOT,
    Client,
    baseline_tree,
    django_setup,
    gunicorn,
    manage_shell,
    median,
    percentile,
    record,
    request,
    tree_env,
)

# main just before issue 18 (the registration that built the mail under the seat lock).
BASELINE_COMMIT = "a470610"
WORKERS, THREADS = 2, 4  # as in the issue's measurements
RUNS = 3  # of each side, alternating
PEOPLE = 200
SEATS = 20
SLUG = "bench-registration-burst"
WARM_UP = 32  # GETs of the event before each run, from as many clients
RUN_TIMEOUT = 300  # seconds for one run's requests
TARGET = 3.0
COMMAND = "make bench  (python -m bench registration_concurrency)"

# Runs in `manage.py shell` of either tree, so it may use only what both have: makes the
# event (empty), the people and a signed-in session for each; prints event id and sessions.
PREPARE = """
import json, os
from datetime import timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from events.models import Event, Registration
from members.models import User
spec = json.loads(os.environ["BENCH_PREPARE"])
start = timezone.now() + timedelta(days=30)
event, _ = Event.objects.update_or_create(slug=spec["slug"], defaults=dict(
    kind=Event.Kind.WEBINAR, title="Benchmark: registrations", starts_at=start,
    ends_at=start + timedelta(hours=2), capacity=spec["capacity"],
    audience=Event.Audience.PUBLIC, status=Event.Status.PUBLISHED,
    registration_opens_at=None, registration_closes_at=None))
Registration.objects.filter(event=event).delete()
emails = [f"{spec['slug']}-{i:04d}@bench.example" for i in range(spec["people"])]
have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
unusable = make_password(None)
User.objects.bulk_create(
    [User(email=e, password=unusable, is_active=True) for e in emails if e not in have])
keys = []
for user in User.objects.filter(email__in=emails).order_by("email"):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(json.dumps({"event": event.pk, "sessions": keys}))
"""

# What the run left in the database, from either tree.
OUTCOME = """
import json, os
from django.db.models import Count
from events.models import Registration
rows = Registration.objects.filter(event_id=int(os.environ["BENCH_EVENT"]), session__isnull=True)
statuses = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
positions = rows.filter(status="waitlisted").values_list("waitlist_position", flat=True)
print(json.dumps({"statuses": statuses, "positions": sorted(positions)}))
"""

# How the confirmation mail is sent, the same on both sides (see the module docstring).
MAIL = os.environ.get("BENCH_MAIL", "in-process")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/4")
WORKER_PROCESSES = 2
DELIVERY_TIMEOUT = 600  # seconds for the worker to send a run's messages

HELD = re.compile(r"held ([0-9.]+) ms")


def api_headers(client: Client) -> dict[str, str]:
    """A signed-in browser session calling the API (DRF checks its CSRF token)."""
    return {**client.headers, "Content-Type": "application/json", "Accept": "application/json"}


def clients_for(sessions: list[str]) -> list[Client]:
    import secrets

    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return [
        Client(session_key=key, csrf="".join(secrets.choice(alphabet) for _ in range(32)))
        for key in sessions
    ]


class Side:
    """One of the two codes under test: its tree, environment and figures."""

    def __init__(self, name: str, root: Path, database_url: str, lock_log: Path | None):
        self.name, self.root, self.lock_log = name, root, lock_log
        extra = {"BENCH_LOCK_LOG": str(lock_log)} if lock_log else {}
        if MAIL == "worker":
            extra["CELERY_BROKER_URL"] = BROKER_URL
        self.env = tree_env(root, database_url, **extra)
        self.rates: list[float] = []
        self.delivered: list[float] = []  # seconds from the start to the last message sent
        self.held: list[float] = []
        self.failures: list[str] = []

    def prepare(self, *, slug: str, people: int, capacity: int | None) -> tuple[int, list[Client]]:
        spec = {"slug": slug, "people": people, "capacity": capacity}
        env = {**self.env, "BENCH_PREPARE": json.dumps(spec)}
        answer = json.loads(manage_shell(env, self.root, PREPARE))
        return answer["event"], clients_for(answer["sessions"])

    def outcome(self, event: int) -> dict:
        env = {**self.env, "BENCH_EVENT": str(event)}
        return json.loads(manage_shell(env, self.root, OUTCOME))

    @contextmanager
    def serve(self) -> Iterator[int]:
        """gunicorn (and the Celery worker, with `BENCH_MAIL=worker`); the port."""
        if self.lock_log:
            self.lock_log.write_text("")
        with ExitStack() as stack:
            if MAIL == "worker":
                stack.enter_context(celery_worker(self.env, self.root))
            yield stack.enter_context(
                gunicorn(self.env, workers=WORKERS, threads=THREADS, root=self.root)
            )

    def sent(self, event: int) -> int:
        """How many of the event's messages are sent (SQL: cheap enough to poll)."""
        import psycopg

        url = self.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute(
                "select count(*) from notifications_outboxmessage"
                " where batch = %s and status = 'sent'",
                [f"event:{event}"],
            ).fetchone()[0]

    def wait_for_delivery(self, event: int, *, expected: int, began: float) -> None:
        """With a worker: poll until every message of the run is sent; note when."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while time.monotonic() < deadline:
            if self.sent(event) >= expected:
                self.delivered.append(time.perf_counter() - began)
                return
            time.sleep(0.5)
        self.failures.append(f"messages not all delivered within {DELIVERY_TIMEOUT} s")

    def read_held(self) -> list[float]:
        if not self.lock_log:
            return []
        return [float(m.group(1)) for m in HELD.finditer(self.lock_log.read_text())]


@contextmanager
def celery_worker(env: dict[str, str], root: Path) -> Iterator[None]:
    """A Celery worker of the project in `root`, ready; stopped at the end."""
    log = Path(tempfile.gettempdir()) / "clusterhub-bench-registration-worker.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "config",
                "worker",
                f"--concurrency={WORKER_PROCESSES}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname=bench-registration@%h",
            ],
            cwd=root,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while " ready." not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Celery worker did not start; see {log}")
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def warm_up(port: int, clients: list[Client], path: str) -> None:
    """A running site is warm: every worker thread has loaded its code and connected."""
    threads = [
        threading.Thread(
            target=request, args=(port, "GET", path), kwargs={"headers": api_headers(c)}
        )
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def register_all(
    port: int, event: int, clients: list[Client], *, concurrency: int, timeout: float
) -> tuple[Counter, float, float]:
    """Each client registers once, `concurrency` at a time (all at once: a burst).

    Returns the HTTP answers (or error names), the wall time from the common start, and
    that start (`time.perf_counter()`).
    """
    path = f"/api/v1/events/{event}/register/"
    answers: Counter = Counter()
    lock = threading.Lock()
    queue = list(reversed(clients))
    barrier = threading.Barrier(concurrency + 1)
    deadline = time.monotonic() + timeout

    def work() -> None:
        barrier.wait(timeout=60)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                client = queue.pop()
            try:
                status, _ = request(port, "POST", path, headers=api_headers(client), body="{}")
            except Exception as error:  # noqa: BLE001 -- a failed request is a result
                status = type(error).__name__
            with lock:
                answers[status] += 1

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return answers, time.perf_counter() - began, began


def compare(
    *,
    slug: str,
    people: int,
    capacity: int | None,
    concurrency: int,
    check: Callable[[dict, Counter], list[str]],
    run_timeout: float = RUN_TIMEOUT,
) -> tuple[Side, Side]:
    """Alternate baseline and new runs; each side's rates, lock holds and failures."""
    django_setup()  # the new code's database; also names PostgreSQL's version in the row
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    baseline_url = f"{database_url}_baseline"  # e.g. clusterhub_bench_baseline
    lock_log = Path(tempfile.gettempdir()) / "clusterhub-bench-capacity-lock.log"
    with baseline_tree(BASELINE_COMMIT) as tree:
        sides = [
            Side("baseline", tree, baseline_url, None),
            Side("new", ROOT, database_url, lock_log),
        ]
        for run in range(RUNS):
            for side in sides:
                event, clients = side.prepare(slug=slug, people=people, capacity=capacity)
                with side.serve() as port:
                    warm_up(port, clients[:WARM_UP], f"/api/v1/events/{event}/")
                    answers, wall, began = register_all(
                        port, event, clients, concurrency=concurrency, timeout=run_timeout
                    )
                    if MAIL == "worker":
                        side.wait_for_delivery(event, expected=people, began=began)
                side.held.extend(side.read_held())
                problems = check(side.outcome(event), answers)
                if sum(answers.values()) != people:
                    problems.append(f"{people - sum(answers.values())} unanswered")
                side.failures.extend(f"run {run + 1}: {p}" for p in problems)
                side.rates.append(people / wall)
                delivered = (
                    f", last mail {side.delivered[-1]:.1f} s"
                    if len(side.delivered) == run + 1
                    else ""
                )
                print(
                    f"  {side.name} run {run + 1}: {people / wall:.1f} registrations/s"
                    f"{delivered}, "
                    f"answers {dict(answers)}{'; ' + '; '.join(problems) if problems else ''}"
                )
    return sides[0], sides[1]


def held_figure(side: Side) -> str:
    if not side.held:
        return "lock hold: not logged"
    return (
        f"lock held median {median(side.held):.2f} ms, p95 {percentile(side.held, 95):.2f} ms "
        f"({len(side.held)} holds)"
    )


def mail_figure(baseline: Side, new: Side) -> str:
    if MAIL != "worker":
        return (
            "mail rendered and sent in-process after commit on both sides "
            "(CELERY_BROKER_URL empty, in-memory mail)"
        )
    when = (
        f"last message delivered {median(new.delivered):.1f} s after the start "
        f"(baseline {median(baseline.delivered):.1f} s), medians"
        if new.delivered and baseline.delivered
        else "delivery not complete"
    )
    return (
        f"mail sent by a Celery worker ({WORKER_PROCESSES} processes, Redis) of each side's "
        f"code, in-memory mail; {when}"
    )


def verdict(
    *, benchmark: str, command: str, what: str, baseline: Side, new: Side, target: float
) -> None:
    """Print and record the verdict row: figure, baseline of the same run, ratio, met."""
    rate, base = statistics.median(new.rates), statistics.median(baseline.rates)
    ratio = rate / base if base else float("nan")
    wrong = new.failures + [f"baseline {failure}" for failure in baseline.failures]
    met = ratio >= target and not wrong
    figure = (
        f"{'met' if met else 'NOT met'}: {what}: {rate:.1f} registrations/s vs baseline "
        f"{base:.1f} ({BASELINE_COMMIT}), ratio {ratio:.2f}x (target >= {target:g}x), "
        f"median of {RUNS} alternating runs each; {held_figure(new)}; "
        f"{'WRONG: ' + '; '.join(wrong) if wrong else 'results correct on both sides'}; "
        f"gunicorn {WORKERS} workers x {THREADS} threads on {HOST}; {mail_figure(baseline, new)}"
    )
    record(
        benchmark=benchmark,
        command=command,
        figure=figure,
        baseline=(
            f"{BASELINE_COMMIT} runs: {', '.join(f'{r:.1f}' for r in baseline.rates)}/s; "
            f"new runs: {', '.join(f'{r:.1f}' for r in new.rates)}/s"
        ),
        issue="#18",
    )


def _burst_check(outcome: dict, answers: Counter) -> list[str]:
    problems = []
    statuses = outcome["statuses"]
    if statuses.get("confirmed", 0) != SEATS or statuses.get("waitlisted", 0) != PEOPLE - SEATS:
        problems.append(f"statuses {statuses}")
    if outcome["positions"] != list(range(1, PEOPLE - SEATS + 1)):
        problems.append("waitlist positions not 1..180")
    if answers.get(201, 0) != PEOPLE:
        problems.append(f"answers {dict(answers)}")
    return problems


def main() -> None:
    baseline, new = compare(
        slug=SLUG, people=PEOPLE, capacity=SEATS, concurrency=PEOPLE, check=_burst_check
    )
    verdict(
        benchmark="registration_concurrency",
        command=COMMAND,
        what=f"{PEOPLE} simultaneous API registrations for the last {SEATS} seats",
        baseline=baseline,
        new=new,
        target=TARGET,
    )
