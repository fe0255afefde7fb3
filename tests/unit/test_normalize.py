"""normalize_block: a node's JSON-RPC block + eth_getBlockReceipts → a compact BlockRecord."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DecodeError
from streams.normalize import (
    TRANSFER_BATCH_TOPIC,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
    hex_int,
    normalize_block,
    token_contracts,
)

# EIP-55 test vectors (valid checksums) and their lower-case forms.
A_CS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
B_CS = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
TOKEN_CS = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
NFT_CS = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
A, B, TOKEN, NFT = (x.lower() for x in (A_CS, B_CS, TOKEN_CS, NFT_CS))
ERC1155 = "0x" + "11" * 20

APPROVAL_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
BLOCK_HASH = "0x" + "ab" * 32
PARENT_HASH = "0x" + "cd" * 32
OTHER_BLOCK = "0x" + "ef" * 32


def txh(i: int) -> str:
    return "0x" + f"{i:064x}"


def topic_addr(addr: str) -> str:
    """An address as an indexed topic; mixed case as some nodes/tools produce."""
    return "0x" + "0" * 24 + addr[2:]


def word(n: int) -> str:
    return f"{n:064x}"


def rpc_log(tx: int, index: int, address: str, topics: list[str], data: str = "0x") -> dict:
    return {
        "address": address,
        "topics": topics,
        "data": data,
        "blockNumber": "0x1b4",
        "blockHash": BLOCK_HASH,
        "transactionHash": txh(tx),
        "transactionIndex": hex(tx),
        "logIndex": hex(index),
        "removed": False,
    }


def rpc_tx(i: int, frm: str, to: str | None, value: str) -> dict:
    return {
        "hash": txh(i),
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x1b4",
        "transactionIndex": hex(i),
        "from": frm,
        "to": to,
        "value": value,
        "gas": "0x5208",
        "gasPrice": "0x3b9aca00",
        "input": "0x",
        "nonce": hex(i),
        "type": "0x2",
    }


def rpc_receipt(i: int, status: str, logs: list[dict], contract: str | None = None) -> dict:
    return {
        "transactionHash": txh(i),
        "transactionIndex": hex(i),
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x1b4",
        "from": A,
        "to": None,
        "cumulativeGasUsed": "0x5208",
        "gasUsed": "0x5208",
        "contractAddress": contract,
        "logs": logs,
        "logsBloom": "0x" + "00" * 256,
        "status": status,
        "type": "0x2",
        "effectiveGasPrice": "0x3b9aca00",
    }


def fixture() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Block 436 (0x1b4) with six transactions covering what normalize must keep or drop."""
    erc20 = rpc_log(
        3,
        0,
        TOKEN_CS,
        [TRANSFER_TOPIC.upper().replace("0X", "0x"), topic_addr(A_CS), topic_addr(B_CS)],
        "0x" + word(2**70 + 5).upper(),
    )
    approval = rpc_log(
        3, 1, TOKEN_CS, [APPROVAL_TOPIC, topic_addr(A), topic_addr(B)], "0x" + word(1)
    )
    erc721 = rpc_log(
        3, 2, NFT_CS, [TRANSFER_TOPIC, topic_addr(A), topic_addr(B), "0x" + word(42)], "0x"
    )
    single = rpc_log(
        3,
        3,
        ERC1155,
        [TRANSFER_SINGLE_TOPIC, topic_addr(A), topic_addr(A), topic_addr(B)],
        "0x" + word(7) + word(100),
    )
    batch = rpc_log(
        3,
        4,
        ERC1155,
        [TRANSFER_BATCH_TOPIC, topic_addr(A), topic_addr(A), topic_addr(B)],
        "0x" + word(64) + word(160) + word(2) + word(1) + word(2) + word(2) + word(10) + word(20),
    )
    anonymous = rpc_log(3, 5, TOKEN_CS, [], "0x" + word(1))
    removed = {
        **rpc_log(3, 6, TOKEN_CS, [TRANSFER_TOPIC, topic_addr(A), topic_addr(B)], "0x" + word(9)),
        "removed": True,
    }
    failed_log = rpc_log(
        1, 7, TOKEN_CS, [TRANSFER_TOPIC, topic_addr(A), topic_addr(B)], "0x" + word(3)
    )
    block = {
        "number": "0x1b4",
        "hash": BLOCK_HASH.upper().replace("0X", "0x"),
        "parentHash": PARENT_HASH,
        "timestamp": "0x6553f100",
        "miner": "0x" + "00" * 20,
        "gasLimit": "0x1c9c380",
        "baseFeePerGas": "0x7",
        "transactions": [
            rpc_tx(0, A_CS, B_CS, "0xde0b6b3a7640000"),  # 1 ETH, succeeds
            rpc_tx(1, A, B, "0x5"),  # value, but fails
            rpc_tx(2, A, B, "0x0"),  # zero value
            rpc_tx(3, A, TOKEN_CS, "0x0"),  # token calls, zero value
            rpc_tx(4, A, None, "0x0"),  # contract creation, no value
            rpc_tx(5, B, None, "0x10"),  # contract creation carrying value
        ],
    }
    receipts = [
        rpc_receipt(0, "0x1", []),
        rpc_receipt(1, "0x0", [failed_log]),
        rpc_receipt(2, "0x1", []),
        rpc_receipt(3, "0x1", [erc20, approval, erc721, single, batch, anonymous, removed]),
        rpc_receipt(4, "0x1", [], contract="0x" + "22" * 20),
        rpc_receipt(5, "0x1", [], contract="0x" + "33" * 20),
    ]
    return block, receipts


