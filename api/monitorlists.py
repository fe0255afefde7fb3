"""A monitor's long list through the API: chunk writes on monitors.addresses, each
conditional on the version the plan was made from, made again when a worker refuses one.

The plans come from streams.monitorlist (made from the monitors view's copy of the chunks);
`streams.monitorlist.edit_list` says what a PATCH's list fields do to them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import orjson

from core.errors import ApiError
from core.publish import Message, Publisher
from streams.monitorlist import NO_CHUNK, ChunkedList, Chunks, chunk_key, chunk_record
from streams.watchlist import monitor_digest
from views.monitors import MonitorsView

logger = logging.getLogger(__name__)

APPLY_TIMEOUT_S = 30.0
LIST_ATTEMPTS = 8  # plans of a list edit made again after another request changed a chunk


@dataclass
class ListWriter:
    """Writes the chunks of monitors' lists and waits for the workers' answers."""

    view: MonitorsView
    publisher: Publisher

    async def publish(
        self, monitor_id: str, chain: str, plan: Chunks, held: ChunkedList
    ) -> set[int]:
        """Publish chunks of a monitor's list (monitors.addresses), each conditional on the
        version `held` (the view's copy the plan was made from); wait until a worker
        accepted or refused each, and this worker's view holds the accepted ones. The
        chunks refused (another write came first)."""
        if not plan:
            return set()
        records = {
            n: chunk_record(monitor_id, n, chain, a) if a is not None else None
            for n, a in plan.items()
        }
        await self.publisher.publish(
            [
                Message(
                    "monitors.addresses",
                    chunk_key(monitor_id, n),
                    orjson.dumps({**r, "base": held.version(n)}) if r is not None else None,
                )
                for n, r in records.items()
            ]
        )
        writes = {
            (chunk_key(monitor_id, n).decode(), monitor_digest(r)) for n, r in records.items()
        }
        outcomes = self.view.outcomes
        if not await self.view.wait_for(
            lambda: all(w in outcomes for w in writes), APPLY_TIMEOUT_S
        ):
            logger.warning("chunks of monitor %s stored but not yet applied", monitor_id)
            return set()
        refused = {
            n
            for n, r in records.items()
            if not outcomes[(chunk_key(monitor_id, n).decode(), monitor_digest(r))]
        }
        # Read-your-writes: this worker's copy holds the accepted versions (or later ones).
        await self.view.wait_for(partial(self.caught_up, monitor_id, set(records) - refused), 5.0)
        return refused

    async def edit(
        self, monitor_id: str, chain: str, edit: Callable[[ChunkedList, int], Chunks]
    ) -> None:
        """Apply `edit` (a plan made from the view's copy of the monitor's chunks, and a gap
        for new chunks) until no chunk is refused: a refused chunk was changed by another
        request meanwhile (through another worker: this one takes a monitor's edits one at a
        time), so the plan is made again from the copy once it holds that change."""
        for attempt in range(LIST_ATTEMPTS):
            held = self.view.lists.get(monitor_id) or ChunkedList()
            gap = random.randrange(1, 64) if attempt else 0
            refused = await self.publish(monitor_id, chain, edit(held, gap), held)
            if not refused:
                return
            await self.view.wait_for(partial(self.caught_up, monitor_id, refused), APPLY_TIMEOUT_S)
        raise ApiError(
            409,
            "conflict",
            "the monitor's list kept changing under other requests; repeat this one",
            "add_addresses",
        )

    def caught_up(self, monitor_id: str, chunks: set[int]) -> bool:
        """Does the view's copy hold the versions the worker last accepted for these?"""
        copy = self.view.lists.get(monitor_id) or ChunkedList()
        applied = self.view.applied
        return all(
            copy.version(n) == (applied.get(chunk_key(monitor_id, n).decode()) or NO_CHUNK)
            for n in chunks
        )
