"""The dev tooling's port picker: ports a server can bind, outside the kernel's range for
outgoing connections (a client's connection can take a port from it before a slow-starting
server binds it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.errors import ConfigError
from dev import procs


def test_the_range_is_read_from_the_kernel_or_defaults(tmp_path: Path) -> None:
    path = tmp_path / "range"
    path.write_text("40000\t50000\n")
    assert procs.ephemeral_range(path) == (40000, 50000)
    path.write_text("nonsense")
    assert procs.ephemeral_range(path) == procs.EPHEMERAL_DEFAULT
    assert procs.ephemeral_range(tmp_path / "missing") == procs.EPHEMERAL_DEFAULT


def test_ports_are_below_the_range_and_bindable() -> None:
    low, _ = procs.ephemeral_range()
    for _ in range(20):
        port = procs.free_port()
        assert low - procs.PICK_SPAN <= port < low
        assert procs.bindable(port)


def test_a_run_of_ports_is_free_together() -> None:
    low, _ = procs.ephemeral_range()
    for _ in range(10):
        first = procs.free_port(run=3)
        assert first + 2 < low
        assert all(procs.bindable(first + i) for i in range(3))


def test_a_taken_port_is_not_bindable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", procs.free_port()))
        assert not procs.bindable(s.getsockname()[1])


def test_a_range_that_starts_low_is_avoided_from_above(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "ephemeral_range", lambda: (1500, 40000))
    assert 40000 < procs.free_port() < 65536


def test_no_room_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "ephemeral_range", lambda: (1500, 65535))
    monkeypatch.setattr(procs, "bindable", lambda port: False)
    with pytest.raises(ConfigError, match="no 2 free consecutive ports"):
        procs.free_port(run=2)
