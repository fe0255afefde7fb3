"""signer.client and signer.runner against a real local HTTP platform (signer_platform),
which checks every signature with streams.reqsign and every signed answer with txcheck."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signer import keystore
from signer import policy as pol
from signer.client import Client, Fatal, PlatformDown, Rejected
from signer.errors import SignerError
from signer.journal import Journal
from signer.runner import Runner, install_signals
from tests.unit.signer_platform import KEY_ID, SECRET, Answer, FakePlatform, Running
from tests.unit.signer_testkit import ACCOUNT, SECRETS, TREASURY, make_request

TLS = Path(__file__).parent / "tls"


@pytest.fixture
def platform() -> Iterator[Running]:
    with Running(FakePlatform()) as running:
        yield running


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "signer.keystore.journal")
    yield j
    j.close()


def runner(
    running: Running,
    journal: Journal,
    policy: pol.Policy | None = None,
    secret: str = SECRET,
    pauses: list[float] | None = None,
) -> Runner:
    r = Runner(
        ACCOUNT,
        journal,
        Client(running.url, KEY_ID, secret),
        policy,
        wait=0,
        jitter=lambda: 1.0,
        pause=(pauses.append if pauses is not None else lambda s: None),
    )
    return r


def stop_after(r: Runner, count: int, platform: FakePlatform) -> None:
    """Stop the runner once `count` answers reached the platform."""

    def hook(_: Answer) -> None:
        if len(platform.answers) >= count:
            r.stop()

    platform.after_answer = hook


def no_secret_in(text: str) -> None:
    for secret in [*SECRETS, SECRET]:
        assert secret not in text


def test_reports_the_wallet_signs_and_answers(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    fake = platform.platform
    fake.add(make_request())
    r = runner(platform, journal)
    stop_after(r, 1, fake)
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert r.run() == 0
    assert set(fake.wallets) == {"local", "sepolia"}
    assert all(w["treasury"] == TREASURY for w in fake.wallets.values())
    [answer] = fake.answers
    assert answer.status == 202 and answer.check is None and set(answer.body) == {"signed_tx"}
    assert "request sig_1 withdrawal wdr_1 chain local nonce 7: signed" in caplog.text
    assert journal.decide(journal_entry(r, make_request())).outcome == "same"
    no_secret_in(caplog.text)
    no_secret_in(b"".join(fake.bodies).decode())


def journal_entry(r: Runner, item: dict[str, Any]) -> Any:
    from signer.request import parse

    req = parse(item)
    return r._entry(req, ACCOUNT.address(req.path))


def test_an_already_registered_wallet_is_fine(platform: Running, journal: Journal) -> None:
    fake = platform.platform
    for _ in range(2):
        r = runner(platform, journal)
        r.start()
    assert fake.calls.count("POST /v1/signer/wallets") == 4


def test_refuses_by_policy_and_journals_the_refusal(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    fake = platform.platform
    fake.add(make_request(amount=10**19))
    limits = pol.Policy(assets={"native": pol.AssetLimits(max_per_tx=10**18)})
    r = runner(platform, journal, limits)
    stop_after(r, 1, fake)
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert r.run() == 0
    [answer] = fake.answers
    assert answer.body == {
        "refused": f"amount {10**19} is above max_per_tx {10**18} of native",
    }
    assert "nonce 7: refused: amount" in caplog.text
    line = journal.path.read_text()
    assert '"kind":"refused"' in line and '"nonce":7' in line
    no_secret_in(caplog.text)


def test_a_refusal_holds_the_nonces_above_it(platform: Running, journal: Journal) -> None:
    fake = platform.platform
    fake.add(make_request(sid="sig_a", status="approved"))
    r = runner(platform, journal)
    stop_after(r, 1, fake)
    assert r.run() == 0
    fake.add(make_request(sid="sig_b", wid="wdr_2", nonce=8))
    r = runner(platform, journal)
    stop_after(r, 2, fake)
    assert r.run() == 0
    assert fake.answers[0].body["refused"] == "the withdrawal is approved, not signing"
    assert "nonce 7 of " + TREASURY + " was refused" in fake.answers[1].body["refused"]


def test_retries_after_503_then_succeeds(platform: Running, journal: Journal) -> None:
    fake = platform.platform
    fake.failures = [
        ("GET /v1/signer/chains", 500, "internal"),
        ("POST /v1/signer/wallets", 503, "not_ready"),
        ("GET /v1/signer/requests", 503, "not_ready"),
        ("GET /v1/signer/requests", 503, "not_ready"),
    ]
    fake.add(make_request())
    pauses: list[float] = []
    r = runner(platform, journal, pauses=pauses)
    stop_after(r, 1, fake)
    assert r.run() == 0
    assert pauses == [1.0, 1.0, 1.0, 2.0]  # reset after each success
    assert fake.answers[0].status == 202 and "signed_tx" in fake.answers[0].body


def test_a_lost_answer_gets_the_same_bytes_again(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    fake = platform.platform
    fake.failures = [("POST /v1/signer/requests/", 502, "bad_gateway")]
    fake.add(make_request())
    pauses: list[float] = []
    r = runner(platform, journal, pauses=pauses)
    stop_after(r, 1, fake)
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert r.run() == 0
    assert "nonce 7: signed again (the same bytes as before)" in caplog.text
    assert pauses == [1.0]
    posts = [
        b
        for c, b in zip(fake.calls, fake.bodies, strict=True)
        if c.startswith("POST /v1/signer/req")
    ]
    assert len(posts) == 2 and posts[0] == posts[1]
    assert json.loads(posts[0]) == fake.answers[0].body
    assert len(journal.path.read_text().splitlines()) == 1  # one signature, answered twice


def test_not_pending_is_logged_and_the_loop_goes_on(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    fake = platform.platform
    fake.add(make_request(sid="sig_gone"))
    fake.gone.add("sig_gone")
    r = runner(platform, journal)
    stop_after(r, 2, fake)
    threading.Timer(0.3, lambda: fake.add(make_request(sid="sig_2", wid="wdr_2", nonce=8))).start()
    fake.idle_poll_s = 1.0
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        r.wait = 1
        assert r.run() == 0
    assert [a.status for a in fake.answers] == [409, 202]
    assert "did not take the answer: 409 not_pending" in caplog.text


@pytest.mark.parametrize("status", [401, 403])
def test_stops_on_401_or_403_with_exit_code_2(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    fake = platform.platform
    fake.failures = [("POST /v1/signer/wallets", status, "forbidden")]
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert runner(platform, journal).run() == 2
    assert f"stopping: POST /v1/signer/wallets: {status} forbidden" in caplog.text


def test_a_wrong_secret_stops_with_exit_code_2(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert runner(platform, journal, secret="bhsk_wrong").run() == 2
    assert "401 unauthenticated: the signature is wrong" in caplog.text
    assert "bhsk_wrong" not in caplog.text


def test_a_refused_xpub_stops(platform: Running, journal: Journal) -> None:
    platform.platform.failures = [("POST /v1/signer/wallets", 409, "conflict")]
    assert runner(platform, journal).run() == 2


def test_a_platform_with_another_treasury_stops(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    r = runner(platform, journal)
    r._account = keystore.from_words(" ".join(["abandon"] * 11 + ["about"]))
    r.client.report_wallet = lambda chain, xpub: {"treasury": TREASURY}  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert r.run() == 2
    assert "is not this key's" in caplog.text


def test_the_backoff_doubles_to_30_s(journal: Journal) -> None:
    pauses: list[float] = []
    client = Client("http://127.0.0.1:9", KEY_ID, SECRET)  # nothing listens on port 9
    r = Runner(ACCOUNT, journal, client, jitter=lambda: 1.0, pause=pauses.append)

    def record(s: float) -> None:
        pauses.append(s)
        if len(pauses) == 8:
            r.stop()

    r._pause = record
    assert r.run() == 0
    assert pauses == [1, 2, 4, 8, 16, 30, 30, 30]
    half = Runner(ACCOUNT, journal, client, jitter=lambda: 0.0, pause=lambda s: None)
    half._pause = lambda s: (pauses.append(s), half.stop())
    half.run()
    assert pauses[-1] == 0.5  # jitter takes up to half off


def test_sigterm_stops_between_requests(platform: Running, journal: Journal) -> None:
    fake = platform.platform
    fake.add(make_request(sid="sig_1"))
    fake.add(make_request(sid="sig_2", wid="wdr_2", nonce=8))
    r = runner(platform, journal)
    fake.after_answer = lambda a: os.kill(os.getpid(), signal.SIGTERM)
    restore = install_signals(r)
    try:
        assert r.run() == 0
    finally:
        restore()
    assert [a.request_id for a in fake.answers] == ["sig_1"]  # the second one waits


def test_sigint_during_a_long_poll_stops_at_once(platform: Running, journal: Journal) -> None:
    fake = platform.platform
    fake.idle_poll_s = 20
    r = runner(platform, journal)
    r.wait = 20
    restore = install_signals(r)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        timer.start()
        t = time.monotonic()
        assert r.run() == 0
        assert time.monotonic() - t < 5
    finally:
        restore()
        timer.cancel()


def test_client_errors_are_classified(platform: Running) -> None:
    fake = platform.platform
    client = Client(platform.url + "/", KEY_ID, SECRET)
    fake.failures = [
        ("GET /v1/signer/chains", 500, "internal"),
        ("GET /v1/signer/chains", 503, "not_ready"),
        ("GET /v1/signer/chains", 429, "rate_limited"),
        ("GET /v1/signer/chains", 401, "unauthenticated"),
        ("GET /v1/signer/chains", 403, "ip_not_allowed"),
        ("GET /v1/signer/chains", 422, "invalid_field"),
    ]
    for kind in (PlatformDown, PlatformDown, PlatformDown, Fatal, Fatal, Rejected):
        with pytest.raises(kind) as info:
            client.chains()
        assert "scripted failure" in str(info.value)
        assert SECRET not in str(info.value)
    assert client.chains() == {"local": 31337, "sepolia": 11155111}
    with pytest.raises(Rejected) as rejected:
        client.answer("sig_none", refused="no")
    assert rejected.value.status == 409 and rejected.value.code == "not_pending"
    with pytest.raises(ValueError):
        client.answer("sig_x")
    assert SECRET not in repr(client)


def test_unreachable_and_slow_platforms_are_down(journal: Journal) -> None:
    with pytest.raises(PlatformDown, match="ConnectionRefusedError"):
        Client("http://127.0.0.1:9", KEY_ID, SECRET).chains()
    fake = FakePlatform()
    with Running(fake) as running:
        fake.idle_poll_s = 5
        client = Client(running.url, KEY_ID, SECRET)
        with pytest.raises(PlatformDown, match="timed out"):
            client._call("GET", "/v1/signer/requests?wait=5", timeout=0.3)


@pytest.mark.parametrize(
    "url",
    ["ftp://host", "host:8000", "http://user:pw@host", "http://host?x=1", "https://"],
)
def test_bad_platform_urls_are_refused(url: str) -> None:
    with pytest.raises(SignerError, match="--platform"):
        Client(url, KEY_ID, SECRET)


def test_https_with_a_ca_file(journal: Journal) -> None:
    fake = FakePlatform()
    cert = (str(TLS / "cert.pem"), str(TLS / "key.pem"))
    with Running(fake, cert=cert) as running:
        assert running.url.startswith("https://")
        client = Client(running.url, KEY_ID, SECRET, cafile=cert[0])
        assert client.chains()["local"] == 31337
        with pytest.raises(PlatformDown, match=r"CERTIFICATE_VERIFY_FAILED|SSL"):
            Client(running.url, KEY_ID, SECRET).chains()
    with pytest.raises(SignerError, match="--ca-file"):
        Client("http://127.0.0.1:1", KEY_ID, SECRET, cafile=cert[0])


def test_a_base_path_is_part_of_what_is_signed(journal: Journal) -> None:
    seen: list[str] = []
    fake = FakePlatform()
    with Running(fake) as running:
        client = Client(running.url + "/base", KEY_ID, SECRET)
        with pytest.raises(Rejected) as info:  # the fake serves no /base: 404, signed right
            client.chains()
        seen.append(info.value.code)
    assert seen == ["not_found"]


def test_a_refused_poll_is_logged_and_retried(
    platform: Running, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    fake = platform.platform
    fake.failures = [("GET /v1/signer/requests", 400, "invalid_query")]
    fake.add(make_request())
    pauses: list[float] = []
    r = runner(platform, journal, pauses=pauses)
    stop_after(r, 1, fake)
    with caplog.at_level(logging.INFO, logger="blockhook.signer"):
        assert r.run() == 0
    assert "the platform refused the poll: 400 invalid_query" in caplog.text
    assert pauses == [1.0] and fake.answers[0].status == 202


def test_a_refused_chains_call_stops(platform: Running, journal: Journal) -> None:
    platform.platform.failures = [("GET /v1/signer/chains", 404, "not_found")]
    assert runner(platform, journal).run() == 2


def test_a_request_for_an_unknown_chain_or_path_is_refused(
    platform: Running, journal: Journal
) -> None:
    fake = platform.platform
    bad_chain = make_request(sid="sig_a")
    bad_chain["chain"] = bad_chain["withdrawal"]["chain"] = "mainnet"
    bad_path = make_request(sid="sig_b", wid="wdr_2")
    bad_path["path"] = "m/44'/60'/0'/1/5"
    fake.add(bad_chain)
    fake.add(bad_path)
    fake.add({"no": "id"})
    r = runner(platform, journal)
    stop_after(r, 2, fake)
    assert r.run() == 0
    reasons = {a.request_id: a.body["refused"] for a in fake.answers}
    assert reasons["sig_a"] == "chain mainnet was not among the platform's chains at start"
    assert "malformed request: path" in reasons["sig_b"]
