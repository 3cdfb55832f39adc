"""Integration fixtures: real PostgreSQL, Redis, a Celery worker process and an SMTP server.

Locally a missing service skips these tests; in CI (CI=true) it fails them, so a broken
machine can never pass as green.
"""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI needs this service: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres(db):
    if connection.vendor != "postgresql":
        unavailable("DATABASE_URL must point at PostgreSQL for integration tests")
    return connection


@pytest.fixture
def redis_url() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        unavailable("CELERY_BROKER_URL must point at Redis for integration tests")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {url} does not answer: {error}")
    return url


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        # Once this many messages arrived, the next DATA hangs until `stall_after` is
        # cleared and is then refused: a sender caught mid-conversation, for crash tests.
        self.stall_after: int | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.stall_after is not None and len(self.messages) >= self.stall_after:
            while self.stall_after is not None:
                await asyncio.sleep(0.05)
            return "451 Requested action aborted"
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.1)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


class Workers:
    """Starts real `celery worker` processes on the test database and SMTP server."""

    def __init__(self, redis_url: str, smtp_port: int) -> None:
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "CELERY_BROKER_URL": redis_url,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "PYTHONUNBUFFERED": "1",
        }
        if db["ENGINE"].endswith("postgresql"):
            self.env["DATABASE_URL"] = (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                f"{db['NAME']}"
            )
        self.started: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        return self._spawn(
            "worker",
            [
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"itest-{os.getpid()}-{len(self.started)}@%h",
            ],
            ready_line=" ready.",
        )

    def start_beat(self, schedule: Path) -> subprocess.Popen:
        """A real `celery beat` process with the project's schedule (its state in
        `schedule`), publishing to the same broker as the workers; stopped by stop_all."""
        return self._spawn(
            "beat", ["--loglevel=INFO", "--schedule", str(schedule)], ready_line="beat: Starting"
        )

    def _spawn(self, role: str, args: list[str], *, ready_line: str) -> subprocess.Popen:
        """Start `celery <role>` and wait until its output says it is ready."""
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", role, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append(process)
        ready = threading.Event()
        log: list[str] = []

        def read_output() -> None:
            for line in process.stdout:
                log.append(line)
                if ready_line in line:
                    ready.set()

        threading.Thread(target=read_output, daemon=True).start()
        if not ready.wait(60):
            process.kill()
            pytest.fail(f"Celery {role} did not start:\n" + "".join(log[-40:]))
        process.log = log
        return process

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.started:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
def celery_workers(redis_url, smtp_server, transactional_db) -> Iterator[Workers]:
    """Start (and SIGKILL, and start again) real worker processes; all stopped at the end."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no stale tasks from an earlier run
    _, smtp_port = smtp_server
    workers = Workers(redis_url, smtp_port)
    try:
        yield workers
    finally:
        workers.stop_all()


@pytest.fixture
def celery_worker(celery_workers) -> subprocess.Popen:
    """A real `celery worker` process, on the test database, sending to the test SMTP server."""
    return celery_workers.start()
