"""Decode a normalised block into transfers: native, ERC20, ERC721, ERC1155.

Like ethereum-etl's extractor, every decoder returns nothing for what it does not
recognise (wrong topic count, short data, anonymous events): such logs are skipped.
"""

from __future__ import annotations

from collections.abc import Container, Iterator

import numpy as np

from streams.addrbloom import AddressBloom, tails
from streams.normalize import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC
from streams.records import (
    Asset,
    AssetKindT,
    BlockRecord,
    LogRecord,
    TokenMeta,
    Transfer,
    TxRecord,
)

_WORD = 64  # hex characters in one 32-byte ABI word
_MAX_BATCH = 10_000  # TransferBatch entries accepted from one log


def _topic_address(topic: str) -> str | None:
    """The address packed in a 32-byte topic, or None if the high bytes are not zero."""
    if len(topic) != 66 or topic[2:26] != "0" * 24:
        return None
    return "0x" + topic[26:]


def _words(data: str) -> list[int] | None:
    body = data[2:]
    if len(body) % _WORD:
        return None
    try:
        return [int(body[i : i + _WORD], 16) for i in range(0, len(body), _WORD)]
    except ValueError:
        return None


def transfer_key(chain_id: int, tx_hash: str, log_index: int | None, sub_index: int) -> str:
    """A deterministic identity of one transfer on one chain (independent of its block)."""
    where = "tx" if log_index is None else str(log_index)
    return f"{chain_id}:{tx_hash}:{where}:{sub_index}"


def _asset(
    kind: AssetKindT, contract: str | None, meta: TokenMeta | None, token_id: int | None
) -> Asset:
    return Asset(
        kind=kind,
        contract=contract,
        symbol=meta["symbol"] if meta else None,
        decimals=meta["decimals"] if meta else None,
        token_id=None if token_id is None else str(token_id),
    )


def _make(
    block: BlockRecord,
    tx_hash: str,
    log_index: int | None,
    sub: int,
    sender: str,
    to: str,
    asset: Asset,
    amount: int,
) -> Transfer:
    return Transfer(
        key=transfer_key(block["chain_id"], tx_hash, log_index, sub),
        tx_hash=tx_hash,
        log_index=log_index,
        sub_index=sub,
        block_number=block["number"],
        block_hash=block["hash"],
        timestamp=block["timestamp"],
        sender=sender,
        to=to,
        asset=asset,
        amount=str(amount),
    )


def decode_log(block: BlockRecord, lg: LogRecord) -> list[Transfer]:
    """The transfers one log carries; [] for anything that is not a well-formed transfer."""
    topics = lg["topics"]
    t0 = topics[0]
    meta = block["tokens"].get(lg["address"])
    if t0 == TRANSFER_TOPIC:
        if len(topics) == 3:  # ERC20: value in data
            words = _words(lg["data"])
            sender, to = _topic_address(topics[1]), _topic_address(topics[2])
            if words is None or len(words) != 1 or sender is None or to is None:
                return []
            asset = _asset("erc20", lg["address"], meta, None)
            return [_make(block, lg["tx_hash"], lg["log_index"], 0, sender, to, asset, words[0])]
        if len(topics) == 4:  # ERC721: token id indexed, no data
            sender, to = _topic_address(topics[1]), _topic_address(topics[2])
            if lg["data"] not in ("0x", "") or sender is None or to is None:
                return []
            token_id = int(topics[3], 16)
            asset = _asset("erc721", lg["address"], None, token_id)
            asset["symbol"] = meta["symbol"] if meta else None
            return [_make(block, lg["tx_hash"], lg["log_index"], 0, sender, to, asset, 1)]
        return []
    if t0 == TRANSFER_SINGLE_TOPIC and len(topics) == 4:
        sender, to = _topic_address(topics[2]), _topic_address(topics[3])
        words = _words(lg["data"])
        if words is None or len(words) != 2 or sender is None or to is None:
            return []
        asset = _asset("erc1155", lg["address"], None, words[0])
        return [_make(block, lg["tx_hash"], lg["log_index"], 0, sender, to, asset, words[1])]
    if t0 == TRANSFER_BATCH_TOPIC and len(topics) == 4:
        sender, to = _topic_address(topics[2]), _topic_address(topics[3])
        if sender is None or to is None:
            return []
        pairs = _batch_pairs(lg["data"])
        if pairs is None:
            return []
        return [
            _make(
                block,
                lg["tx_hash"],
                lg["log_index"],
                i,
                sender,
                to,
                _asset("erc1155", lg["address"], None, token_id),
                value,
            )
            for i, (token_id, value) in enumerate(pairs)
        ]
    return []


