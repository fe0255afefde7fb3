"""Access control at start-up: `blockhook worker` refuses to serve without keys off loopback,
or with keys but no master key (blockhook/worker.py check_access); the API fails closed
without its keys; and `blockhook keys` (create, master-key, reseal after a master key
rotation) run in process, with the broker's two entry points replaced by recorders."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from pydantic import SecretStr

import blockhook.keys_cmd as keys_cmd
import transport.kafkawrite as kafkawrite
from api.routes import ROUTES
from api.server import AlwaysReady, Api
from blockhook.worker import check_access, is_loopback
from core.publish import ListPublisher
from core.settings import CONFIG_ENV, AuthSettings, Settings
from streams.apikeys import SECRET_PREFIX, key_info, make_key, resealed
from streams.reqsign import sign_headers
from streams.secretbox import SecretBox, SecretBoxError, box_from_settings, parse_master_key
from views.keys import KeysView
from views.monitors import MonitorsView

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
GONE = bytes(range(200, 232))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no BLOCKHOOK_* variable of the machine's (CONFIG_ENV is
    recorded so that a command writing it is undone)."""
    for name in [n for n in os.environ if n.startswith("BLOCKHOOK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(CONFIG_ENV, "")


def settings(api_bind: str, **auth: Any) -> Settings:
    return Settings(broker="kafka://127.0.0.1:1", api_bind=api_bind, auth=auth)


# --- check_access -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bind",
    [
        "0.0.0.0:8000",
        "10.1.2.3:8000",
        "203.0.113.5:80",
        "[::]:8000",
        "[2001:db8::1]:8000",
        "example.com:8000",
        "localhost.example.com:8000",
    ],
)
def test_no_keys_off_loopback_is_refused(bind: str) -> None:
    with pytest.raises(SystemExit) as exc:
        check_access(settings(bind, enabled=False))
    message = str(exc.value.code)
    assert message.startswith("error: auth.enabled = false")
    assert "loopback" in message and bind.rpartition(":")[0] in message


@pytest.mark.parametrize(
    "bind", ["127.0.0.1:8000", "127.0.0.2:9000", "[::1]:8000", "::1:8000", "localhost:8000"]
)
def test_no_keys_on_loopback_is_allowed(bind: str) -> None:
    check_access(settings(bind, enabled=False))  # no master key needed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "0.0.0.0:8000"])
def test_keys_without_a_master_key_are_refused(bind: str) -> None:
    with pytest.raises(SystemExit) as exc:
        check_access(settings(bind, enabled=True))
    message = str(exc.value.code)
    assert message.startswith("error: no master key")
    assert "auth.master_key_file" in message and "BLOCKHOOK_AUTH__MASTER_KEY" in message


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        ({"master_key": "not base64!"}, "not base64"),
        ({"master_key": b64(b"short")}, "32 bytes"),
        ({"master_key": b64(NEW), "previous_master_keys": ["not base64!"]}, "not base64"),
        ({"master_key_file": "/nonexistent/blockhook/master.key"}, "master_key_file"),
    ],
)
def test_a_master_key_that_is_not_one_is_refused(auth: dict[str, Any], says: str) -> None:
    with pytest.raises(SystemExit) as exc:
        check_access(settings("0.0.0.0:8000", enabled=True, **auth))
    assert str(exc.value.code).startswith("error: ") and says in str(exc.value.code)


def test_keys_with_a_master_key_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_access(settings("0.0.0.0:8000", master_key=b64(NEW)))
    key_file = tmp_path / "master.key"
    key_file.write_text(b64(NEW) + "\n")
    check_access(settings("0.0.0.0:8000", master_key_file=str(key_file)))
    both = settings("0.0.0.0:8000", master_key=b64(NEW), previous_master_keys=[b64(OLD)])
    check_access(both)
    monkeypatch.setenv("BLOCKHOOK_AUTH__MASTER_KEY", b64(NEW))
    from_env = Settings(broker="kafka://127.0.0.1:1", api_bind="0.0.0.0:8000")
    assert from_env.auth.master_key is not None and from_env.auth.enabled
    check_access(from_env)


def test_the_loopback_host_check_access_allows_is_the_one_bound() -> None:
    s = settings("[::1]:8000", enabled=False)
    check_access(s)
    host, port = s.api_host_port
    socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)