def norm(block: Any, receipts: Any, **kw: Any):
    return normalize_block("local", 31337, block, receipts, **kw)


def test_topic_constants_are_the_keccak_of_the_event_signatures() -> None:
    def k(sig: str) -> str:
        return "0x" + keccak(sig.encode()).hex()

    assert k("Transfer(address,address,uint256)") == TRANSFER_TOPIC
    assert k("TransferSingle(address,address,address,uint256,uint256)") == TRANSFER_SINGLE_TOPIC
    assert k("TransferBatch(address,address,address,uint256[],uint256[])") == TRANSFER_BATCH_TOPIC


def test_header_fields() -> None:
    rec = norm(*fixture())
    assert rec["chain"] == "local"
    assert rec["chain_id"] == 31337
    assert rec["number"] == 436
    assert rec["hash"] == BLOCK_HASH  # lower-cased
    assert rec["parent_hash"] == PARENT_HASH
    assert rec["timestamp"] == 0x6553F100
    assert rec["tokens"] == {}


def test_keeps_only_value_carrying_transactions_lower_cased() -> None:
    rec = norm(*fixture())
    txs = {t["hash"]: t for t in rec["transactions"]}
    assert set(txs) == {txh(0), txh(1), txh(5)}
    assert txs[txh(0)] == {
        "hash": txh(0),
        "index": 0,
        "sender": A,
        "to": B,
        "value": str(10**18),
        "status": 1,
    }
    assert txs[txh(1)]["status"] == 0  # kept (value), but marked failed
    assert txs[txh(1)]["value"] == "5"
    assert txs[txh(5)]["to"] is None  # contract creation with value
    assert txs[txh(5)]["sender"] == B


def test_keeps_only_transfer_logs_of_successful_transactions() -> None:
    rec = norm(*fixture())
    logs = rec["logs"]
    assert [lg["log_index"] for lg in logs] == [0, 2, 3, 4]
    assert all(lg["tx_hash"] == txh(3) for lg in logs)
    assert [lg["topics"][0] for lg in logs] == [
        TRANSFER_TOPIC,
        TRANSFER_TOPIC,
        TRANSFER_SINGLE_TOPIC,
        TRANSFER_BATCH_TOPIC,
    ]
    erc20 = logs[0]
    assert erc20["address"] == TOKEN
    assert erc20["topics"] == [TRANSFER_TOPIC, topic_addr(A), topic_addr(B)]
    assert erc20["data"] == "0x" + word(2**70 + 5)  # lower-cased
    assert logs[1]["address"] == NFT
    for lg in logs:
        for t in lg["topics"]:
            assert t == t.lower()
        assert lg["address"] == lg["address"].lower()


