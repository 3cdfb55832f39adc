"""Run the project's benchmarks. Each benchmark writes its figures to docs/benchmarks.md.

No issue has set a performance target yet; the events, notifications, matchmaking and
balance issues add their benchmarks to BENCHMARKS.
"""

import importlib
import sys

BENCHMARKS: list[str] = []


def main() -> int:
    if not BENCHMARKS:
        print("No benchmarks yet: no issue has set a performance target so far.")
        return 0
    for name in BENCHMARKS:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
