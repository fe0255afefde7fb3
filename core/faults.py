"""Named crash points for tests that kill a worker at the worst moment, and named faults a
test makes on purpose.

`BLOCKHOOK_FAULTS` lists names (comma separated); reaching a listed point kills the process at
once with SIGKILL, as `kill -9` would, with nothing flushed; a listed fault is what `armed`
answers True for (the code that checks it misbehaves as the name says, once). Unset (always,
in production) a check costs one set lookup."""

from __future__ import annotations

import os
import signal

FAULTS_ENV = "BLOCKHOOK_FAULTS"
_armed = frozenset(p.strip() for p in os.environ.get(FAULTS_ENV, "").split(",") if p.strip())


def point(name: str) -> None:
    """Die here if the environment asked for it."""
    if name in _armed:
        os.kill(os.getpid(), signal.SIGKILL)


def armed(name: str) -> bool:
    """Whether the environment asked for the fault `name`."""
    return name in _armed
