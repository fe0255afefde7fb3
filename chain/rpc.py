"""Batched JSON-RPC over HTTP with several URLs, time-outs, retries and fail-over."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from core import metrics
from core.errors import RpcError
from streams.endpoints import endpoint_names

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class RpcClient:
    """JSON-RPC client for one chain. Tries each URL in turn; backs off between rounds.

    Logs, errors and the `blockhook_rpc_errors_total` metric name each URL by its endpoint
    (scheme, host, port: streams/endpoints.py), never the URL, which may hold a key."""

    def __init__(
        self,
        urls: Sequence[str],
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 0.25,
        chain: str = "",
    ) -> None:
        if not urls:
            raise RpcError("no RPC URLs configured")
        self.urls = list(urls)
        self.names = dict(zip(self.urls, endpoint_names(self.urls), strict=True))
        self.chain = chain
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._preferred = 0

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _failed(self, url: str, exc: BaseException) -> None:
        """Count and log a failed request, naming the endpoint only (aiohttp's own message
        can quote the URL, so only its type is logged for those)."""
        name = self.names[url]
        metrics.RPC_ERRORS.labels(chain=self.chain, endpoint=name).inc()
        logger.warning("rpc %s failed: %s", name, self._why(exc))

    async def _post(self, url: str, payload: Any) -> Any:
        session = await self._get_session()
        name = self.names[url]
        async with session.post(
            url, data=orjson.dumps(payload), headers={"content-type": "application/json"}
        ) as resp:
            if resp.status != 200:
                raise RpcError(f"{name}: HTTP {resp.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_any():  # read() would stop at one chunk
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise RpcError(f"{name}: response larger than {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise RpcError(f"{name}: response is not JSON") from exc

    async def batch(
        self, calls: Sequence[tuple[str, list[Any]]], lenient: bool = False
    ) -> list[Any]:
        """Run calls as one JSON-RPC batch; results in order. Any error fails the whole batch
        on that URL, and the batch is retried on the next URL (then after a back-off).
        With lenient=True a call answered with a JSON-RPC error gives None instead."""
        if not calls:
            return []
        last: Exception | None = None
        for attempt in range(self.attempts):
            for k in range(len(self.urls)):
                i = (self._preferred + k) % len(self.urls)
                url = self.urls[i]
                ids = [next(self._ids) for _ in calls]
                payload = [
                    {"jsonrpc": "2.0", "id": rid, "method": m, "params": p}
                    for rid, (m, p) in zip(ids, calls, strict=True)
                ]
                try:
                    answer = await self._post(url, payload)
                    results = self._unpack(self.names[url], ids, answer, lenient)
                    self._preferred = i
                    return results
                except (TimeoutError, aiohttp.ClientError, OSError, RpcError) as exc:
                    last = exc
                    self._failed(url, exc)
            await asyncio.sleep(self.backoff_s * (2**attempt))
        raise RpcError(f"all RPC URLs failed: {self._why(last)}")

    @staticmethod
    def _why(exc: BaseException | None) -> str:
        """What to say of the last failure (an RpcError names its endpoint; others only by
        type, as their text may quote a URL)."""
        if exc is None:
            return "no attempt"
        return str(exc) if isinstance(exc, RpcError) else type(exc).__name__

    @staticmethod
    def _unpack(name: str, ids: list[int], answer: Any, lenient: bool) -> list[Any]:
        if not isinstance(answer, list):
            raise RpcError(f"{name}: batch answer is not a list")
        by_id: dict[Any, Any] = {}
        for item in answer:
            if not isinstance(item, dict) or "id" not in item:
                raise RpcError(f"{name}: malformed batch item")
            if item.get("error") is not None:
                if lenient:
                    by_id[item["id"]] = None
                    continue
                raise RpcError(f"{name}: {item['error']}")
            if "result" not in item:
                raise RpcError(f"{name}: batch item without result")
            by_id[item["id"]] = item["result"]
        try:
            return [by_id[i] for i in ids]
        except KeyError as exc:
            raise RpcError(f"{name}: batch answer misses id {exc}") from exc

    async def call(self, method: str, *params: Any) -> Any:
        """One call (sent as a batch of one)."""
        return (await self.batch([(method, list(params))]))[0]

    async def call_or_error(self, method: str, *params: Any) -> tuple[Any, str | None]:
        """One call whose JSON-RPC error is an answer, not a failure (a node refusing a
        transaction says why, and retrying it elsewhere would not help): (result, None) or
        (None, the node's message). Transport failures try the next URL, then raise."""
        last: Exception | None = None
        for k in range(len(self.urls)):
            i = (self._preferred + k) % len(self.urls)
            url = self.urls[i]
            rid = next(self._ids)
            payload = {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}
            try:
                answer = await self._post(url, payload)
            except (TimeoutError, aiohttp.ClientError, OSError, RpcError) as exc:
                last = exc
                self._failed(url, exc)
                continue
            if not isinstance(answer, dict) or answer.get("id") != rid:
                last = RpcError(f"{self.names[url]}: malformed answer")
                self._failed(url, last)
                continue
            err = answer.get("error")
            if err is not None:
                msg = err.get("message") if isinstance(err, dict) else str(err)
                return None, str(msg)[:500]
            return answer.get("result"), None
        raise RpcError(f"all RPC URLs failed: {self._why(last)}")
