"""`make demo`: blockhook dev plus a traffic generator and a receiver that checks signatures."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from core.errors import BlockhookError
from dev import chaintools as ct
from dev.demowithdrawal import run_withdrawal
from dev.devstack import DevConfig, DevStack
from streams.signing import sign
from transport.apiclient import ApiClient

A = ct.ANVIL_ACCOUNTS
WATCHED = (A[3], A[4])
UNWATCHED = A[2]
PAYEE = "0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc"  # anvil's sixth account: acct5
NAMES = {a: f"acct{i}" for i, a in enumerate(A)}
TIMESTAMP_TOLERANCE_S = 300
T0 = time.monotonic()
_print_lock = threading.Lock()


def say(msg: str) -> None:
    """One line on stdout, stamped with the seconds since start (thread-safe)."""
    with _print_lock:
        print(f"+{time.monotonic() - T0:6.1f}s  {msg}", flush=True)


def units(amount: int | str, decimals: int) -> str:
    """Base units as a decimal number of whole tokens, without floats: 1500000, 6 -> 1.5."""
    whole, frac = divmod(int(amount), 10**decimals)
    digits = str(frac).rjust(decimals, "0").rstrip("0") if decimals else ""
    return f"{whole}.{digits}" if digits else str(whole)


def name(address: object) -> str:
    """acctN for anvil's accounts, a shortened address otherwise."""
    a = str(address).lower()
    return NAMES.get(a, f"{a[:6]}..{a[-4:]}" if len(a) > 12 else a)


def own_verifier(secret: str) -> Callable[[bytes, dict[str, str]], bool]:
    """Standard Webhooks verification with blockhook's own signing code."""
    import hmac

    def verify(body: bytes, headers: dict[str, str]) -> bool:
        msg_id = headers.get("webhook-id", "")
        ts = headers.get("webhook-timestamp", "")
        if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > TIMESTAMP_TOLERANCE_S:
            return False
        expected = sign(secret, msg_id, int(ts), body)
        given = headers.get("webhook-signature", "").split()
        return any(hmac.compare_digest(expected, s) for s in given)

    return verify


def verifier_name() -> str:
    """Which code checks signatures: an independent library when it is installed."""
    if importlib.util.find_spec("standardwebhooks") is not None:
        return "the standardwebhooks library"
    return "blockhook's streams.signing"


def make_verifier(secret: str) -> Callable[[bytes, dict[str, str]], bool]:
    """standardwebhooks' verifier if it is installed (a dev dependency), else ours."""
    try:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    except ImportError:
        return own_verifier(secret)
    wh = Webhook(secret)

    def verify(body: bytes, headers: dict[str, str]) -> bool:
        try:
            wh.verify(body, headers)
        except (WebhookVerificationError, ValueError):
            return False
        return True

    return verify


