"""200 simultaneous registrations over HTTP for the last 20 seats (issue 3).

gunicorn (8 gthread workers x 4 threads) on 127.0.0.1 serves the project on PostgreSQL;
200 members, each already signed in (a session made directly, no login requests), click
"Register" on the same event at the same instant: `POST /events/<slug>/register/`. The
database must then hold exactly 20 confirmed and 180 waitlisted registrations, and no
request may fail. Reports registrations per second and the wall time of the burst.
"""

import os
import threading
import time
from collections import Counter
from datetime import timedelta

from bench._support import django_setup, gunicorn, logged_in, record, request, route_exists

PEOPLE = 200
SEATS = 20
SLUG = "bench-registration-concurrency"
WARM_UP = 64  # GETs of the event page before the burst, from as many clients
BURST_TIMEOUT = 120  # seconds for the whole burst
COMMAND = "make bench  (python -m bench registration_concurrency)"


def _prepare():
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from events.models import Event, Registration
    from members.models import User

    start = timezone.now() + timedelta(days=30)
    event, _ = Event.objects.update_or_create(
        slug=SLUG,
        defaults={
            "kind": Event.Kind.WEBINAR,
            "title": "Benchmark: the last twenty seats",
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "capacity": SEATS,
            "audience": Event.Audience.PUBLIC,
            "status": Event.Status.PUBLISHED,
            "registration_opens_at": None,
            "registration_closes_at": None,
        },
    )
    Registration.objects.filter(event=event).delete()
    emails = [f"bench-register-{i:03d}@bench.example" for i in range(PEOPLE)]
    unusable = make_password(None)  # they are signed in by a session made directly
    have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    User.objects.bulk_create(
        [User(email=e, password=unusable, is_active=True) for e in emails if e not in have]
    )
    users = list(User.objects.filter(email__in=emails).order_by("email"))
    return event, [logged_in(user) for user in users]


def _warm_up(port: int, clients: list, path: str) -> None:
    """A running site is warm: every worker thread has loaded its code and connected."""
    threads = [
        threading.Thread(target=request, args=(port, "GET", path), kwargs={"headers": c.headers})
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def main() -> None:
    env = django_setup()
    from events.models import Registration

    path = f"/events/{SLUG}/register/"
    if not route_exists(path):
        print(f"endpoint missing: {path} does not resolve; nothing measured.")
        return
    event, clients = _prepare()

    statuses: list[int | str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients) + 1)

    def click(client) -> None:
        try:
            barrier.wait(timeout=30)
            status, _ = request(port, "POST", path, headers=client.headers, body="")
        except Exception as error:  # noqa: BLE001 -- a failed request is a result, not a crash
            status = type(error).__name__
        with lock:
            statuses.append(status)

    with gunicorn(env) as port:
        _warm_up(port, clients[:WARM_UP], f"/events/{SLUG}/")
        threads = [threading.Thread(target=click, args=(c,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        began = time.perf_counter()
        deadline = time.monotonic() + BURST_TIMEOUT
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        wall = time.perf_counter() - began

    answers = Counter(statuses)
    unanswered = PEOPLE - len(statuses)
    errors = sum(n for s, n in answers.items() if not (isinstance(s, int) and s < 500))
    counts = Counter(
        Registration.objects.filter(event=event, session=None).values_list("status", flat=True)
    )
    confirmed = counts[Registration.Status.CONFIRMED]
    waitlisted = counts[Registration.Status.WAITLISTED]
    positions = sorted(
        Registration.objects.filter(event=event, status=Registration.Status.WAITLISTED).values_list(
            "waitlist_position", flat=True
        )
    )
    ok = (
        confirmed == SEATS
        and waitlisted == PEOPLE - SEATS
        and positions == list(range(1, PEOPLE - SEATS + 1))
        and errors == 0
        and unanswered == 0
        and answers.get(302, 0) == PEOPLE
    )
    rate = (confirmed + waitlisted) / wall if wall else float("nan")
    figure = (
        f"{'PASS' if ok else 'FAIL'}: {PEOPLE} simultaneous POSTs for {SEATS} seats → "
        f"{confirmed} confirmed, {waitlisted} waitlisted (positions 1..{len(positions)} "
        f"{'in order' if positions == list(range(1, len(positions) + 1)) else 'NOT contiguous'})"
        f", HTTP answers {dict(sorted(answers.items(), key=str))}, {errors} errors"
        f"{f', {unanswered} unanswered' if unanswered else ''}; "
        f"{rate:.0f} registrations/s, burst wall time {wall:.2f} s "
        f"(gunicorn 8 workers x 4 threads, {os.cpu_count()} CPU)"
    )
    record(
        benchmark="registration_concurrency",
        command=COMMAND,
        figure=figure,
        baseline=f"target: exactly {SEATS} confirmed, {PEOPLE - SEATS} waitlisted, 0 errors",
    )
    if not ok:
        raise SystemExit("registration_concurrency: the result is wrong (see the row above)")


if __name__ == "__main__":
    main()
