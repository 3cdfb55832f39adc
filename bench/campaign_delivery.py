"""Invitation campaign delivery with one and with two workers and an SMTP sink (issues 4, 18).

PostgreSQL, Redis (redis://127.0.0.1:6379/3, flushed first), an aiosmtpd sink on
127.0.0.1 that counts what it receives, and one, then two, real `celery -A config worker
--pool=solo` processes sending to it. 5,000 members match one audience criterion (their
country); the data set is bulk-inserted once and reused by later runs.

(a) Rendering alone: `invitation_message` for all 5,000 recipients in this process, no
    sending → messages/s.
(b) End to end: `campaign_send`, then the time until the sink holds 5,000 messages →
    messages/s, compared to (a) in the same run; once with one worker, once with two
    (separate campaigns). Targets (issue 18): ≥ 150/s with one, ≥ 250/s with two.
(c) The "send" web action: the POST to the campaign detail view through
    `django.test.Client` with the organiser logged in, for 50, 500 and 5,000 recipients
    (the worker is not running then; the queued fan-out is flushed). It must not grow with
    the audience.

Bounded: only 127.0.0.1 is contacted, every wait has a time limit, the worker and the sink
are stopped at the end.
"""

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from bench._support import (
    HOST,
    ROOT,
    _ensure_database,
    bench_env,
    free_port,
    median,
    record,
)

MEMBERS = 5_000
# Countries of the bench members: the first 50, the next 450, the rest. One criterion
# (country) then gives audiences of 50, 500 and 5,000.
COUNTRIES = (("IS", 50), ("LI", 450), ("MT", MEMBERS - 500))
AUDIENCES = {50: ["IS"], 500: ["IS", "LI"], MEMBERS: ["IS", "LI", "MT"]}
SEND_REPEATS = 5  # web "send" actions per audience size
REDIS_URL = "redis://127.0.0.1:6379/3"
DELIVERY_TIME_LIMIT = 600  # seconds for (b) at most
WORKER_START_LIMIT = 60
PREFIX = "bench-campaign-"
EVENT_SLUG = "bench-campaign-event"
ORGANISER = "bench-campaign-organiser@bench.example"
COMMAND = "python -m bench campaign_delivery"
TARGETS = {1: 150, 2: 250}  # messages/s end to end, by number of workers (issue 18)


