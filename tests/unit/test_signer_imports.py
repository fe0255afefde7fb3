"""The signer stands alone: it imports nothing of the platform's packages and no broker or
server library, only the standard library and a few crypto packages (read with ast, so a
lazy import inside a function counts too)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_THIRD_PARTY = {"cryptography", "bip_utils", "eth_account", "eth_utils"}
PROJECT = {
    "core",
    "schemas",
    "streams",
    "chain",
    "transport",
    "views",
    "faust_app",
    "api",
    "agents",
    "blockhook",
    "dev",
    "tests",
    "bench",
}
FORBIDDEN = PROJECT | {"faust", "mode", "aiokafka", "aiohttp", "pydantic", "orjson"}
MODULES = sorted((ROOT / "signer").rglob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module
            names.add(node.module.split(".")[0])
    return names


def test_the_walk_finds_the_modules() -> None:
    names = {p.stem for p in MODULES}
    assert {"keystore", "policy", "journal", "reqsign", "client", "signing", "runner"} <= names
    assert {"cli", "__init__", "__main__"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_module_imports_only_what_the_signer_may(path: Path) -> None:
    names = imported(path)
    assert not names & FORBIDDEN, f"{path.name} imports {sorted(names & FORBIDDEN)}"
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"signer"}
    assert names <= allowed, f"{path.name} imports {sorted(names - allowed)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) < 320


def test_loading_the_program_loads_no_project_package() -> None:
    """Transitively too (eth_account itself brings pydantic along: not the signer's doing)."""
    code = (
        "import sys, signer.cli, signer.runner; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    assert "signer" in loaded
    assert not loaded & (PROJECT | {"faust", "mode", "aiokafka", "aiohttp", "orjson"})
