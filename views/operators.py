"""Every worker's view of console operators, their sessions and their sign-in attempts.

A sign-out or a sign-out-everywhere is published and then waited for here, so it holds on
the worker that did it at once and on the others within their fetch wait."""

from __future__ import annotations

from collections import deque
from typing import Any

from core.settings import Settings
from streams.consoleauth import Lockout, last_totp_step, locked_until
from views.topicfold import UNREADABLE, TopicFold, parsed

ATTEMPTS_KEPT = 64  # per name: more than any lock-out policy looks at


class OperatorsView(TopicFold):
    """In-memory fold of operators, console.sessions and console.signins."""

    TOPICS = ("operators", "console.sessions", "console.signins")
    FETCH_MAX_WAIT_MS = 200

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.operators: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, deque[dict[str, Any]]] = {}
        c = s.console
        self.policy = Lockout(c.lockout_failures, c.lockout_window_s, c.lockout_s)

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        name = topic[len(self.settings.topic_prefix) :]
        k = key.decode(errors="replace") if key else ""
        data = parsed(value)
        if data is UNREADABLE or (data is not None and not isinstance(data, dict)):
            return
        if name == "console.signins":
            if data is not None:
                q = self.attempts.setdefault(k, deque(maxlen=ATTEMPTS_KEPT))
                q.append(data)
            return
        table = self.operators if name == "operators" else self.sessions
        if data is None:
            table.pop(k, None)
        else:
            table[k] = data

    def locked_until(self, name: str, now: float) -> float | None:
        return locked_until(self.attempts.get(name, ()), now, self.policy)

    def last_totp_step(self, name: str) -> int:
        return last_totp_step(self.attempts.get(name, ()))

    def sessions_of(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.sessions.values() if s.get("operator") == name]