def _setup(smtp_port: int) -> dict[str, str]:
    """Create and migrate the database; Django in this process with the Redis broker."""
    env = {**bench_env(), "CELERY_BROKER_URL": REDIS_URL}
    _ensure_database(env["DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    os.environ.update(env)
    import django

    django.setup()
    return {**env, "EMAIL_URL": f"smtp://{HOST}:{smtp_port}"}


class Sink:
    """An aiosmtpd handler that only counts the messages it accepts."""

    def __init__(self) -> None:
        self.count = 0
        self.first_at: float | None = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self._lock:
            self.count += 1
            if self.first_at is None:
                self.first_at = time.perf_counter()
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    from aiosmtpd.controller import Controller

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname=HOST, port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextmanager
def celery_worker(env: dict[str, str], name: str = "") -> Iterator[subprocess.Popen]:
    """One `celery worker --pool=solo` on the bench database; stopped at the end."""
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"bench-campaign-{os.getpid()}{name}@%h",
        ],
        cwd=ROOT,
        env={**env, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def read_output() -> None:
        for line in worker.stdout:
            log.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        # --loglevel=WARNING hides "ready."; the worker is ready once it answers a ping.
        if not _wait_ready(worker, ready):
            raise RuntimeError("Celery worker did not start:\n" + "".join(log[-40:]))
        worker.log = log
        yield worker
    finally:
        if worker.poll() is None:
            worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def _wait_ready(worker: subprocess.Popen, ready: threading.Event) -> bool:
    from kombu.exceptions import OperationalError

    from config.celery import app

    deadline = time.monotonic() + WORKER_START_LIMIT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            return False
        if ready.is_set():
            return True
        try:
            if app.control.ping(timeout=1.0):
                return True
        except (OSError, OperationalError):  # the broker while starting: try again
            ready.wait(0.2)
    return False


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_timeout=5).flushdb()


def _dataset():
    """The organiser, the event and the 5,000 members; created once, reused afterwards."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from events.models import Event
    from members.models import Cluster, ClusterOrganiser, Organisation, Profile, User

    with transaction.atomic():
        cluster, _ = Cluster.objects.get_or_create(
            slug="bench-campaign", defaults={"name": "Bench campaign cluster"}
        )
        organiser, _ = User.objects.get_or_create(email=ORGANISER, defaults={"is_active": True})
        if not Profile.objects.filter(user=organiser).exists():
            Profile.objects.create(user=organiser, display_name="Bench Organiser")
        ClusterOrganiser.objects.get_or_create(cluster=cluster, user=organiser)
        organisation, _ = Organisation.objects.get_or_create(
            slug="bench-campaign-organisation",
            defaults={"name": "Bench Campaign Organisation", "country": "AT"},
        )
        organisation.clusters.add(cluster)
        starts = timezone.now() + timedelta(days=30)
        event, _ = Event.objects.update_or_create(
            slug=EVENT_SLUG,
            defaults={
                "kind": Event.Kind.WEBINAR,
                "title": "Benchmark campaign webinar",
                "summary": "An event generated for the campaign benchmark.",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=1),
                "capacity": 10_000,
                "audience": Event.Audience.MEMBERS,
                "status": Event.Status.PUBLISHED,
                "online_platform": "Zoom",
                "online_url": "https://meet.example.org/bench-campaign",
            },
        )
        event.clusters.set([cluster])

        emails = [f"{PREFIX}{i:05d}@bench.example" for i in range(MEMBERS)]
        have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
        if len(have) < MEMBERS:
            unusable = make_password(None)
            User.objects.bulk_create(
                [User(email=e, password=unusable, is_active=True) for e in emails if e not in have],
                batch_size=1000,
            )
        users = list(User.objects.filter(email__in=emails).order_by("email"))
        country_of = []
        for country, count in COUNTRIES:
            country_of += [country] * count
        with_profile = set(Profile.objects.filter(user__in=users).values_list("user_id", flat=True))
        Profile.objects.bulk_create(
            [
                Profile(
                    user=user,
                    display_name=f"Bench Member {i}",
                    organisation=organisation,
                    country=country_of[i],
                )
                for i, user in enumerate(users)
                if user.pk not in with_profile
            ],
            batch_size=1000,
        )
    return organiser, event


def _clean(event) -> None:
    """Campaigns (and their outbox rows) of earlier runs go; every run starts alike."""
    from events.models import Campaign
    from notifications.models import OutboxMessage

    old = list(Campaign.objects.filter(event=event).values_list("pk", flat=True))
    OutboxMessage.objects.filter(batch__in=[f"campaign:{pk}" for pk in old]).delete()
    Campaign.objects.filter(pk__in=old).delete()


def _campaign(event, organiser, countries: list[str]):
    from events import campaigns

    return campaigns.campaign_create(
        event=event, by=organiser, countries=countries, message="Benchmark invitation."
    )


def measure_rendering(event, organiser) -> tuple[int, float]:
    """(a) Build every invitation of the 5,000-member audience in this process."""
    from events import campaigns, ical

    campaign = _campaign(event, organiser, AUDIENCES[MEMBERS])
    members, _ = campaigns.campaign_audience(campaign=campaign)
    people = list(members.select_related("profile"))
    campaign = type(campaign).objects.select_related("event", "created_by").get(pk=campaign.pk)
    began = time.perf_counter()
    calendar = ical.event_calendar(event, event.sessions.filter(is_cancelled=False)).decode()
    built = 0
    for user in people:
        message = campaigns.invitation_message(
            campaign=campaign, email=user.email, user=user, ics=calendar
        )
        built += bool(message.subject)
    seconds = time.perf_counter() - began
    campaign.delete()
    return built, seconds


def measure_send_action(event, organiser) -> dict[int, list[float]]:
    """(c) The organiser's POST "send" for each audience size, SEND_REPEATS times each."""
    from django.test import Client

    from events.models import Campaign

    client = Client(HTTP_HOST=HOST)
    client.force_login(organiser)
    timings: dict[int, list[float]] = {}
    for size, countries in AUDIENCES.items():
        timings[size] = []
        for _ in range(SEND_REPEATS):
            campaign = _campaign(event, organiser, countries)
            url = campaign.get_absolute_url()
            began = time.perf_counter()
            response = client.post(url, secure=True)
            timings[size].append(time.perf_counter() - began)
            campaign.refresh_from_db()
            if response.status_code != 302 or campaign.status != Campaign.Status.SENDING:
                raise RuntimeError(
                    f"send answered {response.status_code}, campaign {campaign.status}"
                )
    return timings


def measure_delivery(event, organiser, sink: Sink) -> tuple[int, float, float]:
    """(b) campaign_send, then wait until the sink holds 5,000 messages (bounded)."""
    from events import campaigns
    from events.models import Campaign

    campaign = _campaign(event, organiser, AUDIENCES[MEMBERS])
    before = sink.count
    began = time.perf_counter()
    campaigns.campaign_send(campaign=campaign, by=organiser)  # autocommit: queued at once
    deadline = time.monotonic() + DELIVERY_TIME_LIMIT
    while sink.count - before < MEMBERS and time.monotonic() < deadline:
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    first = (sink.first_at - began) if sink.first_at is not None else float("nan")
    delivered = sink.count - before
    campaign.refresh_from_db()
    if campaign.status != Campaign.Status.SENT:
        print(f"  campaign status after the wait: {campaign.status}")
    return delivered, seconds, first


@contextmanager
def celery_workers(env: dict[str, str], count: int) -> Iterator[list[subprocess.Popen]]:
    """`count` workers, all stopped at the end (also when one fails to start)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(celery_worker(env, f"-{i}")) for i in range(count)]


def main() -> None:
    deliveries: dict[int, tuple[int, float, float]] = {}
    with smtp_sink() as (sink, smtp_port):
        worker_env = _setup(smtp_port)
        began = time.perf_counter()
        organiser, event = _dataset()
        print(f"  data set ready in {time.perf_counter() - began:.1f} s")
        _clean(event)

        built, render_seconds = measure_rendering(event, organiser)
        render_rate = built / render_seconds
        print(f"  (a) rendered {built} invitations in {render_seconds:.2f} s: {render_rate:.0f}/s")

        _flush_redis()
        try:
            send_timings = measure_send_action(event, organiser)
        finally:
            _flush_redis()  # the fan-outs those sends queued are not delivered
        for size, values in send_timings.items():
            print(
                f"  (c) send action, {size} recipients: median {median(values) * 1000:.1f} ms, "
                f"max {max(values) * 1000:.1f} ms"
            )

        for workers in TARGETS:
            _clean(event)
            sink.first_at = None
            try:
                with celery_workers(worker_env, workers):
                    deliveries[workers] = measure_delivery(event, organiser, sink)
            finally:
                _flush_redis()
            delivered, seconds, first = deliveries[workers]
            print(
                f"  (b) {workers} worker(s): {delivered} messages in {seconds:.1f} s: "
                f"{delivered / seconds:.0f}/s (first after {first:.2f} s)"
            )
        _clean(event)

    sends = ", ".join(
        f"{size}: {median(values) * 1000:.0f} ms" for size, values in send_timings.items()
    )
    ratio = max(median(v) for v in send_timings.values()) / min(
        median(v) for v in send_timings.values()
    )
    figures = []
    for workers, target in TARGETS.items():
        delivered, seconds, first = deliveries[workers]
        rate = delivered / seconds
        complete = "" if delivered == MEMBERS else f"INCOMPLETE ({DELIVERY_TIME_LIMIT} s limit) "
        verdict = "met" if delivered == MEMBERS and rate >= target else "NOT met"
        print(
            f"  verdict: {workers} worker(s) {rate:.0f} messages/s vs target {target}/s: "
            f"{rate / target:.2f} x target, {rate / render_rate:.2f} x rendering alone "
            f"({render_rate:.0f}/s, same run): {verdict}"
        )
        figures.append(
            f"{complete}{workers} worker(s) (solo pool): {delivered} messages in {seconds:.1f} s "
            f"= {rate:.0f} messages/s (first after {first:.1f} s) = {rate / render_rate:.2f} x "
            f"rendering alone, target {target}/s {verdict}"
        )
    print(
        f"  verdict: send POST largest/smallest audience {ratio:.1f} x (must not grow with "
        f"the audience): {'met' if ratio < 2 else 'NOT met'}"
    )
    figure = (
        f"{MEMBERS}-recipient campaign, aiosmtpd sink on 127.0.0.1, Redis broker: "
        + "; ".join(figures)
        + f"; rendering alone {render_rate:.0f} messages/s ({built} `invitation_message` in "
        f'{render_seconds:.1f} s, same run); "send" POST (median of {SEND_REPEATS}) for '
        f"{sends} (largest/smallest {ratio:.1f} x)"
    )
    record(
        benchmark="campaign_delivery",
        command=COMMAND,
        figure=figure,
        baseline="rendering alone in-process, same run; send time must not grow with audience",
        issue="#18",
    )