def test_token_contracts_are_the_fungible_transfer_emitters() -> None:
    rec = norm(*fixture())
    # ERC20 and ERC721 share topic0; ERC1155 contracts are not asked for symbol/decimals.
    assert token_contracts(rec) == {TOKEN, NFT}


def test_token_metadata_is_carried() -> None:
    block, receipts = fixture()
    rec = norm(block, receipts, tokens={TOKEN: {"symbol": "USDC", "decimals": 6}})
    assert rec["tokens"] == {TOKEN: {"symbol": "USDC", "decimals": 6}}


def test_receipt_order_does_not_matter() -> None:
    block, receipts = fixture()
    assert norm(block, list(reversed(receipts))) == norm(block, receipts)


def test_missing_status_means_success() -> None:
    block, receipts = fixture()
    del receipts[0]["status"]
    rec = norm(block, receipts)
    assert next(t for t in rec["transactions"] if t["hash"] == txh(0))["status"] == 1


def test_missing_receipt_is_refused() -> None:
    block, receipts = fixture()
    del receipts[2]  # even a zero-value tx: a lying node must not make us skip logs
    with pytest.raises(DecodeError, match="no receipt"):
        norm(block, receipts)


def test_receipt_from_another_block_is_refused() -> None:
    block, receipts = fixture()
    receipts[3]["blockHash"] = OTHER_BLOCK
    with pytest.raises(DecodeError, match="another block"):
        norm(block, receipts)


def test_receipt_block_hash_compare_is_case_insensitive() -> None:
    block, receipts = fixture()
    receipts[0]["blockHash"] = BLOCK_HASH.upper().replace("0X", "0x")
    block["hash"] = BLOCK_HASH
    assert norm(block, receipts)["hash"] == BLOCK_HASH


def test_empty_block() -> None:
    block, _ = fixture()
    block["transactions"] = []
    rec = norm(block, [])
    assert rec["transactions"] == [] and rec["logs"] == []


def _mutations() -> list[tuple[str, Any]]:
    """(description, function block, receipts → (block, receipts)) of garbage inputs."""

    def m(fn: Any) -> Any:
        return fn

    return [
        ("block not a dict", m(lambda b, r: ([b], r))),
        ("block None", m(lambda b, r: (None, r))),
        ("receipts not a list", m(lambda b, r: (b, {"x": r}))),
        ("receipt not a dict", m(lambda b, r: (b, [*r, "0x"]))),
        ("number missing", m(lambda b, r: ({k: v for k, v in b.items() if k != "number"}, r))),
        ("number decimal", m(lambda b, r: ({**b, "number": 436}, r))),
        ("number bad hex", m(lambda b, r: ({**b, "number": "0xzz"}, r))),
        ("number bare 0x", m(lambda b, r: ({**b, "number": "0x"}, r))),
        ("hash short", m(lambda b, r: ({**b, "hash": "0x1234"}, r))),
        ("parent non-hex", m(lambda b, r: ({**b, "parentHash": "0x" + "zz" * 32}, r))),
        ("timestamp int", m(lambda b, r: ({**b, "timestamp": 5}, r))),
        ("transactions hashes only", m(lambda b, r: ({**b, "transactions": [txh(0)]}, r))),
        ("transactions not a list", m(lambda b, r: ({**b, "transactions": None}, r))),
        ("tx hash bad", m(lambda b, r: (_set_tx(b, 0, "hash", "0x12"), r))),
        ("tx value bad", m(lambda b, r: (_set_tx(b, 0, "value", "12"), r))),
        ("tx from bad", m(lambda b, r: (_set_tx(b, 0, "from", "0x1234"), r))),
        ("tx from bad checksum", m(lambda b, r: (_set_tx(b, 0, "from", _bad_checksum(A_CS)), r))),
        ("tx to not hex", m(lambda b, r: (_set_tx(b, 0, "to", "0x" + "g" * 40), r))),
        ("tx index missing", m(lambda b, r: (_set_tx(b, 0, "transactionIndex", None), r))),
        ("receipt hash bad", m(lambda b, r: (b, _set_rcpt(r, 0, "transactionHash", 7)))),
        ("status bad", m(lambda b, r: (b, _set_rcpt(r, 0, "status", "ok")))),
        ("logs not a list", m(lambda b, r: (b, _set_rcpt(r, 3, "logs", "abc")))),
    ]


