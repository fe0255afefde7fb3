"""signer.cli: init, xpub and run as a custodian types them; where secrets come from and
where they never go."""

from __future__ import annotations

import io
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from signer import cli, keystore
from tests.unit.signer_platform import KEY_ID, SECRET, FakePlatform, Running
from tests.unit.signer_testkit import ACCOUNT, SECRETS, TREASURY, WORDS, make_request

PASS = "a long passphrase"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.PASSPHRASE_ENV, PASS)
    monkeypatch.delenv(cli.SECRET_ENV, raising=False)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "signer.keystore"
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS + "\n"))
    assert cli.run_cli(["init", "--keystore", str(path), "--import"]) == 0
    return path


def test_init_makes_24_new_words_shown_once_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "signer.keystore"
    assert cli.run_cli(["init", "--keystore", str(path)]) == 0
    out, err = capsys.readouterr()
    words = re.findall(r"\d+\. ([a-z]+)", err)
    assert len(words) == 24
    account = keystore.unlock(path, PASS)
    assert keystore.from_words(" ".join(words)).xpub() == account.xpub()
    assert f"xpub {account.xpub()}" in out and f"treasury {account.treasury_address()}" in out
    assert not any(w in out.split() for w in words)
    assert " ".join(words) not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_import_reads_the_words_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS + "\n"))
    assert cli.run_cli(["init", "--keystore", str(tmp_path / "k"), "--import"]) == 0
    out, err = capsys.readouterr()
    assert f"xpub {ACCOUNT.xpub()}" in out and f"treasury {TREASURY}" in out
    for secret in SECRETS:
        assert secret not in out + err
    assert "test" not in err


def test_init_refuses_an_existing_keystore_without_force(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    before = store.read_bytes()
    assert cli.run_cli(["init", "--keystore", str(store)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert store.read_bytes() == before
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS))
    assert cli.run_cli(["init", "--keystore", str(store), "--import", "--force"]) == 0


def test_bad_imported_words_are_refused_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("zebra " * 11 + "wrongword"))
    assert cli.run_cli(["init", "--keystore", str(tmp_path / "k"), "--import"]) == 2
    err = capsys.readouterr().err
    assert "not a valid BIP-39 mnemonic" in err
    assert "zebra" not in err and "wrongword" not in err and "Traceback" not in err


def test_the_passphrase_is_asked_twice_and_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(cli.PASSPHRASE_ENV)
    monkeypatch.setattr(cli, "_has_terminal", lambda: True)
    answers = iter(["one passphrase", "another one"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS))
    assert cli.run_cli(["init", "--keystore", str(tmp_path / "k"), "--import"]) == 2
    err = capsys.readouterr().err
    assert "the two passphrases differ" in err and "one passphrase" not in err
    assert not (tmp_path / "k").exists()
    answers = iter(["same one", "same one"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS))
    assert cli.run_cli(["init", "--keystore", str(tmp_path / "k"), "--import"]) == 0
    assert keystore.unlock(tmp_path / "k", "same one").xpub() == ACCOUNT.xpub()


def test_without_a_terminal_or_env_the_passphrase_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(cli.PASSPHRASE_ENV)
    monkeypatch.setattr(cli, "_has_terminal", lambda: False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS))
    assert cli.run_cli(["init", "--keystore", str(tmp_path / "k"), "--import"]) == 2
    assert "no passphrase" in capsys.readouterr().err


def test_a_passphrase_file_loses_its_line_ending_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(cli.PASSPHRASE_ENV)
    f = tmp_path / "pass"
    f.write_text(" spaced pass \n")
    f.chmod(0o600)
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORDS))
    argv = ["--keystore", str(tmp_path / "k"), "--passphrase-file", str(f)]
    assert cli.run_cli(["init", *argv, "--import"]) == 0
    assert keystore.unlock(tmp_path / "k", " spaced pass ").xpub() == ACCOUNT.xpub()
    assert cli.run_cli(["xpub", *argv]) == 0
    assert "readable by others" not in capsys.readouterr().err


def test_xpub_prints_the_account_xpub_and_treasury(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.run_cli(["xpub", "--keystore", str(store)]) == 0
    assert capsys.readouterr().out == f"xpub {ACCOUNT.xpub()}\ntreasury {TREASURY}\n"
    monkeypatch.setenv(cli.PASSPHRASE_ENV, "wrong")
    assert cli.run_cli(["xpub", "--keystore", str(store)]) == 2
    assert "wrong passphrase or damaged keystore" in capsys.readouterr().err
    assert cli.run_cli(["xpub", "--keystore", str(store) + ".missing"]) == 2
    assert "no keystore at" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ([], "no secret"),
        (["--secret", "x", "--secret-file", "/nonexistent"], "not both"),
        (["--secret-file", "/nonexistent/secret"], "cannot read it"),
        (["--secret", "x", "--wait", "31"], "--wait must be between 0 and 30"),
        (["--secret", "x", "--policy", "/nonexistent/policy.toml"], "policy"),
    ],
)
def test_run_refuses_bad_input_with_exit_code_2(
    store: Path, capsys: pytest.CaptureFixture[str], extra: list[str], match: str
) -> None:
    capsys.readouterr()
    argv = ["run", "--keystore", str(store), "--platform", "http://127.0.0.1:9"]
    assert cli.run_cli([*argv, "--key-id", KEY_ID, *extra]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_run_refuses_a_bad_platform_url(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--keystore", str(store), "--platform", "ftp://x", "--key-id", KEY_ID]
    assert cli.run_cli([*argv, "--secret", "x"]) == 2
    assert "--platform must be" in capsys.readouterr().err


def test_run_signs_until_sigterm(
    store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_file = tmp_path / "signer.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o644)
    policy = tmp_path / "policy.toml"
    policy.write_text('[assets.native]\nmax_per_tx = "1000000"\n')
    fake = FakePlatform()
    fake.add(make_request())
    fake.after_answer = lambda a: os.kill(os.getpid(), signal.SIGTERM)
    with Running(fake) as running:
        argv = ["run", "--keystore", str(store), "--platform", running.url, "--key-id", KEY_ID]
        argv += ["--secret-file", str(secret_file), "--policy", str(policy), "--wait", "0"]
        assert cli.run_cli(argv) == 0
    [answer] = fake.answers
    assert answer.status == 202 and answer.check is None and "signed_tx" in answer.body
    assert Path(str(store) + ".journal").read_text().count("\n") == 1
    out, err = capsys.readouterr()
    assert "readable by others" in err
    for secret in [*SECRETS, SECRET, PASS]:
        assert secret not in out + err + caplog.text
        assert all(secret.encode() not in b for b in fake.bodies)
    assert "request sig_1 withdrawal wdr_1 chain local nonce 7: signed" in caplog.text


def test_run_takes_the_secret_from_the_environment(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, "bhsk_wrong")
    with Running(FakePlatform()) as running:
        argv = ["run", "--keystore", str(store), "--platform", running.url, "--key-id", KEY_ID]
        assert cli.run_cli(argv) == 2  # the platform says 401: a wrong secret


def test_python_dash_m_signer_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "signer", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "init" in done.stdout and "run" in done.stdout
