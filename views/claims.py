"""Every worker's fold of the claims log: nonces and idempotency keys, decided by log order.

See streams/claims.py for the rule. Writers publish a claim and `wait_for` its decision; since
every worker folds the same log in the same order, two workers never decide differently."""

from __future__ import annotations

import time
from typing import Any

from core.settings import Settings
from streams.claims import ClaimBook, Decision
from views.topicfold import UNREADABLE, TopicFold, parsed


class ClaimsView(TopicFold):
    """In-memory fold of auth.claims and auth.nonces (the reads' nonces, in the same book)."""

    TOPICS = ("auth.claims", "auth.nonces")

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.book = ClaimBook(ttl_s=s.auth.idempotency_ttl_s)
        self._expired_at = 0.0

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        data = parsed(value)
        if data is UNREADABLE:
            return
        if isinstance(data, dict):
            self.book.apply(data)
        now = time.time()
        if now - self._expired_at > 60:
            self._expired_at = now
            self.book.expire(now)

    async def decision(self, claim_id: str, timeout_s: float) -> Decision | None:
        """The decision on a claim this worker published (after `book.expect`), or None if
        it did not come back within the time."""
        got = await self.wait_for(lambda: claim_id in self.book.decisions, timeout_s)
        if not got:
            self.book.forget(claim_id)
            return None
        return self.book.take(claim_id)

    async def result(self, winner: str, timeout_s: float) -> dict[str, Any] | None:
        """The first answer of the winning claim, once it is on the log; None on time-out."""
        if await self.wait_for(lambda: self.book.result_of(winner) is not None, timeout_s):
            return self.book.result_of(winner)
        return None
