"""The decode stage's whole-block Bloom probe answers as the one-by-one checks do.

`tails` + `AddressBloom.maybe_tails` against `AddressBloom.__contains__`, and decode_block
with the Bloom filter (the whole-block path) against decode_block with a container that only
answers `in` (the one-by-one path), on blocks with odd addresses and topic words."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.addrbloom import AddressBloom, tails
from streams.addrmap import keys_of
from streams.decode import decode_block
from streams.normalize import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC
from streams.records import BlockRecord, LogRecord, TxRecord

POOL = ["0x" + f"{i:02x}" * 20 for i in range(1, 9)] + [
    "0x" + "ab" * 12 + f"{i:016x}" for i in (0, 1, 2**63, 2**64 - 1)
]
WATCHED = POOL[::2]
BLOOM = AddressBloom(keys_of(WATCHED))


class OneByOne:
    """A container that only answers `in`, as the Bloom filter does one address at a time."""

    def __init__(self, inner: AddressBloom) -> None:
        self.inner = inner

    def __contains__(self, value: object) -> bool:
        return value in self.inner


hexdigits = st.text("0123456789abcdefABCDEF", min_size=16, max_size=16)
odd = st.sampled_from(["", "0x", "0x12", "zz" * 21, "0x" + "é" * 40, " " * 42])
address = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL).map(str.upper).map(lambda a: "0x" + a[2:]),
    hexdigits.map(lambda h: "0x" + "0" * 24 + h),
    odd,
)


def word_of(a: str) -> str:
    return "0x" + "0" * 24 + a[2:]


word = st.one_of(address.map(word_of), odd, st.sampled_from(["0x" + "f" * 64]))


@st.composite
def blocks(draw: Any) -> BlockRecord:
    txs = [
        TxRecord(
            hash=f"0x{i:064x}",
            index=i,
            sender=draw(address),
            to=draw(st.one_of(st.none(), address)),
            value=str(draw(st.integers(0, 3))),
            status=draw(st.sampled_from([0, 1, 1])),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    logs = []
    for k in range(draw(st.integers(0, 6))):
        t0 = draw(st.sampled_from([TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC]))
        rest = draw(st.lists(word, min_size=0, max_size=3))
        data = draw(st.sampled_from(["0x", "0x" + "0" * 63 + "5", "0x" + "0" * 127 + "7"]))
        logs.append(
            LogRecord(
                tx_hash=f"0x{k:064x}", log_index=k, address=POOL[0], topics=[t0, *rest], data=data
            )
        )
    return BlockRecord(
        chain="c",
        chain_id=1,
        number=7,
        hash="0x" + "ab" * 32,
        parent_hash="0x" + "cd" * 32,
        timestamp=1,
        transactions=txs,
        logs=logs,
        tokens={},
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(address, word), max_size=8), st.sampled_from([42, 66]))
def test_tails_read_what_int_reads(values: list[str], width: int) -> None:
    got = tails(values, width)
    if got is not None:
        assert all(len(v) == width for v in values)
        assert got.tolist() == [int(v[-16:], 16) for v in values]
    well_formed = all(
        len(v) == width and v.isascii() and all(c in "0123456789abcdefABCDEF" for c in v[-16:])
        for v in values
    )
    assert (got is not None) == (well_formed and bool(values))


@settings(max_examples=300, deadline=None)
@given(st.lists(address, min_size=1, max_size=8))
def test_whole_list_probe_answers_as_contains(values: list[str]) -> None:
    got = tails(values, 42)
    if got is not None:
        assert BLOOM.maybe_tails(got).tolist() == [v in BLOOM for v in values]


def test_probe_answers_for_many_keys_and_strangers() -> None:
    import os

    keys = ["0x" + os.urandom(20).hex() for _ in range(50_000)]
    bloom = AddressBloom(keys_of(keys[:25_000]), expected=10)
    got = tails(keys, 42)
    assert got is not None
    assert bloom.maybe_tails(got).tolist() == [k in bloom for k in keys]


def outcome(b: BlockRecord, watched: Any) -> tuple[str, Any]:
    """The transfers decoded, or the kind of error decoding stopped at (a malformed word)."""
    try:
        return "ok", list(decode_block(b, "ETH", watched))
    except (ValueError, KeyError, TypeError) as exc:
        return "error", type(exc)


@settings(max_examples=500, deadline=None)
@given(blocks())
def test_whole_block_decode_equals_one_by_one(b: BlockRecord) -> None:
    assert outcome(b, BLOOM) == outcome(b, OneByOne(BLOOM))


def test_whole_block_decode_keeps_watched_transfers() -> None:
    a, stranger = WATCHED[1], "0x" + "ee" * 20
    b = BlockRecord(
        chain="c",
        chain_id=1,
        number=7,
        hash="0x" + "ab" * 32,
        parent_hash="0x" + "cd" * 32,
        timestamp=1,
        transactions=[
            TxRecord(hash="0x" + "01" * 32, index=0, sender=stranger, to=a, value="5", status=1),
            TxRecord(hash="0x" + "02" * 32, index=1, sender=stranger, to=None, value="5", status=1),
            TxRecord(hash="0x" + "03" * 32, index=2, sender=a, to=stranger, value="6", status=1),
        ],
        logs=[
            LogRecord(
                tx_hash="0x" + "04" * 32,
                log_index=0,
                address=POOL[0],
                topics=[TRANSFER_TOPIC, word_of(stranger), word_of(a)],
                data="0x" + "0" * 63 + "9",
            ),
            LogRecord(
                tx_hash="0x" + "05" * 32,
                log_index=1,
                address=POOL[0],
                topics=[TRANSFER_SINGLE_TOPIC, word_of(a), word_of(stranger), word_of(stranger)],
                data="0x" + "0" * 63 + "1" + "0" * 63 + "2",
            ),
        ],
        tokens={},
    )
    assert [t["amount"] for t in decode_block(b, "ETH", BLOOM)] == ["5", "6", "9", "2"]
