"""HTTP webhook sender: signed POSTs through a resolver that refuses forbidden addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from streams.netpolicy import address_refusal
from streams.signing import webhook_headers

logger = logging.getLogger(__name__)

RESPONSE_EXCERPT = 512
TARGET_CACHE = 10_000  # parsed webhook URLs kept (forgotten all at once when full)


class ForbiddenAddress(OSError):
    """The webhook host resolves to an address the policy forbids."""


class GuardedResolver(AbstractResolver):
    """Resolves once and refuses every forbidden address, so the connection goes only to an
    address that was checked (DNS rebinding gains nothing)."""

    def __init__(self, allow_loopback: bool, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self.allow_loopback = allow_loopback
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for r in results:
            why = address_refusal(r["host"], self.allow_loopback, self.allow_private)
            if why is not None:
                raise ForbiddenAddress(f"{host} resolves to {r['host']}: {why}")
        return results

    async def close(self) -> None:
        await self._inner.close()


async def check_url_host(host: str, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why a webhook host must be refused at monitor creation, or None."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    for info in infos:
        why = address_refusal(str(info[4][0]), allow_loopback, allow_private)
        if why is not None:
            return f"{host} resolves to {info[4][0]}: {why}"
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
        from streams.deliveryjob import iso_utc

        return {
            "at": iso_utc(self.at),
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "response": self.response,
        }


class WebhookSender:
    """Sends signed webhooks; one shared connection pool, no redirects followed."""

    def __init__(
        self,
        timeout_s: float,
        allow_loopback: bool,
        allow_private: bool,
        limit: int = 256,
    ) -> None:
        self.timeout_s = timeout_s
        self.allow_loopback = allow_loopback
        self.allow_private = allow_private
        self.limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._targets: dict[str, URL | ForbiddenAddress] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.allow_loopback, self.allow_private),
                limit=self.limit,
                limit_per_host=0,  # bounded per endpoint by the caller (not per host)
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _target(self, url: str) -> URL:
        """The parsed URL, checked if its host is an IP address (aiohttp does not ask the
        resolver about those). Cached: a URL's host does not change, and parsing and
        checking it on every delivery cost as much as a third of an attempt."""
        hit = self._targets.get(url)
        if hit is not None:
            if isinstance(hit, ForbiddenAddress):
                raise hit
            return hit
        if len(self._targets) >= TARGET_CACHE:
            self._targets.clear()
        parsed = URL(url)
        host = parsed.host or ""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            self._targets[url] = parsed  # a name: the GuardedResolver checks what it gives
            return parsed
        why = address_refusal(host, self.allow_loopback, self.allow_private)
        if why is not None:
            refusal = self._targets[url] = ForbiddenAddress(f"{host}: {why}")
            raise refusal
        self._targets[url] = parsed
        return parsed

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        t = self._timeouts.get(seconds)
        if t is None:
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return t

    async def send(
        self,
        url: str,
        secrets: list[str],
        msg_id: str,
        body: bytes,
        timeout_s: float | None = None,
    ) -> Attempt:
        """POST body once; never raises for network or HTTP failures (they are the Attempt).
        A redirect is not followed: a 3xx is a failed attempt like any other non-2xx."""
        started = time.time()
        t0 = time.monotonic()
        headers = webhook_headers(secrets, msg_id, int(started), body)
        timeout = self._timeout(timeout_s or self.timeout_s)
        try:
            target = self._target(url)
            async with self._get_session().post(
                target, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as resp:
                excerpt = (await resp.content.read(RESPONSE_EXCERPT)).decode("utf-8", "replace")
                status = resp.status
                err = None if 200 <= status < 300 else f"HTTP {status}"
        except TimeoutError:
            status, err, excerpt = None, f"timeout after {timeout.total:g}s", None
        except ForbiddenAddress as exc:
            status, err, excerpt = None, f"refused: {exc}", None
        except (aiohttp.ClientError, OSError) as exc:
            status, err, excerpt = None, f"{type(exc).__name__}: {exc}", None
        latency = int((time.monotonic() - t0) * 1000)
        return Attempt(
            at=started, status_code=status, latency_ms=latency, error=err, response=excerpt
        )
