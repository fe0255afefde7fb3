"""A real HTTP webhook receiver for tests: records every request, answers a chosen status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        data = orjson.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class Receiver:
    """Threaded HTTP server on 127.0.0.1; `status_for(path)` picks each answer's status."""

    status_for: Callable[[str], int] = lambda path: 200
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n)
                outer.received.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.time(),
                    )
                )
                self.send_response(outer.status_for(self.path))
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and close the socket: a delivery to it is refused at once, as to an
        endpoint gone (not left hanging in the listen queue)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        return [r.event for r in list(self.received) if path is None or r.path == path]

    def wait_for(
        self,
        pred: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float = 60.0,
        path: str | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until pred(events) holds; fail with what arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            evs = self.events(path)
            if pred(evs):
                return evs
            time.sleep(0.2)
        raise AssertionError(
            "timed out; received: "
            + repr([(e["type"], e["tx_hash"][:10], e["block_number"]) for e in self.events(path)])
        )
