"""Run every benchmark on one data set (seeded once), one JSON line each.

    python -m bench.all [--backend postgresql] [--users 10000 --posts 1000000] [--drop]

Options are those of the single benchmarks; `--fresh` applies to the first (re-seeds) and
`--drop` to the last (deletes the data set afterwards).
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("timeline", "post", "fanout", "search", "lists", "media", "streaming", "http")


def main() -> int:
    """Entry point."""
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(__doc__)
        return 0
    shared = [a for a in args if a not in ("--fresh", "--drop")]
    status = 0
    for i, name in enumerate(BENCHMARKS):
        extra = []
        if i == 0 and "--fresh" in args:
            extra.append("--fresh")
        if i == len(BENCHMARKS) - 1 and "--drop" in args:
            extra.append("--drop")
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *shared, *extra])
        status = status or done.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
