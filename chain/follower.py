"""Reads blocks from a node: head, full blocks with receipts, token metadata, hashes."""

from __future__ import annotations

import logging
from collections import OrderedDict

from chain.rpc import RpcClient
from core.errors import DecodeError, RpcError
from core.settings import ChainSettings
from streams.normalize import hex_int, normalize_block, token_contracts
from streams.records import BlockRecord, TokenMeta

logger = logging.getLogger(__name__)

SYMBOL_CALL = "0x95d89b41"  # symbol()
DECIMALS_CALL = "0x313ce567"  # decimals()
_TOKEN_CACHE = 100_000


def decode_abi_string(result: object) -> str | None:
    """An ABI-encoded string, or a bytes32 symbol (older tokens); None if neither."""
    if not isinstance(result, str) or not result.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(result[2:])
    except ValueError:
        return None
    text: bytes
    if len(raw) == 32:
        text = raw.rstrip(b"\0")
    elif len(raw) >= 64:
        offset = int.from_bytes(raw[:32], "big")
        if offset + 32 > len(raw):
            return None
        length = int.from_bytes(raw[offset : offset + 32], "big")
        if length > 64 or offset + 32 + length > len(raw):
            return None
        text = raw[offset + 32 : offset + 32 + length]
    else:
        return None
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return s if s.isprintable() else None


def decode_uint8(result: object) -> int | None:
    """A uint8 ABI word (token decimals), or None."""
    if not isinstance(result, str) or len(result) != 66:
        return None
    try:
        v = int(result, 16)
    except ValueError:
        return None
    return v if v <= 255 else None


class BlockSource:
    """Fetches normalised blocks of one chain, enriching them with token metadata."""

    def __init__(self, chain: ChainSettings, rpc: RpcClient | None = None) -> None:
        self.chain = chain
        self.rpc = rpc or RpcClient(chain.rpc_urls, timeout_s=chain.rpc_timeout_s)
        self._tokens: OrderedDict[str, TokenMeta] = OrderedDict()

    async def close(self) -> None:
        """Close the RPC client."""
        await self.rpc.close()

    async def head(self) -> int:
        """The node's latest block number."""
        return hex_int(await self.rpc.call("eth_blockNumber"), "eth_blockNumber")

    async def chain_id(self) -> int:
        """The node's chain id."""
        return hex_int(await self.rpc.call("eth_chainId"), "eth_chainId")

    async def hashes(self, numbers: list[int]) -> dict[int, str | None]:
        """The node's canonical hash at each number (None where it has no block)."""
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        out: dict[int, str | None] = {}
        for n, b in zip(numbers, await self.rpc.batch(calls), strict=True):
            out[n] = str(b["hash"]).lower() if isinstance(b, dict) and "hash" in b else None
        return out

    async def blocks(self, numbers: list[int]) -> list[BlockRecord | None]:
        """Blocks by number, in order; None for a block the node does not have (yet)."""
        calls: list[tuple[str, list[object]]] = []
        for n in numbers:
            calls.append(("eth_getBlockByNumber", [hex(n), True]))
            calls.append(("eth_getBlockReceipts", [hex(n)]))
        results = await self.rpc.batch(calls)
        out: list[BlockRecord | None] = []
        for i, _n in enumerate(numbers):
            block, receipts = results[2 * i], results[2 * i + 1]
            if block is None or receipts is None:
                out.append(None)
                continue
            try:
                rec = normalize_block(self.chain.name, self.chain.chain_id, block, receipts)
            except DecodeError as exc:
                # A node that answers garbage (or raced a reorg between the two calls):
                # treat the block as not there yet and try again on the next poll.
                logger.warning("chain %s block %s unusable: %s", self.chain.name, _n, exc)
                out.append(None)
                continue
            out.append(rec)
        await self._add_token_meta([b for b in out if b is not None])
        return out

    async def _add_token_meta(self, blocks: list[BlockRecord]) -> None:
        wanted = sorted({c for b in blocks for c in token_contracts(b)} - set(self._tokens))
        if wanted:
            calls: list[tuple[str, list[object]]] = []
            for c in wanted:
                calls.append(("eth_call", [{"to": c, "data": SYMBOL_CALL}, "latest"]))
                calls.append(("eth_call", [{"to": c, "data": DECIMALS_CALL}, "latest"]))
            try:
                res = await self.rpc.batch(calls, lenient=True)
            except RpcError as exc:
                logger.warning("token metadata unavailable: %s", exc)
                res = [None] * len(calls)
            for i, c in enumerate(wanted):
                self._tokens[c] = TokenMeta(
                    symbol=decode_abi_string(res[2 * i]), decimals=decode_uint8(res[2 * i + 1])
                )
            while len(self._tokens) > _TOKEN_CACHE:
                self._tokens.popitem(last=False)
        for b in blocks:
            b["tokens"] = {c: self._tokens[c] for c in token_contracts(b) if c in self._tokens}
