"""The pure modules stay pure: importing them must not start Faust or load any agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PURE = [
    "streams.normalize",
    "streams.decode",
    "streams.match",
    "streams.events",
    "streams.tracker",
    "streams.canon",
    "streams.signing",
    "streams.retry",
    "streams.netpolicy",
    "streams.watchlist",
    "streams.records",
    "schemas.types",
    "schemas.monitor",
    "core.settings",
    "chain.follower",
]


def test_pure_modules_do_not_import_faust_or_agents() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + "bad = sorted(m for m in sys.modules if m == 'faust_app' or m == 'faust'"
        " or m.startswith(('faust.', 'agents')) or m == 'faust_app.topics')\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "", f"pure modules pulled in: {out.stdout.strip()}"
