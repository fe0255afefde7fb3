"""Shared factories for the unit tests of the pure modules (no Kafka, no Faust, no network)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from streams.records import Asset, MonitorCfg, Transfer

ALICE = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
BOB = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
TOKEN = "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"


def block_hash(n: int, fork: str = "a") -> str:
    """A distinct 32-byte hash per (number, fork)."""
    return "0x" + hashlib.sha256(f"{fork}:{n}".encode()).hexdigest()


def _transfer(
    *,
    number: int = 10,
    bhash: str | None = None,
    tx: int = 1,
    log_index: int | None = None,
    sub: int = 0,
    sender: str = ALICE,
    to: str = BOB,
    kind: str = "native",
    contract: str | None = None,
    amount: int | str = 1000,
    token_id: str | None = None,
    timestamp: int = 1_700_000_000,
    chain_id: int = 31337,
) -> Transfer:
    tx_hash = "0x" + f"{tx:064x}"
    where = "tx" if log_index is None else str(log_index)
    if kind != "native" and contract is None:
        contract = TOKEN
    return Transfer(
        key=f"{chain_id}:{tx_hash}:{where}:{sub}",
        tx_hash=tx_hash,
        log_index=log_index,
        sub_index=sub,
        block_number=number,
        block_hash=bhash if bhash is not None else block_hash(number),
        timestamp=timestamp,
        sender=sender,
        to=to,
        asset=Asset(
            kind=kind,  # type: ignore[typeddict-item]
            contract=contract,
            symbol="ETH" if kind == "native" else None,
            decimals=18 if kind == "native" else None,
            token_id=token_id,
        ),
        amount=str(amount),
    )


def _cfg(**kw: Any) -> MonitorCfg:
    base: dict[str, Any] = {
        "id": "mon_a",
        "chain": "local",
        "assets": ["native", "erc20", "erc721", "erc1155"],
        "tokens": [],
        "direction": "both",
        "min_amount": "0",
        "confirmations": 3,
        "notify": "threshold",
        "active": True,
        "webhook": {"url": "https://example.com/hook", "secret": None},
        "retry": None,
    }
    base.update(kw)
    return MonitorCfg(**base)  # type: ignore[typeddict-item]


@pytest.fixture
def make_transfer() -> Callable[..., Transfer]:
    """Factory of Transfer records (keyword arguments override the defaults)."""
    return _transfer


@pytest.fixture
def make_cfg() -> Callable[..., MonitorCfg]:
    """Factory of MonitorCfg records (keyword arguments override the defaults)."""
    return _cfg


@pytest.fixture
def bhash() -> Callable[..., str]:
    """block_hash(number, fork="a"): a distinct 32-byte hash per block and fork."""
    return block_hash
