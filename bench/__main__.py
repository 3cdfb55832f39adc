"""Run the project's benchmarks. Each benchmark writes its figures to docs/benchmarks.md.

`python -m bench` runs them all; `python -m bench event_list` runs the named ones.
The HTTP benchmarks need PostgreSQL (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/clusterhub_bench; the database is created and migrated).
"""

import importlib
import sys

BENCHMARKS: list[str] = [
    "registration_concurrency",  # issues 3, 18: 200 API registrations, 20 seats, vs before
    "event_list",  # issue 3: event list and API list latency with 5,000 events
    "campaign_delivery",  # issue 4: 5,000-recipient campaign, one worker, SMTP sink
    "matching",  # issue 5: 10,000 × 2,500 and 1,000 × 250 optimal certified matching
    "balance_dashboard",  # issue 6: gender-balance dashboard, 1,000,000 registrations
    "profile_edit",  # issue 16: a member's own profile form with the demo data
    "marketplace",  # issue 17: a brokerage day's marketplace with 2,000 participants
    "brokerage_scheduler",  # issue 17: meeting scheduler vs its upper bound and a greedy
    "mixed_load",  # issue 18: pages under a mixed load of 8 clients vs a minimal view
    "growth",  # issue 18: list, event page, registration at 5,000 vs 50,000 events
    "registration_sustained",  # issue 18: 2,000 registrations at concurrency 16, vs before
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
