"""Run the project's benchmarks. Each benchmark writes its figures to docs/benchmarks.md.

`python -m bench` runs them all; `python -m bench event_list` runs the named ones.
The HTTP benchmarks need PostgreSQL (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/clusterhub_bench; the database is created and migrated).
"""

import importlib
import sys

BENCHMARKS: list[str] = [
    "registration_concurrency",  # issue 3: 200 simultaneous registrations, 20 seats
    "event_list",  # issue 3: event list and API list latency with 5,000 events
    "campaign_delivery",  # issue 4: 5,000-recipient campaign, one worker, SMTP sink
    "matching",  # issue 5: 10,000 × 2,500 and 1,000 × 250 optimal certified matching
    "balance_dashboard",  # issue 6: gender-balance dashboard, 1,000,000 registrations
    "profile_edit",  # issue 16: a member's own profile form with the demo data
    "marketplace",  # issue 17: a brokerage day's marketplace with 2,000 participants
    "brokerage_scheduler",  # issue 17: meeting scheduler vs its upper bound and a greedy
]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
