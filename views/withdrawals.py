"""The API's view of withdrawals: records, batches, the agent's decisions and the signing
requests waiting for a signer. Every worker folds the whole topics, so any worker answers
any read and any signer's long poll."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from core.settings import Settings
from views.topicfold import UNREADABLE, TopicFold, parsed

# Decisions are only waited on for seconds; keep the newest ones.
MAX_DECISIONS = 20_000


class WithdrawalsView(TopicFold):
    """In-memory fold of withdrawals, withdrawals.batches, withdrawals.decisions and
    withdrawals.signing."""

    TOPICS = ("withdrawals", "withdrawals.batches", "withdrawals.decisions", "withdrawals.signing")
    FETCH_MAX_WAIT_MS = 100

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.records: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.decisions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.signing: dict[str, dict[str, Any]] = {}

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        """Fold one record (pure apart from self)."""
        name = topic[len(self.settings.topic_prefix) :]
        k = key.decode(errors="replace") if key else ""
        data = parsed(value)
        if data is UNREADABLE or (data is not None and not isinstance(data, dict)):
            return
        table = {
            "withdrawals": self.records,
            "withdrawals.batches": self.batches,
            "withdrawals.signing": self.signing,
        }.get(name)
        if table is not None:
            if data is None:
                table.pop(k, None)
            else:
                table[k] = data
        elif name == "withdrawals.decisions" and data is not None:
            self.decisions[k] = data
            self.decisions.move_to_end(k)
            while len(self.decisions) > MAX_DECISIONS:
                self.decisions.popitem(last=False)

    async def decision(self, command_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The agent's decision on a command, waited for; None when it does not come."""
        if await self.wait_for(lambda: command_id in self.decisions, timeout_s):
            return self.decisions[command_id]
        return None

    def batch_items(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """A batch's items as the view has them, in order."""
        return [self.records[i] for i in batch.get("item_ids") or [] if i in self.records]

    def pending_for(self, wallet_ids: set[str], limit: int) -> list[dict[str, Any]]:
        """Signing requests for these wallets, oldest nonce first per sender."""
        reqs = [r for r in self.signing.values() if r.get("wallet_id") in wallet_ids]
        reqs.sort(key=lambda r: (str(r.get("from")), int((r.get("tx") or {}).get("nonce", 0))))
        return reqs[:limit]

    async def wait_pending(
        self, wallet_ids: set[str], limit: int, timeout_s: float
    ) -> list[dict[str, Any]]:
        """The long poll: requests as soon as there is one, or [] after timeout_s."""
        await self.wait_for(lambda: bool(self.pending_for(wallet_ids, 1)), timeout_s)
        return self.pending_for(wallet_ids, limit)

    def reserved(self, wallet_id: str, source: str, asset_key: tuple[Any, ...]) -> int:
        """What withdrawals from this source still in progress will take: it is not yet off
        the confirmed balance. `source` is the sending address."""
        total = 0
        for r in self.records.values():
            if r.get("wallet_id") != wallet_id or r.get("from") != source:
                continue
            a = r.get("asset") or {}
            if (a.get("kind"), a.get("contract"), a.get("token_id")) != asset_key:
                continue
            if r.get("status") in ("pending_approval", "approved", "signing", "broadcast"):
                total += int(r.get("amount") or 0)
        return total