def _set_tx(block: dict, i: int, key: str, value: Any) -> dict:
    b = copy.deepcopy(block)
    b["transactions"][i][key] = value
    return b


def _set_rcpt(receipts: list, i: int, key: str, value: Any) -> list:
    r = copy.deepcopy(receipts)
    r[i][key] = value
    return r


def _bad_checksum(addr: str) -> str:
    """Flip the case of one letter: still mixed case, checksum now wrong."""
    i = next(i for i, c in enumerate(addr) if i > 1 and c.isalpha())
    return addr[:i] + addr[i].swapcase() + addr[i + 1 :]


@pytest.mark.parametrize(("what", "mutate"), _mutations(), ids=[m[0] for m in _mutations()])
def test_garbage_raises_decode_error_only(what: str, mutate: Any) -> None:
    block, receipts = fixture()
    b, r = mutate(block, receipts)
    with pytest.raises(DecodeError):
        norm(b, r)


def test_malformed_logs_are_skipped_not_fatal() -> None:
    block, receipts = fixture()
    good = receipts[3]["logs"][0]
    receipts[3]["logs"] = [
        "not a log",
        {**good, "topics": "0xdd"},
        {**good, "topics": []},
        {**good, "data": 5},
        {**good, "data": "abc"},
        {**good, "address": "0x1234"},
        {**good, "logIndex": None},
        good,
    ]
    rec = norm(block, receipts)
    assert len(rec["logs"]) == 1
    assert rec["logs"][0]["log_index"] == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0x0", 0), ("0x1b4", 436), ("0xFF", 255), ("0x" + "f" * 64, 2**256 - 1)],
)
def test_hex_int(value: str, expected: int) -> None:
    assert hex_int(value, "x") == expected


@pytest.mark.parametrize("value", [None, 5, "12", "", "0x", "0xg", "1x10", b"0x1", ["0x1"]])
def test_hex_int_rejects(value: Any) -> None:
    with pytest.raises(DecodeError):
        hex_int(value, "x")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        [
            ("block", "number"),
            ("block", "hash"),
            ("block", "timestamp"),
            ("block", "transactions"),
            ("tx", "hash"),
            ("tx", "value"),
            ("tx", "from"),
            ("tx", "to"),
            ("tx", "transactionIndex"),
            ("rcpt", "transactionHash"),
            ("rcpt", "blockHash"),
            ("rcpt", "status"),
            ("rcpt", "logs"),
            ("log", "address"),
            ("log", "topics"),
            ("log", "data"),
            ("log", "logIndex"),
            ("log", "removed"),
        ]
    ),
    value=_json,
)
def test_arbitrary_field_values_raise_only_decode_error(path: tuple[str, str], value: Any) -> None:
    block, receipts = fixture()
    where, key = path
    target: dict[str, Any]
    if where == "block":
        target = block
    elif where == "tx":
        target = block["transactions"][0]
    elif where == "rcpt":
        target = receipts[3]
    else:
        target = receipts[3]["logs"][0]
    target[key] = value
    try:
        rec = norm(block, receipts)
    except DecodeError:
        return
    assert isinstance(rec["number"], int)


def test_hash_with_trailing_newline_is_refused() -> None:
    block, receipts = fixture()
    block["hash"] = BLOCK_HASH + "\n"
    for r in receipts:
        r["blockHash"] = None
    with pytest.raises(DecodeError):
        norm(block, receipts)
