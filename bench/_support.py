"""What every HTTP benchmark needs: a PostgreSQL database, a gunicorn, logged-in clients.

Bounded on purpose: only 127.0.0.1 is ever contacted, every request has a timeout, every
request loop is bounded in count and time, and gunicorn is stopped when the block ends.
"""

import http.client
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/clusterhub_bench"
HOST = "127.0.0.1"
REQUEST_TIMEOUT = 60  # seconds, per request


def bench_env() -> dict[str, str]:
    """The environment of the bench process, manage.py and gunicorn: the same database."""
    var_dir = Path(tempfile.gettempdir()) / "clusterhub-bench"
    var_dir.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        "DEBUG": "False",
        "ALLOWED_HOSTS": HOST,
        "CLUSTERHUB_VAR_DIR": str(var_dir),
        # Mail stays in memory; tasks run in-process, as on a one-machine install.
        "EMAIL_URL": "memorymail://",
        "CELERY_BROKER_URL": "",
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "locmemcache://bench"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"The benchmarks need PostgreSQL; DATABASE_URL is {url}")
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')


def django_setup() -> dict[str, str]:
    """Create and migrate the benchmark database, then set Django up in this process."""
    env = bench_env()
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
    return env


@contextmanager
def baseline_tree(commit: str) -> Iterator[Path]:
    """The project at `commit`, checked out into a temporary worktree; removed at the end.

    Served with `gunicorn(..., root=tree)` and `tree_env(tree, ...)`: the same venv, its own
    code and its own database, so the earlier code is measured in the same run.
    """
    tree = Path(tempfile.gettempdir()) / "clusterhub-baseline"
    git = ["git", "-C", str(ROOT)]
    if tree.exists():  # left over from an interrupted run
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)
    subprocess.run(
        [*git, "worktree", "add", "--detach", str(tree), commit],
        check=True,
        timeout=120,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False, timeout=120)


def tree_env(root: Path, database_url: str, **extra: str) -> dict[str, str]:
    """`bench_env()` for the project in `root` on `database_url`, its database migrated."""
    env = {**bench_env(), "DATABASE_URL": database_url, "PYTHONPATH": str(root), **extra}
    _ensure_database(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=root,
        env=env,
        check=True,
        timeout=600,
    )
    return env


def manage_shell(env: dict[str, str], root: Path, code: str, *, timeout: int = 600) -> str:
    """Run `code` in `manage.py shell` of the project in `root`; the last line it prints."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=root,
        env=env,
        check=True,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int = 8, threads: int = 4, root: Path = ROOT
) -> Iterator[int]:
    """A gunicorn serving the project in `root` on 127.0.0.1; its port. Stopped at the end."""
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                f"--bind={HOST}:{port}",
                f"--workers={workers}",
                "--worker-class=gthread",
                f"--threads={threads}",
                "--timeout=120",
                "--graceful-timeout=10",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(process, port, log.name)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _wait_until_up(process: subprocess.Popen, port: int, log: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {log}")
        try:
            if request(port, "GET", "/__bench_minimal__")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer within 60 s; see {log}")
        time.sleep(0.2)


def request(
    port: int, method: str, path: str, *, headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Client:
    """Cookies and headers of a logged-in browser, without a login request."""

    session_key: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Host": HOST,
            "Cookie": f"sessionid={self.session_key}; csrftoken={self.csrf}",
            "X-CSRFToken": self.csrf,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "text/html,application/json",
        }


def logged_in(user) -> Client:
    """A session for `user`, exactly as `django.contrib.auth.login` would store it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    assert settings.SESSION_COOKIE_NAME == "sessionid"
    assert settings.CSRF_COOKIE_NAME == "csrftoken"
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    # Django accepts the bare 32-character secret as the token, in cookie and header alike.
    csrf = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
    return Client(session_key=session.session_key, csrf=csrf)


def route_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    described = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU{memory}, "
        f"Python {platform.python_version()}"
    )
    from django.conf import settings

    if not settings.configured:  # a benchmark without a database (e.g. the matching solver)
        return described
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("show server_version")
        pg = cursor.fetchone()[0].split()[0]
    return f"{described}, PostgreSQL {pg}"


def record(*, benchmark: str, command: str, figure: str, baseline: str, issue: str = "#3") -> str:
    """Append one row to docs/benchmarks.md (whose table is the end of the file); print it."""
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cells = [date, issue, benchmark, f"`{command}`", machine(), figure, baseline]
    row = "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
    if os.environ.get("BENCH_DRY_RUN"):  # a trial while developing: printed, not recorded
        print(row)
        return row
    text = DOC.read_text()
    DOC.write_text(text.rstrip("\n") + "\n" + row + "\n")
    print(row)
    return row
