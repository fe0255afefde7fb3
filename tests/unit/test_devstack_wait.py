"""`DevStack.wait_ready` ends as soon as a worker it waits for has exited, naming its log."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from dev import procs
from dev.devstack import DevConfig, DevStack


def test_another_worker_that_exits_ends_the_wait_at_once(tmp_path: Path) -> None:
    stack = DevStack(DevConfig.on_free_ports(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    gone.wait(30)
    url = f"http://127.0.0.1:{procs.free_port()}"  # nothing answers there
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"worker exited with 3; see .*logs/worker-2\.log"):
        stack.wait_ready(timeout_s=60, url=url, proc=gone, name="2")
    assert time.monotonic() - started < 5
