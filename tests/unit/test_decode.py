"""decode: native, ERC20, ERC721, ERC1155 single/batch; malformed logs are skipped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.errors import DecodeError
from streams.decode import decode_block, decode_log, transfer_key
from streams.normalize import (
    TRANSFER_BATCH_TOPIC,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
    normalize_block,
)
from streams.records import BlockRecord, LogRecord, TxRecord

A = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
B = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
OP = "0x" + "0f" * 20
TOKEN = "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"
BHASH = "0x" + "ab" * 32
TX = "0x" + "12" * 32
BIG = 2**200 + 12345  # far beyond 2**64: must stay exact


def ta(addr: str) -> str:
    return "0x" + "0" * 24 + addr[2:]


def w(n: int) -> str:
    return f"{n:064x}"


def block(
    logs: list[LogRecord] | None = None,
    txs: list[TxRecord] | None = None,
    tokens: dict[str, Any] | None = None,
) -> BlockRecord:
    return BlockRecord(
        chain="local",
        chain_id=31337,
        number=100,
        hash=BHASH,
        parent_hash="0x" + "cd" * 32,
        timestamp=1_700_000_000,
        transactions=txs or [],
        logs=logs or [],
        tokens=tokens or {},
    )


def log(topics: list[str], data: str = "0x", index: int = 5, address: str = TOKEN) -> LogRecord:
    return LogRecord(tx_hash=TX, log_index=index, address=address, topics=topics, data=data)


def tx(value: int, status: int = 1, to: str | None = B, h: str = TX, index: int = 0) -> TxRecord:
    return TxRecord(hash=h, index=index, sender=A, to=to, value=str(value), status=status)


# ---------------------------------------------------------------- native


def test_native_successful_transfer() -> None:
    (t,) = decode_block(block(txs=[tx(BIG)]), native_symbol="MATIC")
    assert t == {
        "key": transfer_key(31337, TX, None, 0),
        "tx_hash": TX,
        "log_index": None,
        "sub_index": 0,
        "block_number": 100,
        "block_hash": BHASH,
        "timestamp": 1_700_000_000,
        "sender": A,
        "to": B,
        "asset": {
            "kind": "native",
            "contract": None,
            "symbol": "MATIC",
            "decimals": 18,
            "token_id": None,
        },
        "amount": str(BIG),
    }
    assert t["amount"] == "1606938044258990275541962092341162602522202993782792835313721"


def test_native_failed_transaction_produces_nothing() -> None:
    assert list(decode_block(block(txs=[tx(10, status=0)]))) == []


def test_native_zero_value_and_contract_creation_produce_nothing() -> None:
    assert list(decode_block(block(txs=[tx(0), tx(5, to=None)]))) == []


def test_native_default_symbol_is_eth() -> None:
    (t,) = decode_block(block(txs=[tx(1)]))
    assert t["asset"]["symbol"] == "ETH"


def test_decode_block_order_native_then_logs() -> None:
    b = block(
        txs=[tx(7)],
        logs=[log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(3))],
    )
    kinds = [t["asset"]["kind"] for t in decode_block(b)]
    assert kinds == ["native", "erc20"]


# ---------------------------------------------------------------- ERC20


def test_erc20() -> None:
    b = block(tokens={TOKEN: {"symbol": "USDC", "decimals": 6}})
    (t,) = decode_log(b, log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(BIG)))
    assert t["sender"] == A and t["to"] == B
    assert t["amount"] == str(BIG)
    assert isinstance(t["amount"], str)
    assert t["log_index"] == 5 and t["sub_index"] == 0
    assert t["key"] == f"31337:{TX}:5:0"
    assert t["asset"] == {
        "kind": "erc20",
        "contract": TOKEN,
        "symbol": "USDC",
        "decimals": 6,
        "token_id": None,
    }


def test_erc20_without_metadata() -> None:
    (t,) = decode_log(block(), log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(1)))
    assert t["asset"]["symbol"] is None and t["asset"]["decimals"] is None


def test_erc20_max_uint256() -> None:
    (t,) = decode_log(block(), log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + "f" * 64))
    assert t["amount"] == str(2**256 - 1)


# ---------------------------------------------------------------- ERC721


def test_erc721() -> None:
    b = block(tokens={TOKEN: {"symbol": "PUNK", "decimals": 0}})
    (t,) = decode_log(b, log([TRANSFER_TOPIC, ta(A), ta(B), "0x" + w(BIG)], "0x"))
    assert t["amount"] == "1"
    assert t["asset"]["kind"] == "erc721"
    assert t["asset"]["token_id"] == str(BIG)
    assert isinstance(t["asset"]["token_id"], str)
    assert t["asset"]["contract"] == TOKEN
    assert t["asset"]["symbol"] == "PUNK"
    assert t["asset"]["decimals"] is None  # an NFT has no decimals
    assert (t["sender"], t["to"]) == (A, B)


def test_erc721_mint_from_zero_address() -> None:
    zero = "0x" + "00" * 20
    (t,) = decode_log(block(), log([TRANSFER_TOPIC, ta(zero), ta(B), "0x" + w(0)]))
    assert t["sender"] == zero and t["asset"]["token_id"] == "0"


def test_erc721_with_data_is_skipped() -> None:
    assert decode_log(block(), log([TRANSFER_TOPIC, ta(A), ta(B), "0x" + w(1)], "0x" + w(1))) == []


# ---------------------------------------------------------------- ERC1155


def test_erc1155_single() -> None:
    b = block(tokens={TOKEN: {"symbol": "GAME", "decimals": 0}})
    lg = log([TRANSFER_SINGLE_TOPIC, ta(OP), ta(A), ta(B)], "0x" + w(BIG) + w(2**70))
    (t,) = decode_log(b, lg)
    assert (t["sender"], t["to"]) == (A, B)  # the operator is not a side
    assert t["asset"]["kind"] == "erc1155"
    assert t["asset"]["token_id"] == str(BIG)
    assert t["amount"] == str(2**70)
    assert t["sub_index"] == 0


def batch_data(ids: list[int], values: list[int]) -> str:
    off_ids = 64
    off_vals = off_ids + 32 * (1 + len(ids))
    return (
        "0x"
        + w(off_ids)
        + w(off_vals)
        + w(len(ids))
        + "".join(w(i) for i in ids)
        + w(len(values))
        + "".join(w(v) for v in values)
    )


def test_erc1155_batch_one_transfer_per_pair() -> None:
    lg = log([TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)], batch_data([1, 2, BIG], [10, 20, 30]))
    ts = decode_log(block(), lg)
    assert [(t["asset"]["token_id"], t["amount"], t["sub_index"]) for t in ts] == [
        ("1", "10", 0),
        ("2", "20", 1),
        (str(BIG), "30", 2),
    ]
    assert [t["key"] for t in ts] == [f"31337:{TX}:5:{i}" for i in range(3)]
    assert len({t["key"] for t in ts}) == 3
    assert all((t["sender"], t["to"]) == (A, B) for t in ts)


def test_erc1155_batch_values_before_ids() -> None:
    """Offsets decide where the arrays are, not their order in data."""
    data = "0x" + w(160) + w(64) + w(2) + w(10) + w(20) + w(2) + w(1) + w(2)
    ts = decode_log(block(), log([TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)], data))
    assert [(t["asset"]["token_id"], t["amount"]) for t in ts] == [("1", "10"), ("2", "20")]


def test_erc1155_empty_batch() -> None:
    lg = log([TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)], batch_data([], []))
    assert decode_log(block(), lg) == []


# ---------------------------------------------------------------- malformed → skipped

BAD_HIGH = "0x" + "00" * 11 + "01" + A[2:]  # non-zero byte above the 20 address bytes
MALFORMED = {
    "erc20 2 topics": log([TRANSFER_TOPIC, ta(A)], "0x" + w(1)),
    "erc20 1 topic": log([TRANSFER_TOPIC], "0x" + w(1)),
    "transfer 5 topics": log([TRANSFER_TOPIC, ta(A), ta(B), "0x" + w(1), "0x" + w(1)]),
    "erc20 empty data": log([TRANSFER_TOPIC, ta(A), ta(B)], "0x"),
    "erc20 short data": log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(1)[:-2]),
    "erc20 long data": log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(1) + w(2)),
    "erc20 odd data": log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(1) + "0"),
    "erc20 non-hex data": log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + "zz" * 32),
    "erc20 high bytes from": log([TRANSFER_TOPIC, BAD_HIGH, ta(B)], "0x" + w(1)),
    "erc20 high bytes to": log([TRANSFER_TOPIC, ta(A), BAD_HIGH], "0x" + w(1)),
    "erc20 short topic": log([TRANSFER_TOPIC, "0x" + A[2:], ta(B)], "0x" + w(1)),
    "erc721 high bytes": log([TRANSFER_TOPIC, ta(A), BAD_HIGH, "0x" + w(1)]),
    "single 3 topics": log([TRANSFER_SINGLE_TOPIC, ta(OP), ta(A)], "0x" + w(1) + w(2)),
    "single short data": log([TRANSFER_SINGLE_TOPIC, ta(OP), ta(A), ta(B)], "0x" + w(1)),
    "single long data": log(
        [TRANSFER_SINGLE_TOPIC, ta(OP), ta(A), ta(B)], "0x" + w(1) + w(2) + w(3)
    ),
    "single high bytes": log([TRANSFER_SINGLE_TOPIC, ta(OP), BAD_HIGH, ta(B)], "0x" + w(1) + w(2)),
    "batch 3 topics": log([TRANSFER_BATCH_TOPIC, ta(OP), ta(A)], batch_data([1], [1])),
    "batch high bytes": log([TRANSFER_BATCH_TOPIC, ta(OP), ta(A), BAD_HIGH], batch_data([1], [1])),
    "batch mismatched lengths": log(
        [TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)],
        "0x" + w(64) + w(160) + w(2) + w(1) + w(2) + w(1) + w(10),
    ),
    "batch ids offset outside": log(
        [TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)],
        "0x" + w(32 * 100) + w(96) + w(1) + w(1) + w(5),
    ),
    "batch values offset outside": log(
        [TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)],
        "0x" + w(64) + w(2**255) + w(1) + w(7) + w(5),
    ),
    "batch offset not word aligned": log(
        [TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)],
        "0x" + w(65) + w(128) + w(1) + w(7) + w(1) + w(5),
    ),
    "batch array runs past data": log(
        [TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)],
        "0x" + w(64) + w(128) + w(2) + w(7) + w(2) + w(5),
    ),
    "batch too short": log([TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)], "0x" + w(64) + w(96)),
    "batch huge length": log(
        [TRANSFER_BATCH_TOPIC, ta(OP), ta(A), ta(B)],
        "0x" + w(64) + w(64) + w(2**255) + w(0),
    ),
    "unknown topic0": log(["0x" + "99" * 32, ta(A), ta(B)], "0x" + w(1)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_log_is_skipped(name: str) -> None:
    assert decode_log(block(), MALFORMED[name]) == []


def test_malformed_logs_do_not_hide_good_ones() -> None:
    good = log([TRANSFER_TOPIC, ta(A), ta(B)], "0x" + w(77), index=99)
    b = block(logs=[*MALFORMED.values(), good])
    ts = list(decode_block(b))
    assert [(t["log_index"], t["amount"]) for t in ts] == [(99, "77")]


def rpc_block_with_logs(logs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """A JSON-RPC block with one zero-value transaction, and its receipt holding `logs`."""
    rpc_block = {
        "number": "0x64",
        "hash": BHASH,
        "parentHash": "0x" + "cd" * 32,
        "timestamp": "0x1",
        "transactions": [
            {"hash": TX, "transactionIndex": "0x0", "from": A, "to": TOKEN, "value": "0x0"}
        ],
    }
    receipts = [{"transactionHash": TX, "blockHash": BHASH, "status": "0x1", "logs": logs}]
    return rpc_block, receipts


def test_anonymous_event_is_dropped_by_normalize() -> None:
    """A log without topics never reaches decode (normalize drops it)."""
    rpc_block, receipts = rpc_block_with_logs(
        [
            {"address": TOKEN, "topics": [], "data": "0x" + w(1), "logIndex": "0x0"},
            {
                "address": TOKEN,
                "topics": [TRANSFER_TOPIC, ta(A), ta(B)],
                "data": "0x" + w(4),
                "logIndex": "0x1",
            },
        ]
    )
    rec = normalize_block("local", 31337, rpc_block, receipts)
    assert [lg["log_index"] for lg in rec["logs"]] == [1]
    assert [t["amount"] for t in decode_block(rec)] == ["4"]


def test_transfer_key_shapes() -> None:
    assert transfer_key(1, TX, None, 0) == f"1:{TX}:tx:0"
    assert transfer_key(1, TX, 0, 0) == f"1:{TX}:0:0"
    assert transfer_key(1, TX, 3, 2) != transfer_key(1, TX, 3, 1)
    assert transfer_key(1, TX, 3, 0) != transfer_key(5, TX, 3, 0)


# ---------------------------------------------------------------- never raises

_word32 = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
_topic0 = st.sampled_from([TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC]) | _word32
_data = (
    st.binary(max_size=400).map(lambda b: "0x" + b.hex())
    | st.text(max_size=200).map(lambda s: "0x" + s)
    | st.lists(st.integers(0, 2**256 - 1), max_size=12).map(
        lambda ws: "0x" + "".join(w(x) for x in ws)
    )
)


@settings(max_examples=400, deadline=None)
@given(t0=_topic0, rest=st.lists(_word32, max_size=4), data=_data)
@example(t0=TRANSFER_BATCH_TOPIC, rest=[ta(OP), ta(A), ta(B)], data=batch_data([1, 2], [3, 4]))
def test_decode_log_never_raises_on_word_topics(t0: str, rest: list[str], data: str) -> None:
    """Topics as a node returns them (32-byte words, any content) and any data."""
    out = decode_log(block(), log([t0, *rest], data))
    for t in out:
        assert int(t["amount"]) >= 0
        assert t["amount"] == str(int(t["amount"]))
        assert len(t["sender"]) == 42 and len(t["to"]) == 42


@settings(max_examples=200, deadline=None)
@given(
    t0=st.sampled_from([TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC]),
    rest=st.lists(st.text(max_size=70), max_size=4),
    data=st.text(max_size=200).map(lambda s: "0x" + s),
)
@example(t0=TRANSFER_TOPIC, rest=[ta(A), ta(B), "0x"], data="0x")
def test_normalized_logs_never_make_decode_raise(t0: str, rest: list[str], data: str) -> None:
    """Whatever normalize_block accepts, decode_block must digest without raising."""
    rpc_block, receipts = rpc_block_with_logs(
        [{"address": TOKEN, "topics": [t0, *rest], "data": data, "logIndex": "0x0"}]
    )
    try:
        rec = normalize_block("local", 31337, rpc_block, receipts)
    except DecodeError:
        return
    for t in decode_block(rec):
        # anything decoded must carry real hex addresses
        int(t["sender"], 16)
        int(t["to"], 16)


# ---------------------------------------------------------------- decoding only what is watched


def test_watched_decode_equals_full_decode_filtered() -> None:
    c = "0x" + "cc" * 20
    b = block(
        txs=[tx(5, to=B, h="0x" + "01" * 32), tx(6, to=c, h="0x" + "02" * 32)],
        logs=[
            log([TRANSFER_TOPIC, ta(A), ta(c)], "0x" + w(7), index=1),
            log([TRANSFER_TOPIC, ta(c), ta(c)], "0x" + w(8), index=2),
            log([TRANSFER_SINGLE_TOPIC, ta(OP), ta(c), ta(B)], "0x" + w(1) + w(9), index=3),
            log([TRANSFER_BATCH_TOPIC, ta(OP), ta(c), ta(c)], batch_data([1, 2], [3, 4]), 4),
        ],
    )
    for watched in ({A}, {B}, {c}, {A, B}, set(), {OP}):
        full = [t for t in decode_block(b) if t["sender"] in watched or t["to"] in watched]
        assert list(decode_block(b, watched=watched)) == full or (
            # the pre-check is a superset: it may pass a log the exact filter then drops
            [
                t
                for t in decode_block(b, watched=watched)
                if t["sender"] in watched or t["to"] in watched
            ]
            == full
        )
    assert [t["amount"] for t in decode_block(b, watched={B})] == ["5", "9"]