async def test_the_api_without_its_keys_refuses_every_signed_request() -> None:
    s = settings("127.0.0.1:8000", enabled=True, master_key=b64(NEW))
    api_ = Api(s, MonitorsView(s), ListPublisher(), AlwaysReady())  # no keys view, no box
    app = api_.app()
    assert ("POST", "/v1/keys") not in app[ROUTES]
    record, secret = make_key(SecretBox(NEW), "root", ["admin"], [], None, 0.0)
    async with TestClient(TestServer(app)) as client:
        for path in ("/v1/monitors", "/v1/keys", "/v1/audit"):
            headers = sign_headers(str(record["id"]), secret, "GET", path, b"", time.time())
            resp = await client.get(path, headers=headers)
            assert resp.status == 401, path
            assert (await resp.json())["error"]["code"] == "unauthenticated"
        assert (await client.get("/healthz")).status == 200


# --- master key rotation ----------------------------------------------------------------


def test_a_key_sealed_under_the_old_master_key_opens_after_reseal() -> None:
    record, secret = make_key(SecretBox(OLD), "alice", ["operator"], [], None, 0.0)
    rotating = SecretBox(NEW, [OLD])
    assert key_info(record, rotating).secret == secret  # still works during the rotation
    new = resealed(record, rotating)
    assert new is not None
    assert new["secret_sealed"]["kid"] == rotating.kid != record["secret_sealed"]["kid"]
    assert {k: v for k, v in new.items() if k != "secret_sealed"} == {
        k: v for k, v in record.items() if k != "secret_sealed"
    }
    done = SecretBox(NEW)  # the old master key removed
    assert key_info(new, done).secret == secret
    with pytest.raises(SecretBoxError):
        key_info(record, done)
    with pytest.raises(SecretBoxError):  # bound to its key's id
        done.open(new["secret_sealed"], "key_other")
    assert resealed(new, rotating) is None  # already under the current key
    assert SECRET_PREFIX not in orjson.dumps(new).decode()


def test_the_keys_view_opens_old_boxes_only_with_the_previous_master_key() -> None:
    auth = AuthSettings(master_key=SecretStr(b64(NEW)), previous_master_keys=[SecretStr(b64(OLD))])
    s = Settings(broker="kafka://127.0.0.1:1")
    record, secret = make_key(SecretBox(OLD), "alice", ["operator"], [], None, 0.0)
    value = orjson.dumps(record)
    for box, opens in ((box_from_settings(auth), True), (SecretBox(NEW), False)):
        view = KeysView(s, box)
        view.apply(s.topic("keys"), str(record["id"]).encode(), value, 0)
        assert str(record["id"]) in view.records  # listed either way
        got = view.get(str(record["id"]))
        assert (got.secret if got else None) == (secret if opens else None)


# --- blockhook keys ---------------------------------------------------------------------


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes, bytes]]]:
    """What the commands would write to the broker (topics are not created)."""
    out: list[tuple[str, bytes, bytes]] = []

    async def no_topics(s: Settings, timeout_s: float = 30.0) -> list[str]:
        return []

    async def record(s: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        out.extend((topic, k, v) for k, v in records)

    monkeypatch.setattr(keys_cmd, "ensure_topics", no_topics)
    monkeypatch.setattr(keys_cmd, "write_records", record)
    monkeypatch.setattr(kafkawrite, "write_records", record)
    yield out


def config(tmp_path: Path, master: bytes | None, previous: Sequence[bytes] = ()) -> str:
    lines = ['broker = "kafka://127.0.0.1:1"', "[auth]"]
    if master is not None:
        lines.append(f'master_key = "{b64(master)}"')
    lines.append("previous_master_keys = [" + ", ".join(f'"{b64(k)}"' for k in previous) + "]")
    path = tmp_path / "blockhook.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_master_key_prints_a_new_usable_key() -> None:
    runner = CliRunner()
    first = runner.invoke(keys_cmd.keys, ["master-key"])
    second = runner.invoke(keys_cmd.keys, ["master-key"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert len(parse_master_key(first.output)) == 32
    assert first.output != second.output


def test_keys_create_writes_a_sealed_key(
    tmp_path: Path, written: list[tuple[str, bytes, bytes]]
) -> None:
    cfg = config(tmp_path, NEW)
    args = ["create", "--config", cfg, "--principal", "root", "--role", "admin"]
    result = CliRunner().invoke(keys_cmd.keys, [*args, "--allow-ip", "10.0.0.0/8"])
    assert result.exit_code == 0, result.output
    key_id, secret = result.stdout.split()
    assert secret.startswith(SECRET_PREFIX)
    ((topic, k, v),) = written
    assert (topic, k) == ("keys", key_id.encode())
    assert secret.encode() not in v and SECRET_PREFIX.encode() not in v
    info = key_info(orjson.loads(v), SecretBox(NEW))
    assert (info.principal, info.roles, info.secret) == ("root", ("admin",), secret)
    assert [str(n) for n in info.allowed_ips] == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--principal", "not a principal"], "principal"),
        (["--principal", "root", "--expires-at", "tomorrow"], "expires_at"),
        (["--principal", "root", "--allow-ip", "10.0.0.1/8"], "10.0.0.1/8"),
    ],
)
def test_keys_create_refuses_bad_input_and_writes_nothing(
    tmp_path: Path, written: list[tuple[str, bytes, bytes]], extra: list[str], says: str
) -> None:
    cfg = config(tmp_path, NEW)
    result = CliRunner().invoke(
        keys_cmd.keys, ["create", "--config", cfg, "--role", "admin", *extra]
    )
    assert result.exit_code == 1, result.output
    assert says in result.output and written == []


def test_keys_create_without_a_master_key_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: list[tuple[str, bytes, bytes]]
) -> None:
    async def broker(s: Settings, timeout_s: float = 30.0) -> list[str]:
        raise AssertionError("the broker was reached before the master key was checked")

    monkeypatch.setattr(keys_cmd, "ensure_topics", broker)
    cfg = config(tmp_path, None)
    args = ["create", "--config", cfg, "--principal", "root", "--role", "admin"]
    result = CliRunner().invoke(keys_cmd.keys, args)
    assert result.exit_code == 1 and "no master key" in result.output
    assert written == []


