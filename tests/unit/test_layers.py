"""The packages form layers: each imports only the ones below it, and the pure ones no I/O.

Every module of every package is read (not a hand-kept list), with the imports inside
functions too, so a lazy import cannot hide a wrong direction or a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A package may import itself and the packages of a lower rank only.
RANK: dict[str, int] = {
    "core": 0,  # errors, settings, time, metrics: nothing of the project
    "schemas": 1,  # records and bodies (pydantic)
    "streams": 2,  # the pure logic
    "chain": 3,  # JSON-RPC and block sources
    "transport": 3,  # the HTTP client, webhooks, local handlers
    "views": 4,  # topics folded into memory for reads
    "faust_app": 4,  # the Faust app, its topics and tables, the publisher
    "api": 5,  # HTTP routes
    "console": 6,  # the admin console's pages (over the API's services)
    "agents": 7,  # Faust agents, timers, the API's start
    "dev": 8,  # embedded stack, demo, chain tools
    "blockhook": 9,  # the command line
}
# No I/O library in the pure packages: what they decide is testable without a broker.
IO_LIBS = {"faust", "mode", "aiokafka", "aiohttp", "rocksdict"}
PURE = {"core", "schemas", "streams"}
# Faust itself only in the app, the agents and the command line that starts them.
FAUST_ALLOWED = {"faust_app", "agents", "blockhook"}


def modules() -> list[Path]:
    """Every module of every package in RANK."""
    found = [p for pkg in RANK for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(found) > 60, "the walk found too few modules"
    return found


def imported(path: Path) -> set[str]:
    """The top-level names of everything the module imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def package_of(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_only_downward(path: Path) -> None:
    pkg = package_of(path)
    names = imported(path)
    upward = sorted(n for n in names if n in RANK and n != pkg and RANK[n] >= RANK[pkg])
    assert not upward, f"{pkg} (rank {RANK[pkg]}) imports {upward}"
    if pkg in PURE:
        io = sorted(names & IO_LIBS)
        assert not io, f"pure package {pkg} imports {io}"
    if pkg not in FAUST_ALLOWED:
        assert "faust" not in names and "mode" not in names, f"{pkg} imports Faust"


def test_no_import_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {pkg: set() for pkg in RANK}
    for path in modules():
        pkg = package_of(path)
        edges[pkg] |= {n for n in imported(path) if n in RANK and n != pkg}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cyclic = sorted(pkg for pkg in RANK if reaches(pkg, pkg, {pkg}))
    assert not cyclic, f"packages in an import cycle: {cyclic}"


def test_the_walk_sees_a_wrong_import(tmp_path: Path) -> None:
    """The checker itself: a lazy upward import inside a function is found."""
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from agents import delivery\n    import faust.types\n")
    assert imported(bad) == {"agents", "faust"}
