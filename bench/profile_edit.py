"""A member's own profile form, `/me/edit/`, with the demo data (issue 16).

Server time: the request through the whole middleware stack and the view, in this process
(Django's test client, PostgreSQL, DEBUG off), as Anna Keller of the demo. 60 requests after
a warm-up; median and p95. In the same run, the baseline: the same page with Django's own
template-rendered `<select>` for its two long lists (about 420 time zones and 250 countries),
as it was before `members.widgets.LongSelect`. Target: under 200 ms.
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
    fields = ProfileForm.base_fields
    ours = {name: fields[name].widget for name in ("timezone", "country")}
    try:
        for name, widget in ours.items():
            stock = forms.Select(attrs=widget.attrs)
            stock.choices = widget.choices
            fields[name].widget = stock
        before, before_size, _ = _measure(client)
    finally:
        for name, widget in ours.items():
            fields[name].widget = widget

    verdict = "met" if median(times) < 200 and percentile(times, 95) < 200 else "NOT met"
    figure = (
        f"/me/edit/ server time median {median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms "
        f"({REQUESTS} requests, demo data, {size / 1024:.0f} KB, {queries} queries); "
        f"target < 200 ms: {verdict}"
    )
    baseline = (
        f"same run, Django's template-rendered selects: median {median(before):.0f} ms, "
        f"p95 {percentile(before, 95):.0f} ms ({before_size / 1024:.0f} KB); "
        f"{median(before) / median(times):.1f}× slower"
    )
    record(benchmark="profile_edit", command=COMMAND, figure=figure, baseline=baseline, issue="#16")
