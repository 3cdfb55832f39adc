"""2,000 API registrations at concurrency 16 on one event with room, against the code
before issue 18 (same arrangement as `bench/registration_concurrency.py`: a worktree of
the earlier commit with its own database, gunicorn 2 workers x 4 threads, alternating runs,
median of 3, mail handled alike on both sides: `BENCH_MAIL`).

Verdict: registrations/s at least 2x the baseline's, every registration confirmed.
"""

import os
from collections import Counter

from bench.registration_concurrency import compare, verdict

# 2,000 is the target; a smaller number only for a quick trial (the row names the number).
PEOPLE = int(os.environ.get("BENCH_SUSTAINED_PEOPLE", "2000"))
CONCURRENCY = 16
CAPACITY = 5000  # room for everyone
SLUG = "bench-registration-sustained"
TARGET = 2.0
RUN_TIMEOUT = 1200  # seconds for one run's requests
COMMAND = "make bench  (python -m bench registration_sustained)"


def _check(outcome: dict, answers: Counter) -> list[str]:
    problems = []
    if outcome["statuses"] != {"confirmed": PEOPLE}:
        problems.append(f"statuses {outcome['statuses']}")
    if answers.get(201, 0) != PEOPLE:
        problems.append(f"answers {dict(answers)}")
    return problems


def main() -> None:
    baseline, new = compare(
        slug=SLUG,
        people=PEOPLE,
        capacity=CAPACITY,
        concurrency=CONCURRENCY,
        check=_check,
        run_timeout=RUN_TIMEOUT,
    )
    verdict(
        benchmark="registration_sustained",
        command=COMMAND,
        what=f"{PEOPLE} API registrations at concurrency {CONCURRENCY}, one event with room",
        baseline=baseline,
        new=new,
        target=TARGET,
    )
