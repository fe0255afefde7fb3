"""`blockhook dev` prints its ready line, serves the API, and leaves no process behind."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dev import procs

pytestmark = pytest.mark.e2e


def descendants(pid: int) -> set[int]:
    """Every process below pid (from /proc/*/stat parent links)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - out
        out |= frontier
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_dev_ready_then_stops_every_child(tmp_path: Path, sig: signal.Signals) -> None:
    api_port = procs.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "blockhook",
            "dev",
            "--broker-port",
            str(procs.free_port()),
            "--anvil-port",
            str(procs.free_port()),
            "--api-port",
            str(api_port),
            "--dir",
            str(tmp_path / "dev"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                line = proc.stdout.readline().decode()
                lines.append(line)
                if line.strip() == f"blockhook ready http://127.0.0.1:{api_port}":
                    break
            assert proc.poll() is None, "".join(lines)
        else:
            pytest.fail("no ready line: " + "".join(lines))
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
        children = descendants(proc.pid)
        assert len(children) >= 3  # broker, anvil, worker
        os.kill(proc.pid, sig)
        proc.wait(60)
        time.sleep(0.5)
        left = [p for p in children if alive(p)]
        assert left == [], f"orphans left: {left}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
