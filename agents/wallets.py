"""The address allocator: one partition of wallets.requests owns each wallet's index counter.

A request {wallet_id, user_ref, chain, xpub} is answered by publishing the assignment to the
compacted wallets.addresses topic, after the address's `owner` message is acknowledged on its
transfers partition (so every block published afterwards matches it). Requests of one wallet
share a partition and are processed one at a time, in order: no gaps, no reuse.

Which index a customer gets, and the wallet_alloc writes that record it, is decided by
streams.allocation over a read of the table; the agent applies the writes, in order, before
any record is published. A crash after any prefix of them leaves a table from which a replay
of the request plans the same index (see streams.allocation: a customer's own index is
finished, a taken one skipped), so the owner and the assignment published afterwards always
name that index.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from chain.hd import (
    Deriver,
    InvalidChild,
    XpubError,
    parse_account_xpub,
    treasury_address,
    treasury_path,
)
from core import metrics
from core.publish import Message
from faust_app import app, publisher, settings
from faust_app.acks import acked_events
from faust_app.tables import apply, wallet_alloc_table
from faust_app.topics import wallet_requests_topic
from streams.allocation import plan_allocation
from streams.match import partition_for
from streams.watchfilter import marker_chunks

logger = logging.getLogger(__name__)

_derivers: dict[str, Deriver] = {}


def allocate_index(wallet_id: str, user_ref: str, deriver: Deriver) -> tuple[int, str]:
    """The customer's index and address: the one already given, or the next free one (its
    table writes applied before this returns)."""

    def address_at(index: int) -> str | None:
        try:
            return deriver.address(index)
        except InvalidChild:
            return None

    plan = plan_allocation(wallet_id, user_ref, wallet_alloc_table.get, address_at)
    if plan.writes:
        apply(plan.writes)
        metrics.WALLET_ADDRESSES.inc()
    return plan.index, plan.address


def _deriver(wallet_id: str, xpub: str) -> Deriver:
    d = _derivers.get(wallet_id)
    if d is None or d.key.xpub != xpub:
        d = Deriver(parse_account_xpub(xpub, testnet_ok=True))
        _derivers[wallet_id] = d
    return d


def parse_request(value: bytes) -> dict[str, Any]:
    """A checked request; raises ValueError."""
    req = orjson.loads(value)
    if not isinstance(req, dict):
        raise ValueError("request is not a JSON object")
    fields = (
        ("wallet_id", "chain", "xpub")
        if req.get("treasury")
        else ("wallet_id", "user_ref", "chain", "xpub")
    )
    for f in fields:
        if not isinstance(req.get(f), str) or not req[f]:
            raise ValueError(f"request without {f}")
    return req


async def watch_address(chain: str, address: str, wallet_id: str, user_ref: str | None) -> None:
    """The address's owner on its transfers partition, then the decode filter's marker,
    both acknowledged: every block published afterwards is matched to it."""
    owner = {
        "t": "owner",
        "chain": chain,
        "address": address,
        "wallet_id": wallet_id,
        "user_ref": user_ref,
    }
    p = partition_for(chain, address, settings.partitions)
    await publisher.publish([Message("transfers", address.encode(), orjson.dumps(owner), p)])
    await publisher.publish(
        Message("blocks", chain.encode(), orjson.dumps(m)) for m in marker_chunks(chain, [address])
    )


async def watch_treasury(req: dict[str, Any], deriver: Deriver) -> None:
    """A signer wallet's treasury: watched (user_ref null), then announced."""
    address = treasury_address(deriver.key)
    await watch_address(req["chain"], address, req["wallet_id"], None)
    record = {
        "wallet_id": req["wallet_id"],
        "user_ref": None,
        "chain": req["chain"],
        "address": address,
        "path": treasury_path(deriver.key),
        "treasury": True,
    }
    key = f"{req['wallet_id']}|treasury".encode()
    await publisher.publish([Message("wallets.addresses", key, orjson.dumps(record))])


@app.agent(wallet_requests_topic)
async def allocate(stream: Any) -> None:
    """Assign indices in request order; publish the watch (owner) then the assignment."""
    async for event in acked_events(stream):
        try:
            req = parse_request(event.value)
            deriver = _deriver(req["wallet_id"], req["xpub"])
        except (ValueError, XpubError) as exc:  # includes JSON errors
            logger.error("bad address request skipped: %s", exc)
            continue
        if req.get("treasury"):
            await watch_treasury(req, deriver)
            continue
        wallet_id, user_ref, chain = req["wallet_id"], req["user_ref"], req["chain"]
        index, address = allocate_index(wallet_id, user_ref, deriver)
        await watch_address(chain, address, wallet_id, user_ref)
        assignment = {
            "wallet_id": wallet_id,
            "user_ref": user_ref,
            "chain": chain,
            "address": address,
            "index": index,
            "path": deriver.key.path(index),
        }
        # Not awaited: the owner is already acknowledged, and an assignment lost in a crash
        # is published again when the client repeats the request (the API answers 503).
        await publisher.publish_buffered(
            [
                Message(
                    "wallets.addresses",
                    f"{wallet_id}:{user_ref}".encode(),
                    orjson.dumps(assignment),
                )
            ]
        )
