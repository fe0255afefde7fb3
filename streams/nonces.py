"""Nonces remembered per key for the signature window, so a replayed request is refused.

A nonce is kept until WINDOW_S after the later of its use and its timestamp: a request
stamped up to WINDOW_S in the future stays acceptable that much longer, and so must its nonce
stay remembered."""

from __future__ import annotations

import heapq

from streams.reqsign import WINDOW_S


class NonceBook:
    """(key id, nonce) pairs seen, each with the time it may be forgotten."""

    def __init__(self, window_s: int = WINDOW_S) -> None:
        self.window_s = window_s
        self._until: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, str, str]] = []

    def __len__(self) -> int:
        return len(self._until)

    def seen(self, key_id: str, nonce: str, now: float) -> bool:
        """Whether this key used this nonce within the window."""
        until = self._until.get((key_id, nonce))
        return until is not None and until >= now

    def remember(self, key_id: str, nonce: str, timestamp: float, now: float) -> None:
        """Record a use (idempotent); forgets what has expired."""
        until = max(now, timestamp) + self.window_s
        k = (key_id, nonce)
        if self._until.get(k, -1.0) < until:
            self._until[k] = until
            heapq.heappush(self._expiry, (until, key_id, nonce))
        self.expire(now)

    def use(self, key_id: str, nonce: str, timestamp: float, now: float) -> bool:
        """Check and record in one step: True if it was new."""
        if self.seen(key_id, nonce, now):
            return False
        self.remember(key_id, nonce, timestamp, now)
        return True

    def expire(self, now: float) -> None:
        """Forget nonces whose window has passed."""
        while self._expiry and self._expiry[0][0] < now:
            until, key_id, nonce = heapq.heappop(self._expiry)
            if self._until.get((key_id, nonce)) == until:
                del self._until[(key_id, nonce)]
