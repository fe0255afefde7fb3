"""Run every benchmark in bench/ (`make bench`): detection, deliveries, wallets, access control,
withdrawals, backfill, watch-list growth.

Each runs in its own process (own event loop, own embedded broker) with its default arguments;
run a benchmark file directly to pass options (`--help`). Figures are printed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "bench_detection.py",
    "bench_deliveries.py",
    "bench_wallets.py",
    "bench_auth.py",
    "bench_withdrawals.py",
    "bench_idle.py",
    "bench_backfill.py",
    "bench_watchlist.py",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        path = HERE / name
        if not path.exists():
            print(f"== {name}: not present, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, str(path)], cwd=HERE.parent)
        if rc != 0:
            failed.append(name)
            print(f"== {name} exited with {rc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
