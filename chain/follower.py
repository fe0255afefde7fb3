"""Reads blocks from a node: head, full blocks with receipts, token metadata, hashes."""

from __future__ import annotations

import logging
from collections import OrderedDict

from chain.rpc import RpcClient
from core.errors import DecodeError, RpcError
from core.settings import ChainSettings
from streams.abiwords import token_meta, token_meta_calls
from streams.normalize import hex_int, normalize_block, token_contracts
from streams.records import BlockRecord, TokenMeta

logger = logging.getLogger(__name__)

_TOKEN_CACHE = 100_000


class BlockSource:
    """Fetches normalised blocks of one chain, enriching them with token metadata."""

    def __init__(self, chain: ChainSettings, rpc: RpcClient | None = None) -> None:
        self.chain = chain
        self.rpc = rpc or RpcClient(chain.rpc_urls, timeout_s=chain.rpc_timeout_s, chain=chain.name)
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
            calls = [call for c in wanted for call in token_meta_calls(c)]
            try:
                res = await self.rpc.batch(calls, lenient=True)
            except RpcError as exc:
                logger.warning("token metadata unavailable: %s", exc)
                res = [None] * len(calls)
            for i, c in enumerate(wanted):
                self._tokens[c] = token_meta(res[2 * i], res[2 * i + 1])
            while len(self._tokens) > _TOKEN_CACHE:
                self._tokens.popitem(last=False)
        for b in blocks:
            b["tokens"] = {c: self._tokens[c] for c in token_contracts(b) if c in self._tokens}
