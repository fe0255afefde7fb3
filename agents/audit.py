"""The audit chainer: the one owner of audit.requests (one partition) chains entries onto
the audit topic, so concurrent requests on many workers give one chain, no gap, no fork.

Its head is taken from the audit topic itself whenever it (re)starts, the offsets it is
given jump, or the topic holds a later record than its own head (another worker chained in
between, even one that crashed before committing): the fold is synced to the topic's end
first, and entries whose id is already on the topic (chained before a crash, not yet
committed) are skipped. Records are acknowledged by the broker before the entries' offsets
are committed."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from core.publish import Message
from faust_app import app, publisher, settings
from faust_app.acks import acked_batches
from faust_app.topics import audit_requests_topic
from streams.auditchain import Head, chain, entry_from
from views.audit import AuditView

logger = logging.getLogger(__name__)

audit_view = AuditView(settings)
SYNC_TIMEOUT_S = 30.0
# Entries are chained in batches gathered this long: nobody waits on the chaining itself
# (the API's answer waits only for its entry on audit.requests), and an idle worker wakes
# up less often.
BATCH_WITHIN_S = 0.1


async def _synced_head() -> Head:
    while not await audit_view.sync(SYNC_TIMEOUT_S):
        logger.warning("audit: the audit topic's fold is not at its end yet; waiting")
    return audit_view.head()


@app.agent(audit_requests_topic)
async def chain_audit(stream: Any) -> None:
    """audit.requests → audit, in order, each record chained to the one before."""
    head: Head | None = None
    next_offset = -1
    chained: set[str] = set()
    async for events in acked_batches(stream, 500, BATCH_WITHIN_S):
        first = events[0].message.offset
        if head is None or first != next_offset or audit_view.head().seq > head.seq:
            head = await _synced_head()
            chained = set()
        out: list[Message] = []
        for event in events:
            try:
                entry = entry_from(orjson.loads(event.value))
            except orjson.JSONDecodeError:
                entry = None
            if entry is None:
                logger.error(
                    "audit: dropped an entry that is not one (offset %d)", event.message.offset
                )
                continue
            if entry["id"] in audit_view.ids or entry["id"] in chained:
                continue  # chained before a restart
            record, head = chain(head, entry)
            chained.add(entry["id"])
            out.append(Message("audit", str(record["principal"]).encode(), orjson.dumps(record)))
        if out:
            await publisher.publish(out)
        next_offset = events[-1].message.offset + 1
