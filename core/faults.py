"""Named crash points for tests that kill a worker at the worst moment.

`BLOCKHOOK_FAULTS` lists point names (comma separated); reaching a listed point kills the
process at once with SIGKILL, as `kill -9` would, with nothing flushed. Unset (always, in
production) a point costs one set lookup."""

from __future__ import annotations

import os
import signal

FAULTS_ENV = "BLOCKHOOK_FAULTS"
_armed = frozenset(p.strip() for p in os.environ.get(FAULTS_ENV, "").split(",") if p.strip())


def point(name: str) -> None:
    """Die here if the environment asked for it."""
    if name in _armed:
        os.kill(os.getpid(), signal.SIGKILL)
