"""The real stack for the browser journeys, once per run, and Debian's Chromium driving it.

A fresh PostgreSQL database (`clusterhub_browser`) gets the migrations, `seed_demo` and
the journeys' own data (tests/browser/stage_data.py); gunicorn serves it with DEBUG off
and the collected static files, a real Celery worker sends its mail through Redis, and
the mail lands in an aiosmtpd sink the tests read. Chromium is the system's
(/usr/bin/chromium, headless); Playwright never downloads a browser here.

Like the integration tests, a missing piece (Chromium, axe-core from `npm ci`, PostgreSQL,
Redis) skips these tests locally and fails them in CI (CI=true).
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import environ
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import sync_playwright

from tests.browser.journey import AxeLog, Journey
from tests.integration.conftest import Mailbox, Workers, free_port, port_open, unavailable

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
DATABASE = "clusterhub_browser"
# A Redis database of their own: the integration tests use 13 and 14.
REDIS_URL = os.environ.get("BROWSER_REDIS_URL", "redis://127.0.0.1:6379/12")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# aiosmtpd logs every SMTP command at INFO: hundreds of lines around any failure.
logging.getLogger("mail.log").setLevel(logging.WARNING)

TIMES: dict[str, float] = {}  # journey → seconds, and the stack's start-up
AXE_LOG = AxeLog()


def pytest_terminal_summary(terminalreporter):
    if not TIMES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("browser journeys")
    for label, seconds in TIMES.items():
        write(f"{label:<40} {seconds:6.1f} s")
    write(f"{'total':<40} {sum(TIMES.values()):6.1f} s")
    write(f"pages checked by axe-core ({len(AXE_LOG.pages)}):")
    for path in sorted(AXE_LOG.pages):
        write(f"  {path}  [{', '.join(sorted(AXE_LOG.pages[path]))}]")
    for line in AXE_LOG.violations:
        write(f"  VIOLATION {line}")


def _postgres_settings() -> dict:
    """Where PostgreSQL is: DATABASE_URL's server if it names one, else the local default."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    return environ.Env.db_url_config(url)


def _fresh_database(server: dict) -> str:
    import psycopg

    host, port = server["HOST"] or "127.0.0.1", int(server["PORT"] or 5432)
    if not port_open(host, port):
        unavailable(f"PostgreSQL does not answer on {host}:{port}")
    credentials = {"user": server["USER"] or "postgres", "password": server["PASSWORD"] or None}
    with psycopg.connect(
        host=host, port=port, dbname="postgres", autocommit=True, **credentials
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    auth = credentials["user"] + (f":{credentials['password']}" if credentials["password"] else "")
    return f"postgres://{auth}@{host}:{port}/{DATABASE}"


def _redis_ready() -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {REDIS_URL} does not answer: {error}")
    client.flushdb()  # no stale tasks from an earlier run


def _run(args: list[str], env: dict) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our server)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"gunicorn did not serve {url}:\n{log.read_text()[-3000:]}")


@dataclass
class Site:
    url: str
    mailbox: Mailbox
    data: dict  # what stage_data.py added: the journeys' people, webinar and programme


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    started = time.monotonic()
    _redis_ready()
    database_url = _fresh_database(_postgres_settings())
    work = Path(tempfile.mkdtemp(prefix="clusterhub-browser-"))
    port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "CLUSTERHUB_VAR_DIR": str(work / "var"),
        "STATIC_ROOT": str(work / "static"),
        "SITE_URL": url,
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("CELERY_BROKER_URL", "EMAIL_URL", "CACHE_URL"):
        base_env.pop(name, None)
    live_env = {
        **base_env,
        "CELERY_BROKER_URL": REDIS_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    workers = Workers(REDIS_URL, smtp_port)
    workers.env = live_env
    log = work / "gunicorn.log"
    server = None
    try:
        # The demo and the journeys' data are written with tasks in-process and mail to
        # files: the seed's reminders and invitations never reach the sink the tests read.
        _run(["manage.py", "migrate", "--noinput", "-v0"], base_env)
        _run(["manage.py", "collectstatic", "--noinput", "-v0"], base_env)
        _run(["manage.py", "seed_demo", "--force"], base_env)
        data = json.loads(_run([str(Path(__file__).with_name("stage_data.py"))], base_env))
        controller.start()
        with log.open("w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", "2", "--log-level", "warning"],
                cwd=ROOT, env=live_env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        workers.start()
        _wait_until_serving(url + "/", server, log)
        TIMES["stack start-up (migrate, seed, serve)"] = time.monotonic() - started
        yield Site(url=url, mailbox=mailbox, data=data)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            if server.returncode not in (0, -15):  # it died before it was stopped
                print(f"--- gunicorn log ---\n{log.read_text()[-5000:]}")
        workers.stop_all()
        if controller.loop.is_running():
            controller.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        unavailable(f"axe-core is missing: npm ci --prefix {AXE.parents[2]}")
    return AXE.read_text()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_passed = report.passed
    return report


@pytest.fixture
def journey(request, browser, axe_source, site) -> Iterator[Journey]:
    """The journey of a test module (test_<name>.py), timed; its screenshots in
    var/screenshots/<name>/. Once it passed, every page it showed must have been checked."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    journey = Journey(
        name=name, browser=browser, base_url=site.url, axe_source=axe_source, log=AXE_LOG
    )
    yield journey
    seconds = journey.finish(strict=getattr(request.node, "call_passed", False))
    TIMES[f"journey {name}"] = seconds
    print(f"journey {name}: {seconds:.1f} s")
