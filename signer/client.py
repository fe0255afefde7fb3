"""The platform's signer endpoints over urllib (http or https), every request signed.

Errors fall in three kinds, which the runner treats differently: PlatformDown (retry with
backoff), Fatal (a wrong key or role: stop) and Rejected (this one call was refused: log it
and go on). No message carries the secret; the platform's own error text is quoted."""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from signer.errors import SignerError
from signer.reqsign import sign_headers

MAX_ANSWER = 8 * 1024 * 1024


class PlatformDown(SignerError):
    """Unreachable, timed out, 5xx or 429 or an unusable answer: try again later."""


class Fatal(SignerError):
    """401 or 403: the key is wrong, revoked or lacks the signer role; retrying won't help."""


class Rejected(SignerError):
    """Another 4xx for this call (409 not_pending, 422 ...): the platform said no to it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def _error_text(body: bytes) -> tuple[str, str]:
    """(code, message) of the platform's error shape, or placeholders."""
    try:
        err = json.loads(body).get("error") or {}
        return str(err.get("code") or "error")[:100], str(err.get("message") or "")[:500]
    except (ValueError, AttributeError):
        return "error", ""


class Client:
    """One platform, one signer key."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        cafile: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise SignerError(f"--platform must be an http:// or https:// URL, not {base_url!r}")
        if url.query or url.fragment or url.username or url.password:
            raise SignerError("--platform must be a plain URL (no credentials, query or fragment)")
        self._base = base_url.rstrip("/")
        self._prefix = url.path.rstrip("/")
        self._key_id = key_id
        self.__secret = secret
        self._clock = clock
        self._context: ssl.SSLContext | None = None
        if url.scheme == "https":
            try:
                self._context = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as exc:
                raise SignerError(f"--ca-file {cafile}: {type(exc).__name__}") from None
        elif cafile is not None:
            raise SignerError("--ca-file is for an https:// platform")

    def __repr__(self) -> str:
        return f"<signer.Client {self._base} key {self._key_id}>"

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """One signed call; the parsed JSON answer of a 2xx."""
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        line = self._prefix + path
        headers = sign_headers(self._key_id, self.__secret, method, line, data, self._clock())
        headers["accept"] = "application/json"
        if body is not None:
            headers["content-type"] = "application/json"
        req = urllib.request.Request(
            self._base + path, data=data or None, method=method, headers=headers
        )
        what = f"{method} {path.split('?')[0]}"
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context) as r:
                raw = r.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            code, message = _error_text(exc.read(64 * 1024))
            exc.close()
            status = exc.code
            if status in (401, 403):
                raise Fatal(f"{what}: {status} {code}: {message}") from None
            if status >= 500 or status == 429:
                raise PlatformDown(f"{what}: {status} {code}: {message}") from None
            raise Rejected(status, code, message) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, TimeoutError):
                raise PlatformDown(f"{what}: timed out after {timeout:g} s") from None
            raise PlatformDown(f"{what}: {type(reason).__name__}: {reason}") from None
        if len(raw) > MAX_ANSWER:
            raise PlatformDown(f"{what}: the answer is over {MAX_ANSWER} bytes")
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise PlatformDown(f"{what}: the answer is not JSON") from None

    def chains(self) -> dict[str, int]:
        """Chain name -> chain id, as the platform runs them."""
        answer = self._call("GET", "/v1/signer/chains")
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise PlatformDown("GET /v1/signer/chains: no items in the answer")
        out: dict[str, int] = {}
        for c in items:
            name = c.get("chain") if isinstance(c, dict) else None
            cid = c.get("chain_id") if isinstance(c, dict) else None
            if isinstance(name, str) and isinstance(cid, int) and not isinstance(cid, bool):
                out[name] = cid
        return out

    def report_wallet(self, chain: str, xpub: str) -> dict[str, Any]:
        """Register the account xpub for chain (200 or 201 alike); the wallet record."""
        answer = self._call("POST", "/v1/signer/wallets", {"chain": chain, "xpub": xpub})
        return answer if isinstance(answer, dict) else {}

    def requests(self, wait: int) -> list[dict[str, Any]]:
        """The pending signing requests; the platform waits up to wait seconds for one."""
        answer = self._call("GET", f"/v1/signer/requests?wait={wait}", timeout=wait + 10)
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise PlatformDown("GET /v1/signer/requests: no items in the answer")
        return [i for i in items if isinstance(i, dict)]

    def answer(
        self, request_id: str, *, signed_tx: str | None = None, refused: str | None = None
    ) -> None:
        """Send the signed transaction or the refusal of one request (exactly one of them)."""
        if (signed_tx is None) == (refused is None):
            raise ValueError("answer with exactly one of signed_tx and refused")
        body = {"signed_tx": signed_tx} if signed_tx is not None else {"refused": refused}
        self._call("POST", "/v1/signer/requests/" + urllib.parse.quote(request_id, safe=""), body)
