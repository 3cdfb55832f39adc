"""The machine's real PostgreSQL and Redis are the ones in use."""

import pytest
from django.core.cache import cache, caches
from django.db import connection

pytestmark = pytest.mark.integration


def test_suite_runs_on_postgresql(postgres):
    with connection.cursor() as cursor:
        cursor.execute("select version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_failed_logins_are_rate_limited_in_redis_across_processes(client, redis_url, settings, db):
    import redis
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(caches["default"], RedisCache):
        pytest.fail("CACHE_URL must point at Redis in the integration run")
    settings.ALLOWED_HOSTS = ["testserver"]
    cache.clear()
    # allauth answers a locked-out address with its "too many failed attempts" form error.
    responses = [
        client.post("/accounts/login/", {"login": "nobody@example.org", "password": f"wrong-{i}"})
        for i in range(7)
    ]
    assert b"Too many failed login attempts" in responses[-1].content
    # The counter lives in Redis itself, so every web process sees the same limit.
    server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert server.keys("*allauth:rl:*"), server.keys("*")
    cache.clear()
