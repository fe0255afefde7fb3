"""partition: the same partitions as Kafka's default partitioner (aiokafka's murmur2)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from streams.partition import key_partition, murmur2, partitioner


@given(st.binary(max_size=200))
def test_murmur2_matches_aiokafkas_for_any_key(key: bytes) -> None:
    assert murmur2(key) == reference(key) & 0xFFFFFFFF


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=500))
def test_keyed_partitions_match_the_default_partitioner(key: bytes, n: int) -> None:
    parts = list(range(n))
    expected = DefaultPartitioner()(key, parts, parts)
    assert key_partition(key, n) == expected == partitioner(key, parts, parts)


def test_known_values_and_unkeyed_messages() -> None:
    # The values Kafka's own tests expect of the Java client's Utils.murmur2 (signed ints).
    java = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, value in java.items():
        assert murmur2(key) == value & 0xFFFFFFFF, key
    for _ in range(50):
        assert partitioner(None, [0, 1, 2, 3], [2]) == 2  # only what is available
        assert partitioner(None, [0, 1, 2, 3], []) in (0, 1, 2, 3)
