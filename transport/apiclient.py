"""A small client of blockhook's API that signs every request (the demo, the benches, the
tests and the command line use it; docs/security.md shows the same in 20 lines)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streams.reqsign import sign_headers


@dataclass(frozen=True)
class ApiClient:
    """Signs with key_id and secret; `call` answers (status, parsed JSON or None)."""

    url: str
    key_id: str
    secret: str
    timeout_s: float = 60.0

    @classmethod
    def from_file(cls, path: Path) -> ApiClient:
        """From an admin-key.json ({"key_id", "secret", "url"}) as `blockhook dev` writes."""
        data = json.loads(path.read_text())
        return cls(str(data["url"]), str(data["key_id"]), str(data["secret"]))

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """The signature headers for a request to path (with its query) made now."""
        base = urlsplit(self.url).path.rstrip("/")
        return sign_headers(self.key_id, self.secret, method, base + path, body, time.time())

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One signed request; 4xx and 5xx answers are returned, not raised."""
        status, data, _ = self.call_full(method, path, body, raw, headers)
        return status, data

    def call_full(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One signed request: (status, parsed JSON or None, the answer's headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        h = {"content-type": "application/json", **self.headers(method, path, data)}
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data or None, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None, dict(r.headers)
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text.decode(errors="replace")
            return e.code, parsed, dict(e.headers)