def test_keys_create_refuses_a_bad_role_as_a_usage_error(
    tmp_path: Path, written: list[tuple[str, bytes, bytes]]
) -> None:
    cfg = config(tmp_path, NEW)
    args = ["create", "--config", cfg, "--principal", "root", "--role", "root"]
    result = CliRunner().invoke(keys_cmd.keys, args)
    assert written == []
    assert result.exit_code == 2 and "'root' is not one of" in result.output, result.output


def staged_view(monkeypatch: pytest.MonkeyPatch, records: list[dict[str, Any]]) -> None:
    """The keys view of `keys reseal` folds these records, as if read from the topic."""

    class Staged(KeysView):
        async def start(self) -> None:
            for r in records:
                self.apply(self.settings.topic("keys"), str(r["id"]).encode(), orjson.dumps(r), 0)
            self.caught_up.set()

        async def stop(self) -> None:
            return None

    monkeypatch.setattr(keys_cmd, "KeysView", Staged)


def test_keys_reseal_seals_every_old_key_under_the_new_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: list[tuple[str, bytes, bytes]]
) -> None:
    old, new = SecretBox(OLD), SecretBox(NEW)
    made = [make_key(old, p, ["viewer"], [], None, 0.0) for p in ("alice", "bob")]
    current = make_key(new, "carol", ["viewer"], [], None, 0.0)
    staged_view(monkeypatch, [r for r, _ in made] + [current[0]])
    cfg = config(tmp_path, NEW, [OLD])
    result = CliRunner().invoke(keys_cmd.keys, ["reseal", "--config", cfg])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 keys resealed"
    assert sorted(k for _, k, _ in written) == sorted(str(r["id"]).encode() for r, _ in made)
    secrets = {str(r["id"]): s for r, s in made}
    for topic, k, v in written:
        rec = orjson.loads(v)
        assert topic == "keys" and rec["secret_sealed"]["kid"] == new.kid
        assert key_info(rec, new).secret == secrets[k.decode()]  # opens without OLD
        assert SECRET_PREFIX.encode() not in v


def test_keys_reseal_skips_a_key_no_master_key_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: list[tuple[str, bytes, bytes]]
) -> None:
    lost, _ = make_key(SecretBox(GONE), "mallory", ["viewer"], [], None, 0.0)
    old, secret = make_key(SecretBox(OLD), "alice", ["viewer"], [], None, 0.0)
    staged_view(monkeypatch, [lost, old])
    cfg = config(tmp_path, NEW, [OLD])
    result = CliRunner().invoke(keys_cmd.keys, ["reseal", "--config", cfg])
    assert result.exit_code == 1, result.output
    assert "1 keys resealed" in result.output and str(lost["id"]) in result.output
    assert [k for _, k, _ in written] == [str(old["id"]).encode()]
    assert key_info(orjson.loads(written[0][2]), SecretBox(NEW)).secret == secret
