"""What the withdrawals agent asks of a chain's node, behind one small interface: the
sender's pending nonce, fee data, a gas estimate, a broadcast, receipts and the head.
`RpcTxNode` is the JSON-RPC one; `MemoryTxNode` its in-memory twin for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chain.rpc import RpcClient
from core.errors import RpcError


class TxNode(Protocol):
    """A node, as far as sending and following transactions goes."""

    async def pending_nonce(self, address: str) -> int: ...

    async def fee_data(self) -> tuple[int | None, dict[str, Any] | None]: ...

    async def estimate_gas(self, tx: dict[str, Any]) -> tuple[int | None, str | None]: ...

    async def send_raw(self, raw: str) -> str | None: ...

    async def receipts(self, hashes: list[str]) -> tuple[int, list[dict[str, Any] | None]]: ...


def _int(v: Any, what: str) -> int:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise RpcError(f"{what}: not a hex quantity")
    try:
        return int(v, 16)
    except ValueError:
        raise RpcError(f"{what}: not a hex quantity") from None


@dataclass
class RpcTxNode:
    """TxNode over JSON-RPC (several URLs with fail-over, as the follower's client)."""

    rpc: RpcClient

    async def pending_nonce(self, address: str) -> int:
        """The sender's transaction count including the node's pool ("pending": "latest"
        would hand out a nonce still waiting in the pool again)."""
        return _int(await self.rpc.call("eth_getTransactionCount", address, "pending"), "nonce")

    async def fee_data(self) -> tuple[int | None, dict[str, Any] | None]:
        """eth_maxPriorityFeePerGas and eth_feeHistory of the last 10 blocks (50th
        percentile rewards); None for what the node does not answer."""
        hint, _ = await self.rpc.call_or_error("eth_maxPriorityFeePerGas")
        history, _ = await self.rpc.call_or_error("eth_feeHistory", "0xa", "latest", [50])
        priority = _int(hint, "eth_maxPriorityFeePerGas") if hint is not None else None
        return priority, history if isinstance(history, dict) else None

    async def estimate_gas(self, tx: dict[str, Any]) -> tuple[int | None, str | None]:
        """The gas it needs, or why the node says it would fail."""
        call = {"from": tx["from"], "to": tx["to"], "value": hex(int(tx["value"]))}
        if tx.get("data") and tx["data"] != "0x":
            call["data"] = tx["data"]
        result, error = await self.rpc.call_or_error("eth_estimateGas", call, "pending")
        if error is not None:
            return None, error
        return _int(result, "eth_estimateGas"), None

    async def send_raw(self, raw: str) -> str | None:
        """Broadcast; None when the node took it, else the node's message (classified by
        the caller: "already known" for our own bytes is a success)."""
        _, error = await self.rpc.call_or_error("eth_sendRawTransaction", raw)
        return error

    async def receipts(self, hashes: list[str]) -> tuple[int, list[dict[str, Any] | None]]:
        """The head's number and each transaction's receipt (None: not mined, as far as
        this node's canonical chain goes)."""
        calls: list[tuple[str, list[Any]]] = [("eth_blockNumber", [])]
        calls += [("eth_getTransactionReceipt", [h]) for h in hashes]
        out = await self.rpc.batch(calls)
        head = _int(out[0], "eth_blockNumber")
        return head, [r if isinstance(r, dict) else None for r in out[1:]]


@dataclass
class MemoryTxNode:
    """A node in memory: sent bytes are kept and mined when the test says so."""

    nonces: dict[str, int] = field(default_factory=dict)
    priority: int | None = 1_000_000_000
    history: dict[str, Any] | None = None
    gas: int = 21_000
    estimate_error: str | None = None
    send_errors: list[str] = field(default_factory=list)  # answered in turn, then success
    sent: list[str] = field(default_factory=list)
    mined: dict[str, dict[str, Any]] = field(default_factory=dict)
    head: int = 1
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise RpcError("node down")

    async def pending_nonce(self, address: str) -> int:
        self._check()
        return self.nonces.get(address, 0)

    async def fee_data(self) -> tuple[int | None, dict[str, Any] | None]:
        self._check()
        history = self.history or {"baseFeePerGas": ["0x3b9aca00", "0x3b9aca00"], "reward": []}
        return self.priority, history

    async def estimate_gas(self, tx: dict[str, Any]) -> tuple[int | None, str | None]:
        self._check()
        if self.estimate_error is not None:
            return None, self.estimate_error
        return self.gas, None

    async def send_raw(self, raw: str) -> str | None:
        self._check()
        if self.send_errors:
            return self.send_errors.pop(0)
        self.sent.append(raw)
        return None

    async def receipts(self, hashes: list[str]) -> tuple[int, list[dict[str, Any] | None]]:
        self._check()
        return self.head, [self.mined.get(h) for h in hashes]
