"""HTTP webhook sender: signed POSTs, only to addresses the request-forgery policy allows."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from core import __version__
from core.timefmt import iso_utc
from streams.signing import webhook_headers
from transport.httpclient import ForbiddenAddress, Http1Client, Resolver
from transport.target import InvalidURL, Target, parse_target

logger = logging.getLogger(__name__)

RESPONSE_EXCERPT = 512
TARGET_CACHE = 10_000  # parsed webhook URLs kept (forgotten all at once when full)
USER_AGENT = f"blockhook/{__version__}"

__all__ = ["Attempt", "ForbiddenAddress", "WebhookSender", "check_url_host"]


async def check_url_host(host: str, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why a webhook host must be refused at monitor creation, or None (the same check
    every new delivery connection makes)."""
    try:
        await Resolver(allow_loopback, allow_private).checked(host)
    except ForbiddenAddress as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    return None


@dataclass
class Attempt:
    """One delivery attempt, as the delivery log records it."""

    at: float
    status_code: int | None
    latency_ms: int
    error: str | None
    response: str | None
    succeeded: bool | None = None  # None: decided by the status code (HTTP)

    @property
    def ok(self) -> bool:
        if self.succeeded is not None:
            return self.succeeded
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso_utc(self.at),
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "response": self.response,
        }


class WebhookSender:
    """Sends signed webhooks over one pool of keep-alive connections; no redirect is
    followed (a 3xx is a failed attempt like any other non-2xx)."""

    def __init__(
        self,
        timeout_s: float,
        allow_loopback: bool,
        allow_private: bool,
        limit: int = 256,
        resolver: Resolver | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.resolver = resolver or Resolver(allow_loopback, allow_private)
        self._client = Http1Client(
            self.resolver, RESPONSE_EXCERPT, USER_AGENT, max_idle_per_origin=limit
        )
        self._targets: dict[str, Target | str] = {}  # a str: why the URL is invalid

    async def close(self) -> None:
        await self._client.close()

    def _target(self, url: str) -> Target:
        """The URL taken apart (cached: parsing it on every delivery is wasted work)."""
        hit = self._targets.get(url)
        if hit is None:
            if len(self._targets) >= TARGET_CACHE:
                self._targets.clear()
            try:
                hit = parse_target(url)
            except InvalidURL as exc:
                hit = str(exc)
            self._targets[url] = hit
        if isinstance(hit, str):
            raise InvalidURL(hit)  # a new one each time: a raised one keeps its frames
        return hit

    async def send(
        self,
        url: str,
        secrets: list[str],
        msg_id: str,
        body: bytes,
        timeout_s: float | None = None,
    ) -> Attempt:
        """POST body once; never raises for network or HTTP failures (they are the Attempt)."""
        started = time.time()
        t0 = time.monotonic()
        headers = webhook_headers(secrets, msg_id, int(started), body)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        status: int | None = None
        excerpt: str | None = None
        try:
            target = self._target(url)
            async with asyncio.timeout(timeout):
                resp = await self._client.post(target, headers, body)
            status = resp.status
            excerpt = bytes(resp.excerpt).decode("utf-8", "replace")
            err = None if status is not None and 200 <= status < 300 else f"HTTP {status}"
        except TimeoutError:
            err = f"timeout after {timeout:g}s"
        except ForbiddenAddress as exc:
            err = f"refused: {exc}"
        except (OSError, ValueError) as exc:  # connection, TLS, protocol, URL
            err = f"{type(exc).__name__}: {exc}"
        latency = int((time.monotonic() - t0) * 1000)
        return Attempt(
            at=started, status_code=status, latency_ms=latency, error=err, response=excerpt
        )
