"""An event page stays fresh whichever web process serves it.

Two gunicorn worker processes serve one event while people register through the API: after
each registration, every page served shows the seats left as they now are. With a shared
cache (Redis) the pages are cached and a registration gives the event a new version all
processes see; with the in-memory default each process has its own cache, so pages are not
cached at all (events.fragments.enabled).
"""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from events.models import Event
from tests.events.factories import EventFactory
from tests.factories import ClusterFactory, UserFactory
from tests.integration.conftest import ROOT, free_port

pytestmark = pytest.mark.integration

SEATS = 4
GETS = 12  # per step: with two worker processes, both serve the page


def _fetch(url: str, *, method: str = "GET", headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (ours)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _server_env(cache_url: str | None) -> dict[str, str]:
    db = connection.settings_dict
    env = {
        **os.environ,
        # The embedded settings (no collected static files needed), without DEBUG.
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("CELERY_BROKER_URL", "EMAIL_URL", "CACHE_URL", "PAGE_CACHE"):
        env.pop(name, None)  # tasks in-process, mail to the console, the default cache
    if cache_url:
        env["CACHE_URL"] = cache_url
    return env


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _fetch(f"http://127.0.0.1:{port}/", headers={})
            return server
        except urllib.error.URLError:
            if server.poll() is not None:
                pytest.fail(f"gunicorn stopped with exit code {server.returncode}")
            time.sleep(0.3)
    server.kill()
    pytest.fail("gunicorn did not serve within 60 s")


def _seats_text(n: int) -> str:
    return "1 seat left" if n == 1 else f"{n} seats left"


@pytest.mark.parametrize("shared", [False, True], ids=["per-process cache", "Redis cache"])
def test_every_worker_shows_the_seats_left_after_each_registration(
    postgres, transactional_db, redis_url, shared
):
    event = EventFactory(capacity=SEATS, audience=Event.Audience.PUBLIC)
    tokens = [Token.objects.create(user=user).key for user in UserFactory.create_batch(SEATS)]
    cache_url = redis_url.rsplit("/", 1)[0] + "/15" if shared else None
    if cache_url:
        import redis

        redis.Redis.from_url(cache_url).flushdb()
    port = free_port()
    server = _serve(_server_env(cache_url), port)
    base = f"http://127.0.0.1:{port}"
    page = f"{base}/events/{event.slug}/"
    try:
        for taken, token in enumerate([None, *tokens]):
            if token:
                status, text = _fetch(
                    f"{base}/api/v1/events/{event.pk}/register/",
                    method="POST",
                    headers={"Authorization": f"Token {token}"},
                )
                assert status == 201, text
            left = SEATS - taken
            expected = _seats_text(left) if left else "Full"
            for attempt in range(GETS):
                # A fresh connection each time: either worker process may answer.
                _, html = _fetch(page, headers={"Accept-Language": "en"})
                assert expected in html, f"after {taken} registrations, GET {attempt + 1}"
                if left:
                    assert _seats_text(left + 1) not in html
    finally:
        server.terminate()
        server.wait(20)


def test_every_worker_shows_a_profile_hidden_by_raw_sql_at_once(
    postgres, transactional_db, redis_url, settings
):
    """The member directory, cached in Redis: another process's write that no Django
    signal sees (raw SQL, as a script or a database console would) shows on the next page
    from either worker (members.directory_version)."""
    from django.test import Client

    from tests.factories import OrganisationFactory, ProfileFactory

    organisation = OrganisationFactory(name="Keller Antriebstechnik", clusters=[ClusterFactory()])
    viewer = ProfileFactory(display_name="Bruno Weiss", organisation=organisation)
    shown = ProfileFactory(display_name="Anna Keller", organisation=organisation)
    signed_in = Client()
    signed_in.force_login(viewer.user)
    cookie = {"Cookie": f"sessionid={signed_in.cookies['sessionid'].value}",
              "Accept-Language": "en"}  # fmt: skip
    cache_url = redis_url.rsplit("/", 1)[0] + "/15"
    import redis

    redis.Redis.from_url(cache_url).flushdb()
    env = {**_server_env(cache_url), "SECRET_KEY": settings.SECRET_KEY}
    port = free_port()
    server = _serve(env, port)
    url = f"http://127.0.0.1:{port}/members/"

    def pages() -> list[str]:
        # A fresh connection each time: either worker process may answer.
        answers = [_fetch(url, headers=cookie) for _ in range(GETS)]
        assert {status for status, _ in answers} == {200}, answers[0][1][:500]
        return [html for _, html in answers]

    try:
        assert all("Anna Keller" in html for html in pages())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE members_profile SET visibility = 'hidden' WHERE id = %s", [shown.pk]
            )
        assert not any("Anna Keller" in html for html in pages())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE members_organisation SET name = 'Keller Drives' WHERE id = %s",
                [organisation.pk],
            )
        assert all("Keller Drives" in html for html in pages())
    finally:
        server.terminate()
        server.wait(20)
