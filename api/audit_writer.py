"""What the API writes besides a handler's effect: audit entries and first answers.

Both go out acknowledged before the client gets its answer. Audit entries go to
audit.requests, where the chainer puts them in the chain's one order."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from core.publish import Message, Publisher
from core.timefmt import iso_utc
from streams.auditchain import new_entry
from streams.claims import result_record
from streams.secretbox import SecretBox

logger = logging.getLogger(__name__)

ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request, as far as it is known."""

    request_id: str
    principal: str
    key_id: str | None
    ip: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a handler acts for: the gate puts it on the request; `anonymous` with access
    control off."""

    name: str
    key_id: str | None
    roles: frozenset[str]


ANONYMOUS = Principal("anonymous", None, frozenset())
PRINCIPAL = web.RequestKey("bh.principal", Principal)


def principal_of(request: web.Request) -> Principal:
    """The principal the gate found for this request."""
    return request.get(PRINCIPAL) or ANONYMOUS


@dataclass
class AuditWriter:
    """Publishes audit entries (and idempotency results) for the API."""

    publisher: Publisher
    box: SecretBox | None

    def entry(
        self,
        who: Caller,
        action: str,
        target: str | None,
        outcome: str,
        status: int,
        detail: dict[str, Any],
    ) -> Message:
        e = new_entry(
            who.request_id,
            iso_utc(time.time()),
            who.principal,
            who.key_id,
            who.ip,
            action,
            target,
            outcome,
            status,
            detail,
        )
        return Message("audit.requests", who.principal.encode(), orjson.dumps(e))

    def result(self, who: Caller, idem: str, status: int, body: bytes, ctype: str) -> Message:
        """The first answer to an idempotency key, sealed (answers can carry secrets)."""
        assert self.box is not None
        plain = orjson.dumps({"body": body.decode("utf-8", "replace"), "content_type": ctype})
        rec = result_record(
            who.request_id,
            who.principal,
            idem,
            time.time(),
            status,
            self.box.seal(plain, f"result:{who.request_id}"),
        )
        return Message("auth.claims", who.principal.encode(), orjson.dumps(rec))

    def opened(self, rec: dict[str, Any]) -> tuple[int, bytes, str]:
        """Status, body and content type of a result record."""
        assert self.box is not None
        plain = orjson.loads(self.box.open(rec.get("body"), f"result:{rec.get('claim')}"))
        return int(rec["status"]), str(plain["body"]).encode(), str(plain["content_type"])

    async def write(self, messages: list[Message]) -> bool:
        """Publish, retrying a little; False (and an error in the log) if the broker would
        not take them."""
        for attempt in range(ATTEMPTS):
            try:
                await self.publisher.publish(messages)
                return True
            except Exception as exc:  # the broker away: the answer still goes out
                if attempt == ATTEMPTS - 1:
                    logger.error("audit: could not publish %d records: %s", len(messages), exc)
                else:
                    await asyncio.sleep(0.2 * (attempt + 1))
        return False
