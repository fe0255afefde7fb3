"""The API's view of wallets, address assignments, deposit sessions and their deposits."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from core.publish import Message, Publisher
from core.settings import Settings
from streams.ledger import Ledger
from streams.partition import wallet_partition
from streams.rates import RateWindow
from views.topicfold import UNREADABLE, TopicFold, parsed

logger = logging.getLogger(__name__)

# What a client is told when `WalletsView.assign` gives None.
NOT_ASSIGNED = "the address is being assigned; repeat the request"


class WalletsView(TopicFold):
    """In-memory fold of wallets, wallets.addresses, sessions, events and withdrawals.

    Every worker folds the whole topics, so any worker answers any read; the balances are
    the pure `Ledger` fold of the events, and the events are also counted per second of
    their record timestamps (`events_per_minute`, for the admin dashboard)."""

    TOPICS = ("wallets", "wallets.addresses", "sessions", "events", "withdrawals")

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.wallets: dict[str, dict[str, Any]] = {}
        self.assignments: dict[tuple[str, str], dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.treasuries: dict[str, dict[str, Any]] = {}  # wallet id → its watched treasury
        self.ledger = Ledger()
        self.events_rate = RateWindow()

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        """Fold one record of one of the topics (pure apart from self)."""
        name = topic[len(self.settings.topic_prefix) :]
        k = key.decode(errors="replace") if key else ""
        data = parsed(value)
        if data is UNREADABLE:
            return
        if data is not None and not isinstance(data, dict):
            return
        if name == "events":
            if data is not None:
                self.ledger.apply(data, ts_ms)
                self.events_rate.add_second(ts_ms // 1000)
        elif name == "wallets":
            if data is None:
                self.wallets.pop(k, None)
            else:
                self.wallets[k] = data
        elif name == "withdrawals":
            if data is not None:
                self.ledger.apply_withdrawal(data)
        elif name == "wallets.addresses":
            if data is not None and data.get("treasury"):
                self.treasuries[str(data.get("wallet_id"))] = data
            elif data is not None:
                ak = (str(data.get("wallet_id")), str(data.get("user_ref")))
                old = self.assignments.get(ak)
                if old is not None and old.get("index") != data.get("index"):
                    logger.error("two indices for %s: %s then %s", ak, old["index"], data["index"])
                    return  # the first answer given stands
                self.assignments[ak] = data
        elif name == "sessions":
            if data is None:
                self.sessions.pop(k, None)
            else:
                self.sessions[k] = data

    def events_per_minute(self, now: float) -> int:
        """Event records whose timestamp is in the minute that ends at now (unix seconds)."""
        return self.events_rate.per_minute(now)

    async def assign(
        self, publisher: Publisher, wallet: dict[str, Any], user_ref: str
    ) -> dict[str, Any] | None:
        """The customer's address assignment: from the fold, or asked of the wallet's
        allocator (wallets.requests) and waited for here; None when it does not come in
        time (the request is sent once more halfway, as one lost in a crash is redone)."""
        k = (wallet["id"], user_ref)
        a = self.assignments.get(k)
        if a is not None:
            return a
        req = {
            "wallet_id": wallet["id"],
            "user_ref": user_ref,
            "chain": wallet["chain"],
            "xpub": wallet["xpub"],
        }
        p = wallet_partition(wallet["id"], self.settings.partitions)
        message = [Message("wallets.requests", wallet["id"].encode(), orjson.dumps(req), p)]
        for _attempt in range(2):
            await publisher.publish(message)
            if await self.wait_for(
                lambda: k in self.assignments, self.settings.wallet_assign_timeout_s / 2
            ):
                return self.assignments[k]
        return None
