"""A tiny real platform for the signer's tests: http.server in a thread serving /v1/signer/*,
checking every request's signature with the platform's own streams.reqsign and every signed
answer with streams.txcheck, the way api/signer.py answers (202, 409 not_pending, ...)."""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chain.hd import parse_account_xpub, treasury_address
from streams import reqsign
from streams.txcheck import TxCheckError, check_signed, decode_signed

KEY_ID = "key_signer"
SECRET = "bhsk_" + "s3cret" * 6


@dataclass
class Answer:
    """One POST /v1/signer/requests/{id} the platform received."""

    request_id: str
    body: dict[str, Any]
    status: int
    check: str | None = None  # txcheck's complaint about signed bytes, if any


@dataclass
class FakePlatform:
    chains: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"chain": "local", "chain_id": 31337},
            {"chain": "sepolia", "chain_id": 11155111},
        ]
    )
    secret: str = SECRET
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    wallets: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    # (method and path prefix, status, code): served instead, once each, first match
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # served, but answered already: 409
    idle_poll_s: float = 0.0  # how long an empty long poll waits (at most `wait`)
    after_answer: Callable[[Answer], None] | None = None  # runs before the reply
    nonces: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, req: dict[str, Any]) -> None:
        with self.lock:
            self.pending[str(req.get("id", "no-id"))] = req

    def _auth(self, h: BaseHTTPRequestHandler, body: bytes) -> str | None:
        ts, nonce = h.headers.get("bh-timestamp", ""), h.headers.get("bh-nonce", "")
        if h.headers.get("bh-key") != KEY_ID:
            return "unknown key"
        if not reqsign.TIMESTAMP_RE.match(ts) or not reqsign.NONCE_RE.match(nonce):
            return "malformed header"
        if not reqsign.timestamp_fresh(int(ts), time.time()):
            return "stale timestamp"
        sig = h.headers.get("bh-signature", "")
        if not reqsign.signature_ok(self.secret, sig, ts, nonce, h.command, h.path, body):
            return "the signature is wrong"
        with self.lock:
            if nonce in self.nonces:
                return "replayed"
            self.nonces.add(nonce)
        return None

    def serve(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any]:
        what = f"{h.command} {urlsplit(h.path).path}"
        with self.lock:
            self.calls.append(what)
            self.bodies.append(body)
        problem = self._auth(h, body)
        if problem is not None:
            return 401, _error("unauthenticated", problem)
        with self.lock:
            for i, (prefix, status, code) in enumerate(self.failures):
                if what.startswith(prefix):
                    del self.failures[i]
                    return status, _error(code, "scripted failure")
        url = urlsplit(h.path)
        if what == "GET /v1/signer/chains":
            return 200, {"items": self.chains}
        if what == "POST /v1/signer/wallets":
            doc = json.loads(body)
            key = parse_account_xpub(doc["xpub"], testnet_ok=True)
            status = 200 if doc["chain"] in self.wallets else 201
            wallet = {
                "id": "wal_" + doc["chain"],
                "chain": doc["chain"],
                "xpub": key.xpub,
                "source": "signer",
                "treasury": treasury_address(key),
            }
            self.wallets[doc["chain"]] = wallet
            return status, wallet
        if what == "GET /v1/signer/requests":
            wait = int(parse_qs(url.query).get("wait", ["0"])[0])
            deadline = time.monotonic() + min(wait, self.idle_poll_s)
            while True:
                with self.lock:
                    items = list(self.pending.values())
                if items or time.monotonic() >= deadline:
                    return 200, {"items": items}
                time.sleep(0.02)
        if what.startswith("POST /v1/signer/requests/"):
            return self._answer(url.path.rsplit("/", 1)[1], json.loads(body))
        return 404, _error("not_found", "no such route")

    def _answer(self, sid: str, doc: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            req = self.pending.get(sid)
            if req is None or sid in self.gone:
                self.pending.pop(sid, None)
                ans = Answer(sid, doc, 409)
                self.answers.append(ans)
                return 409, _error("not_pending", "this signing request is not waiting")
            check = None
            if "signed_tx" in doc:
                try:
                    check_signed(decode_signed(doc["signed_tx"]), req["tx"], req["from"])
                except TxCheckError as exc:
                    check = str(exc)
            ans = Answer(sid, doc, 202, check)
            self.answers.append(ans)
            del self.pending[sid]
        return 202, {"id": sid, "accepted": True}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": None}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _go(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        platform = self.server.platform
        status, doc = platform.serve(self, body)
        if self.command == "POST" and self.path.startswith("/v1/signer/requests/"):
            # before the reply: the signer is still busy with this request when it runs
            if platform.after_answer is not None and platform.answers:
                platform.after_answer(platform.answers[-1])
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _go
    do_POST = _go

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    platform: FakePlatform
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A signer that left mid-poll (stopped by a signal) is no error of the test."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Running:
    """The platform serving on 127.0.0.1 (https when given a certificate)."""

    def __init__(self, platform: FakePlatform, cert: tuple[str, str] | None = None) -> None:
        self.platform = platform
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.platform = platform
        scheme = "http"
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
