"""An idle worker's CPU: the embedded default (broker, anvil making a block a second, one
worker) with no monitors and no traffic, measured after a settle, as a share of one core.
What every background consumer and timer of a worker costs when nothing happens.

Usage: .venv/bin/python bench/bench_idle.py [--settle 25] [--seconds 30]
Prints its figure; never part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dev.devstack import DevConfig, DevStack  # noqa: E402


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settle", type=float, default=25.0)
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args()
    stack = DevStack(DevConfig.on_free_ports(Path(tempfile.mkdtemp(prefix="bh-bench-idle-"))))
    try:
        stack.start_infra()
        stack.start_worker()
        stack.wait_ready()
        assert stack.worker is not None
        time.sleep(args.settle)
        c0, t0 = cpu_s(stack.worker.pid), time.monotonic()
        time.sleep(args.seconds)
        share = (cpu_s(stack.worker.pid) - c0) / (time.monotonic() - t0)
        print(f"idle worker CPU: {100 * share:.1f}% of a core over {args.seconds:g} s")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
