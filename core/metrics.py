"""A tiny in-process metrics registry rendered in the Prometheus text format."""

from __future__ import annotations

import threading
from collections import defaultdict

_lock = threading.Lock()
_counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
_gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
_help: dict[str, tuple[str, str]] = {}


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def inc(name: str, value: float = 1.0, help: str = "", **labels: str) -> None:
    """Add to a counter."""
    with _lock:
        _help.setdefault(name, ("counter", help))
        _counters[_key(name, labels)] += value


def set_gauge(name: str, value: float, help: str = "", **labels: str) -> None:
    """Set a gauge."""
    with _lock:
        _help.setdefault(name, ("gauge", help))
        _gauges[_key(name, labels)] = value


def render() -> str:
    """Every metric in the Prometheus exposition format."""
    lines: list[str] = []
    with _lock:
        series = [*_counters.items(), *_gauges.items()]
        names = sorted({k[0] for k, _ in series})
        for name in names:
            kind, text = _help.get(name, ("untyped", ""))
            if text:
                lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for (n, labels), v in series:
                if n != name:
                    continue
                lab = ",".join(f'{k}="{val}"' for k, val in labels)
                lines.append(f"{name}{{{lab}}} {v:g}" if lab else f"{name} {v:g}")
    return "\n".join(lines) + "\n"
