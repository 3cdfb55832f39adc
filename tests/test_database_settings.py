import pytest
from django.db import connection


@pytest.mark.django_db
def test_postgresql_sessions_run_without_jit_compilation():
    """JIT compiling cost 0.3–1 s per event-list query at 50,000 events (bench/growth.py)."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting; the PostgreSQL run of the suite checks it")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