def _batch_pairs(data: str) -> list[tuple[int, int]] | None:
    """Decode (uint256[] ids, uint256[] values) of a TransferBatch; None if malformed."""
    words = _words(data)
    if words is None or len(words) < 4:
        return None
    off_ids, off_vals = words[0], words[1]
    if off_ids % 32 or off_vals % 32:
        return None
    i_ids, i_vals = off_ids // 32, off_vals // 32
    if i_ids >= len(words) or i_vals >= len(words):
        return None
    n_ids, n_vals = words[i_ids], words[i_vals]
    if n_ids != n_vals or n_ids > _MAX_BATCH:
        return None
    if i_ids + 1 + n_ids > len(words) or i_vals + 1 + n_vals > len(words):
        return None
    ids = words[i_ids + 1 : i_ids + 1 + n_ids]
    vals = words[i_vals + 1 : i_vals + 1 + n_vals]
    return list(zip(ids, vals, strict=True))


def _log_may_touch(lg: LogRecord, watched: Container[str]) -> bool:
    """Could this log move tokens from or to a watched address? (cheap; a superset: any
    indexed word whose low 20 bytes are a watched address)"""
    topics = lg["topics"]
    n = len(topics)
    return (
        (n > 1 and "0x" + topics[1][26:] in watched)
        or (n > 2 and "0x" + topics[2][26:] in watched)
        or (n > 3 and "0x" + topics[3][26:] in watched)
    )


def decode_block(
    block: BlockRecord, native_symbol: str = "ETH", watched: Container[str] | None = None
) -> Iterator[Transfer]:
    """Every transfer in a block: native value of successful transactions, then token logs.

    With `watched`, transfers none of whose addresses is in it are skipped before they are
    built (most of a block, for a typical watch list). A Bloom filter is first asked about
    the whole block at once (`_candidates`); the transactions and logs it leaves are then
    checked one by one as for any other container, so the answer is the same either way."""
    txs, logs = block["transactions"], block["logs"]
    if isinstance(watched, AddressBloom):
        picked = _candidates(txs, logs, watched)
        if picked is not None:
            txs, logs = picked
    for tx in txs:
        if tx["status"] != 1 or tx["to"] is None:
            continue
        if watched is not None and tx["to"] not in watched and tx["sender"] not in watched:
            continue
        amount = int(tx["value"])
        if amount <= 0:
            continue
        native = Asset(
            kind="native", contract=None, symbol=native_symbol, decimals=18, token_id=None
        )
        yield _make(block, tx["hash"], None, 0, tx["sender"], tx["to"], native, amount)
    for lg in logs:
        if watched is None or _log_may_touch(lg, watched):
            yield from decode_log(block, lg)


_ADDRESS = 42  # "0x" + 40 hex digits
_ZERO_ADDRESS = "0x" + "0" * 40  # stands for a missing side: it can only add candidates
_ZERO_TOPIC = "0x" + "0" * _WORD


def _candidates(
    txs: list[TxRecord], logs: list[LogRecord], bloom: AddressBloom
) -> tuple[list[TxRecord], list[LogRecord]] | None:
    """The transactions and logs of which some address may be in the Bloom filter, asked
    for all of them at once: a superset of what the one-by-one checks keep (a filler
    stands in for a missing address or topic word, and a word is asked by its last 16 hex
    digits, which are those of the address the one-by-one check builds from it). None when
    some address or word is not in its usual form: then every one is checked on its own."""
    nt, nl = len(txs), len(logs)
    addresses = [tx["to"] or _ZERO_ADDRESS for tx in txs]
    addresses += [tx["sender"] for tx in txs]
    topics = [lg["topics"] for lg in logs]
    words = [t[1] if len(t) > 1 else _ZERO_TOPIC for t in topics]
    words += [t[2] if len(t) > 2 else _ZERO_TOPIC for t in topics]
    four = [i for i, t in enumerate(topics) if len(t) > 3]  # ERC721, ERC1155
    words += [topics[i][3] for i in four]
    parts = []
    if addresses:
        tail = tails(addresses, _ADDRESS)
        if tail is None:
            return None
        parts.append(tail)
    if words:
        tail = tails(words, 2 + _WORD)
        if tail is None:
            return None
        parts.append(tail)
    if not parts:
        return [], []
    hit = bloom.maybe_tails(np.concatenate(parts) if len(parts) > 1 else parts[0])
    tx_hit = hit[:nt] | hit[nt : 2 * nt]
    log_hit = hit[2 * nt : 2 * nt + nl] | hit[2 * nt + nl : 2 * nt + 2 * nl]
    if four:
        log_hit[four] |= hit[2 * nt + 2 * nl :]
    return (
        [txs[i] for i in np.flatnonzero(tx_hit).tolist()],
        [logs[i] for i in np.flatnonzero(log_hit).tolist()],
    )
