"""`blockhook dev` prints its ready line, serves the API, and leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dev import procs
from transport.apiclient import ApiClient

pytestmark = pytest.mark.e2e


def descendants(pid: int) -> set[int]:
    """Every process below pid (from /proc/*/stat parent links)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - out
        out |= frontier
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_dev(root: Path, api_port: int, workers: int) -> subprocess.Popen[bytes]:
    """`blockhook dev` on free ports in its own session, output (both streams) piped."""
    args = ["--broker-port", str(procs.free_port()), "--anvil-port", str(procs.free_port())]
    args += ["--api-port", str(api_port), "--dir", str(root), "--workers", str(workers)]
    return subprocess.Popen(
        [sys.executable, "-m", "blockhook", "dev", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_dev_ready_then_stops_every_child(tmp_path: Path) -> None:
    """Two workers, stopped with SIGINT (Ctrl-C). SIGTERM goes to the same handler
    (blockhook/cli.py registers both), so one run covers the stop; the first worker is the
    whole of a one-worker run."""
    sig, workers = signal.SIGINT, 2
    api_port = procs.free_port(run=workers)  # worker n serves on api_port + n - 1
    proc = start_dev(tmp_path / "dev", api_port, workers)
    assert proc.stdout is not None
    lines: list[str] = []
    pending = b""
    deadline = time.monotonic() + 150
    ready_line = f"blockhook ready http://127.0.0.1:{api_port}"
    try:
        while ready_line not in lines:
            assert time.monotonic() < deadline, "no ready line: " + "\n".join(lines)
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:  # unbuffered: both lines may come in one read
                pending += os.read(proc.stdout.fileno(), 65536)
                *done, pending = pending.split(b"\n")
                lines += [x.decode().strip() for x in done]
            assert proc.poll() is None, "\n".join(lines)
        # The admin key line comes before the ready line, and the file holds the same key.
        admin = [x.split() for x in lines if x.startswith("blockhook admin key ")]
        assert len(admin) == 1 and lines.index(ready_line) > lines.index(" ".join(admin[0]))
        key_id, secret = admin[0][3], admin[0][4]
        key_file = tmp_path / "dev" / "admin-key.json"
        assert key_file.stat().st_mode & 0o777 == 0o600
        saved = json.loads(key_file.read_text())
        assert saved == {"key_id": key_id, "secret": secret, "url": f"http://127.0.0.1:{api_port}"}
        status, _ = ApiClient.from_file(key_file).call("GET", "/v1/monitors")
        assert status == 200
        # The console line too, before the ready line; its password signs in.
        console = [x.split() for x in lines if x.startswith("blockhook console ")]
        assert len(console) == 1 and lines.index(ready_line) > lines.index(" ".join(console[0]))
        _, _, url, _, name, _, password = console[0]
        assert url == f"http://127.0.0.1:{api_port}/admin" and name == "admin"
        assert "Dashboard" in console_sign_in(url, name, password)
        cli = [sys.executable, "-m", "blockhook", "call", "--key-file", str(key_file)]
        got = subprocess.run([*cli, "GET", "/v1/monitors"], capture_output=True, timeout=60)
        assert got.returncode == 0 and isinstance(json.loads(got.stdout)["items"], list), got
        got = subprocess.run(
            [*cli, "GET", "/v1/monitors/mon_none"], capture_output=True, timeout=60
        )
        assert got.returncode == 1 and json.loads(got.stdout)["error"]["code"] == "not_found"
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
        if workers == 2:  # the second worker of the group is ready on the next port
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port + 1}/readyz", timeout=5) as r:
                assert json.loads(r.read())["ready"] is True
        children = descendants(proc.pid)
        assert len(children) >= 2 + workers  # broker, anvil, the workers
        os.kill(proc.pid, sig)
        proc.wait(60)
        time.sleep(0.5)
        left = [p for p in children if alive(p)]
        assert left == [], f"orphans left: {left}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_dev_refuses_a_second_worker_port_in_use_and_leaves_nothing(tmp_path: Path) -> None:
    """The port of worker 2 (--api-port + 1) is taken: a clear error naming it, at once, and
    every process already started is stopped."""
    api_port = procs.free_port(run=2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", api_port + 1))
        taken.listen()
        started = time.monotonic()
        proc = start_dev(tmp_path / "dev", api_port, 2)
        try:
            out, _ = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 2, out
        assert f"port {api_port + 1} is in use" in out.decode(), out
        assert time.monotonic() - started < 60  # not the readiness wait of 120 s
    assert not procs.port_open("127.0.0.1", api_port)  # the first worker is gone too


def console_sign_in(url: str, name: str, password: str) -> str:
    """Sign in to the console as a browser would (its cookies, the form's CSRF token; the
    cookies are Secure, which browsers send to http://127.0.0.1 and urllib's jar does not,
    so they are carried by hand); the page it lands on."""

    def cookies(r: Any) -> str:
        return "; ".join(c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie") or [])

    with urllib.request.urlopen(f"{url}/signin", timeout=10) as r:
        form, jar = r.read().decode(), cookies(r)
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token and jar, form
    body = urllib.parse.urlencode(
        {"csrf": token.group(1), "name": name, "password": password, "next": "/admin/"}
    ).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(f"{url}/signin", body, headers={"Cookie": jar})
    try:
        opener.open(req, timeout=10)
        raise AssertionError("the sign-in did not redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc.read()[:500]
        session = cookies(exc)
    page = urllib.request.Request(f"{url}/", headers={"Cookie": session})
    with urllib.request.urlopen(page, timeout=10) as r:
        return str(r.read().decode())


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        ("enabled = false", "auth.enabled = false serves the API without keys; refused on"),
        ("enabled = true", "master key"),
    ],
)
def test_worker_refuses_an_api_without_keys_or_master_key(
    tmp_path: Path, auth: str, says: str
) -> None:
    """`blockhook worker` stops before anything starts: no keyless API off loopback, and no
    keys without a master key to open them."""
    port = procs.free_port()
    config = tmp_path / "worker.toml"
    config.write_text(f'api_bind = "0.0.0.0:{port}"\n\n[auth]\n{auth}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOCKHOOK_")}
    got = subprocess.run(
        [sys.executable, "-m", "blockhook", "worker", "--config", str(config)],
        capture_output=True,
        timeout=60,
        env=env,
    )
    assert got.returncode == 1, got
    assert says in got.stderr.decode(), got.stderr
    assert not procs.port_open("127.0.0.1", port)