class Receiver:
    """A webhook endpoint on 127.0.0.1: verifies each delivery and prints one line for it."""

    def __init__(self) -> None:
        self.verify: Callable[[bytes, dict[str, str]], bool] | None = None
        self.lock = threading.Lock()
        self.types: Counter[str] = Counter()
        self.ok = 0
        self.bad = 0
        self.event_ids: set[str] = set()
        self.transfers: dict[str, set[str]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.handle(body, headers)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def handle(self, body: bytes, headers: dict[str, str]) -> None:
        """Check the signature, remember the event, print a line."""
        good = self.verify is not None and self.verify(body, headers)
        try:
            ev = json.loads(body)
            if not isinstance(ev, dict):
                raise ValueError("not an object")
        except ValueError:
            say(f"hook   unreadable body ({len(body)} bytes)  {'ok' if good else 'BAD SIGNATURE'}")
            with self.lock:
                self.bad += 0 if good else 1
            return
        asset = ev.get("asset") or {}
        evt_id = str(ev.get("id", "?"))
        with self.lock:
            dup = evt_id in self.event_ids
            self.event_ids.add(evt_id)
            if good:
                self.ok += 1
            else:
                self.bad += 1
            if not dup:
                self.types[str(ev.get("type"))] += 1
                key = f"{ev.get('tx_hash')}:{ev.get('log_index')}"
                self.transfers.setdefault(key, set()).add(str(ev.get("type")))
        amount = units(ev.get("amount", "0"), int(asset.get("decimals") or 0))
        symbol = asset.get("symbol") or asset.get("kind", "?")
        conf = f"{ev.get('confirmations')}/{ev.get('required_confirmations')}"
        say(
            f"hook   {ev.get('type', '?'):<20} {amount:>6} {symbol:<4} "
            f"{name(ev.get('from'))} -> {name(ev.get('to'))}  conf {conf}  "
            f"block {ev.get('block_number')}  {evt_id[:12]}  "
            f"{'signature ok' if good else 'BAD SIGNATURE'}{'  (duplicate)' if dup else ''}"
        )

    def seen_then_confirmed(self) -> int:
        """How many transfers arrived both as transfer.seen and as transfer.confirmed."""
        with self.lock:
            return sum(
                1 for t in self.transfers.values() if {"transfer.seen", "transfer.confirmed"} <= t
            )


def post_json(client: ApiClient, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """POST JSON, signed; the JSON answer, or BlockhookError with the API's error."""
    try:
        status, answer = client.call("POST", path, data)
    except (urllib.error.URLError, OSError) as exc:
        raise BlockhookError(f"POST {path}: {exc}") from exc
    if status >= 400 or not isinstance(answer, dict):
        raise BlockhookError(f"POST {path}: {status} {answer!r}")
    return answer


class Traffic:
    """Every round: ETH and TST to the watched addresses, ETH to an unwatched one, now and
    then a TST transfer that reverts (the last two must produce no webhook)."""

    def __init__(self, rpc_url: str, token: str, customer: str | None = None) -> None:
        self.url = rpc_url
        self.token = token
        self.customer = customer
        self.round = 0
        self.pending: list[tuple[str, str, bool]] = []  # (tx, what, should succeed)

    def check_pending(self) -> None:
        """Warn about earlier transactions that did not end as expected."""
        still: list[tuple[str, str, bool]] = []
        for tx, what, should in self.pending:
            r = ct.receipt(self.url, tx)
            if r is None:
                still.append((tx, what, should))
            elif ct.succeeded(r) != should:
                say(f"warn   {what}: tx {tx[:10]} {'failed' if should else 'succeeded'}")
        self.pending = still

    def send(self, what: str, tx: str, should_succeed: bool = True) -> None:
        self.pending.append((tx, what, should_succeed))
        say(f"sent   {what}  tx {tx[:10]}")

    def step(self) -> None:
        """One round of transactions (sent, not waited for)."""
        self.check_pending()
        i = self.round
        self.round += 1
        eth_to, tst_to = WATCHED[i % 2], WATCHED[(i + 1) % 2]
        wei = (i % 5 + 1) * 5 * 10**16
        self.send(
            f"{units(wei, 18)} ETH  acct0 -> {name(eth_to)} (watched)",
            ct.send_eth(self.url, A[0], eth_to, wei),
        )
        tst = (i % 7 + 1) * 1_250_000
        self.send(
            f"{units(tst, ct.TOKEN_DECIMALS)} TST  acct1 -> {name(tst_to)} (watched)",
            ct.token_transfer(self.url, self.token, A[1], tst_to, tst),
        )
        if self.customer is not None and i % 2 == 0:
            self.send(
                f"{units(wei // 5, 18)} ETH  acct0 -> customer-42 (a deposit: see the console)",
                ct.send_eth(self.url, A[0], self.customer, wei // 5),
            )
        self.send(
            f"0.01 ETH  acct0 -> {name(UNWATCHED)} (not watched: no webhook)",
            ct.send_eth(self.url, A[0], UNWATCHED, 10**16),
        )
        if i % 4 == 3:
            # acct2 holds no TST, so this transfer reverts: mined with status 0, no webhook.
            fail = ct.FailingCall(self.url, self.token, UNWATCHED, WATCHED[0], amount=1_000_000)
            self.send(
                f"1 TST  acct2 -> {name(WATCHED[0])} (reverts: no webhook)", fail.send(), False
            )


def customer_address(stack: DevStack, user_ref: str) -> str:
    """A customer's deposit address in the dev signer's wallet (watched by its monitor)."""
    wallet = stack.signer_wallet()
    assert wallet is not None and stack.admin is not None
    body = {"user_ref": user_ref}
    got = post_json(stack.admin, f"/v1/wallets/{wallet['id']}/addresses", body)
    return str(got["address"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dev.demo", description=__doc__)
    p.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    p.add_argument("--interval", type=float, default=4.0, help="seconds between traffic rounds")
    p.add_argument("--broker-port", type=int, default=9092, help="embedded broker port")
    p.add_argument("--anvil-port", type=int, default=8545, help="anvil port")
    p.add_argument("--api-port", type=int, default=8000, help="HTTP API port")
    p.add_argument("--confirmations", type=int, default=3, help="confirmations on chain local")
    p.add_argument("--dir", default=".blockhook/demo", help="scratch directory, wiped at start")
    return p.parse_args(argv)


def header(cfg: DevConfig, receiver_url: str, verifier: str, interval: float) -> str:
    w3, w4 = WATCHED
    return f"""\
blockhook demo
  Starts what `blockhook dev` starts: the embedded broker on 127.0.0.1:{cfg.broker_port}, anvil
  (chain "local", id {cfg.chain_id}, a block a second) at {cfg.rpc_url}, one worker, and the
  API at {cfg.api_url}; plus a webhook receiver at {receiver_url}
  that verifies each delivery's Standard Webhooks signature with {verifier}.
  Through the API it creates a monitor for incoming native ETH and ERC20 transfers to
    acct3 {w3}
    acct4 {w4}
  then deploys the TST test token, mints TST to acct1, and every {interval:g}s sends ETH and
  TST to acct3/acct4, ETH to acct2 (not watched) and now and then a TST transfer that
  reverts. Each transfer to a watched address arrives twice: transfer.seen when it is in a
  block, then transfer.confirmed at {cfg.confirmations} confirmations.
  Before the traffic starts it also runs one withdrawal: the dev blockhook-signer reports its
  wallet, its treasury is funded, demo-requester asks for 1 ETH to acct5, demo-approver-1 and
  demo-approver-2 approve, the signer signs, blockhook broadcasts and follows it to confirmed.
  Then every other round it pays a customer's deposit address in the signer's wallet.
  Open the console line's URL in a browser and sign in with the name and password it prints:
  balances, deposits (live), deliveries and the withdrawal are there.
  Logs: {cfg.root}/logs    Stop: Ctrl-C
"""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """The whole demo; returns the exit status."""
    cfg = DevConfig(
        root=Path(args.dir).resolve(),
        broker_port=args.broker_port,
        anvil_port=args.anvil_port,
        api_port=args.api_port,
        block_time=1.0,
        confirmations=args.confirmations,
    )
    stack = DevStack(cfg)
    receiver = Receiver()
    deadline = None if args.seconds is None else T0 + args.seconds
    print(header(cfg, receiver.url, verifier_name(), args.interval))
    sys.stdout.flush()
    interrupted = False
    try:
        receiver.start()
        say("starting broker, anvil and worker ...")
        stack.start_infra()
        stack.start_worker()
        stack.wait_ready()
        admin = stack.create_admin_key()
        say(f"blockhook admin key {admin.key_id} (secret in {cfg.admin_key_path})")
        console_url, password = stack.create_console_operator("admin")
        say(f"blockhook console {console_url} operator admin password {password}")
        stack.start_signer()
        say(f"blockhook-signer started (throwaway keystore, no limits; log {cfg.root}/logs)")
        say(f"blockhook ready {cfg.api_url}")
        monitor = post_json(
            admin,
            "/v1/monitors",
            {
                "name": "demo: acct3 and acct4 deposits",
                "chain": cfg.chain_name,
                "addresses": list(WATCHED),
                "assets": ["native", "erc20"],
                "direction": "in",
                "webhook": {"url": receiver.url},
            },
        )
        secret = str(monitor["webhook"]["secret"])
        receiver.verify = make_verifier(secret)
        say(f"monitor {monitor['id']} created (webhook secret {secret[:12]}...)")
        rpc = cfg.rpc_url
        token = ct.deploy_token(rpc, A[0])
        ct.mint(rpc, token, A[0], A[1], 1_000_000 * 10**ct.TOKEN_DECIMALS)
        say(f"TST deployed at {token}; minted 1000000 TST to acct1")
        wid = run_withdrawal(stack, A[0], PAYEE, say)
        say(f"withdrawal {wid} confirmed: requested, approved twice, signed, broadcast")
        customer = customer_address(stack, "customer-42")
        say(f"customer-42's deposit address in the signer wallet: {customer}")
        traffic = Traffic(rpc, token, customer)
        next_round = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            if stack.worker is None or stack.worker.poll() is not None:
                say(f"worker exited; see {cfg.root}/logs/worker.log")
                return 1
            if time.monotonic() >= next_round:
                traffic.step()
                next_round += args.interval
            time.sleep(0.2)
    except KeyboardInterrupt:
        interrupted = True
    except (BlockhookError, TimeoutError) as exc:
        say(f"error: {exc}")
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping ...")
        receiver.stop()
        stack.stop()
        say("stopped")
    pairs = receiver.seen_then_confirmed()
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(receiver.types.items())) or "none"
    say(
        f"{receiver.ok + receiver.bad} deliveries ({kinds}); {receiver.ok} signatures ok, "
        f"{receiver.bad} bad; {pairs} transfers seen then confirmed"
    )
    if receiver.bad:
        return 1
    if not interrupted and pairs == 0:
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: Ctrl-C and SIGTERM stop everything cleanly."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        return run(args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
