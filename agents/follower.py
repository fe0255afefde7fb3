"""The chain follower: one per chain across the group, driven by ticks on the follower topic.

The leader sends a tick per chain every poll interval; the worker that owns the chain's
partition of the follower topic (and so the chain's row of the cursors table) polls the
node, publishes new blocks (and reorg markers) to the blocks topic, waits for the broker's
acknowledgement, and only then moves the cursor. A crash in between republishes blocks,
which downstream folds treat as replays.

After a poll it also publishes the chain's `heads` record (last block published, the node's
head, what this process has published since it started), at most once a second, in the
background: the admin dashboard reads it, the pipeline does not, so it never holds up
following and a failure to publish it is only logged.

Between the regular ticks, the follower asks the node again when its next block is due
(streams.followplan.NextBlock, learned from its own polls): it publishes a tick for the chain
on the follower topic at that moment, so the poll still runs where the chain's ticks are
handled, one at a time, and a block is seen within a few tens of milliseconds of appearing
rather than up to a poll interval later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import orjson

from chain.follower import BlockSource
from core import metrics
from core.errors import RpcError
from core.publish import Message
from core.settings import ChainSettings
from faust_app import app, publisher, settings
from faust_app.tables import apply, cursors_table
from faust_app.topics import follower_topic
from streams.canon import Cursor, advance, follows, fork_point, rewind, start_cursor
from streams.followplan import NextBlock, cursor_write, reorg_marker
from streams.rates import HeadsBeat, block_transfers

logger = logging.getLogger(__name__)

_sources: dict[str, BlockSource] = {}
_last_tick: dict[str, float] = {}
# Per chain followed by this process: when its node last answered (monotonic), its head, and
# the last block published; read by readiness (agents/health.py).
last_ok: dict[str, float] = {}
node_heads: dict[str, int] = {}
published_block: dict[str, int] = {}
_beats: dict[str, HeadsBeat] = {}
_heads_sends: dict[str, asyncio.Task[None]] = {}
_next_blocks: dict[str, NextBlock] = {}
_extra_ticks: dict[str, tuple[float, asyncio.Task[None]]] = {}  # chain → (when, its task)


def source_for(chain: ChainSettings) -> BlockSource:
    """The block source of a chain (one per process)."""
    src = _sources.get(chain.name)
    if src is None:
        src = _sources[chain.name] = BlockSource(chain)
    return src


def _load_cursor(chain: str) -> Cursor | None:
    raw = cursors_table.get(chain.encode())
    return cast(Cursor, orjson.loads(raw)) if raw else None


def _save_cursor(chain: str, cur: Cursor) -> None:
    apply([cursor_write(chain, cur)])
    metrics.FOLLOWER_BLOCK.labels(chain=chain).set(cur["number"])
    published_block[chain] = cur["number"]


async def _handle_reorg(chain: ChainSettings, src: BlockSource, cur: Cursor) -> Cursor:
    numbers = [int(n) for n, _ in cur["canon"]]
    node = await src.hashes(numbers)
    fork = fork_point(cur, node)
    if fork is None:
        lowest = numbers[0] - 1
        logger.critical(
            "chain %s: reorg deeper than the %d blocks kept (finality_depth); orphaning all "
            "of them and resuming from block %d",
            chain.name,
            len(numbers),
            lowest + 1,
        )
        metrics.DEEP_REORGS.labels(chain=chain.name).inc()
        if lowest < 0:
            raise RpcError("cannot rewind below block 0")
        base = (await src.hashes([lowest]))[lowest]
        if base is None:
            raise RpcError(f"node has no block {lowest}")
        orphaned = [(int(n), str(h)) for n, h in cur["canon"]]
        new_cur = start_cursor(lowest, base)
        fork = lowest
    else:
        new_cur, orphaned = rewind(cur, fork)
    marker = reorg_marker(chain.name, chain.chain_id, fork, orphaned)
    logger.warning("chain %s: reorg at %d, %d block(s) orphaned", chain.name, fork, len(orphaned))
    metrics.REORGS.labels(chain=chain.name).inc()
    metrics.REORG_DEPTH.labels(chain=chain.name).observe(len(orphaned))
    await publisher.publish([Message("blocks", chain.name.encode(), orjson.dumps(marker))])
    return new_cur


def _beat(chain: str) -> HeadsBeat:
    beat = _beats.get(chain)
    if beat is None:
        beat = _beats[chain] = HeadsBeat(chain)
    return beat


def report_head(chain: str, cur: Cursor | None, node_head: int) -> None:
    """Publish the chain's heads record if a second has passed since the last one, without
    waiting: the send runs in its own task, one at a time per chain (a record due while the
    last one is still on its way is skipped, never queued). Never raises."""
    try:
        beat = _beat(chain)
        now = time.time()
        if cur is None or not beat.due(now):
            return
        sending = _heads_sends.get(chain)
        if sending is not None and not sending.done():
            return
        value = orjson.dumps(beat.record(cur["number"], node_head, now))
        msg = Message("heads", chain.encode(), value)
        _heads_sends[chain] = asyncio.create_task(_send_head(chain, msg))
    except Exception as exc:  # the dashboard's record must never stop the follower
        logger.warning("chain %s: heads record not sent: %r", chain, exc)


async def _send_head(chain: str, msg: Message) -> None:
    # `publish` and not `publish_buffered`: a buffered message the broker refuses stops the
    # worker, which this record is not worth; here the refusal is caught and logged.
    try:
        await publisher.publish([msg])
    except Exception as exc:
        logger.warning("chain %s: heads record not published: %r", chain, exc)


async def poll(chain: ChainSettings) -> int:
    """Publish every new block of a chain up to the node's head; returns blocks published."""
    src = source_for(chain)
    cur = _load_cursor(chain.name)
    head = await src.head()
    answered = last_ok[chain.name] = time.monotonic()
    head_ts: int | None = None
    node_heads[chain.name] = head
    metrics.NODE_HEAD.labels(chain=chain.name).set(head)
    published = 0
    budget = chain.max_blocks_per_poll * 4
    while published < budget:
        nxt = (
            cur["number"] + 1
            if cur
            else (chain.start_block if chain.start_block is not None else head)
        )
        if nxt > head:
            break
        numbers = list(range(nxt, min(head, nxt + chain.max_blocks_per_poll - 1) + 1))
        blocks = await src.blocks(numbers)
        out: list[Message] = []
        transfers = 0
        new_cur = cur
        reorg = False
        for b in blocks:
            if b is None:
                break
            if new_cur is not None and not follows(new_cur, b["number"], b["parent_hash"]):
                reorg = True
                break
            if b["number"] == head:
                head_ts = int(b["timestamp"])
            rec = {"type": "block", **b}
            out.append(Message("blocks", chain.name.encode(), orjson.dumps(rec)))
            transfers += block_transfers(b)
            new_cur = (
                advance(new_cur, b["number"], b["hash"], chain.finality_depth + 1)
                if new_cur
                else start_cursor(b["number"], b["hash"])
            )
        if out:
            await publisher.publish(out)
            published += len(out)
            metrics.BLOCKS_PUBLISHED.labels(chain=chain.name).inc(len(out))
            metrics.TRANSFERS_PUBLISHED.labels(chain=chain.name).inc(transfers)
            _beat(chain.name).count(len(out), transfers)
            delay = metrics.PUBLISH_DELAY.labels(chain=chain.name)
            now = time.time()
            for b in blocks[: len(out)]:
                if b is not None:
                    delay.observe(max(0.0, now - float(b["timestamp"])))
        if new_cur is not None and new_cur is not cur:
            _save_cursor(chain.name, new_cur)
            cur = new_cur
        if reorg and cur is not None:
            cur = await _handle_reorg(chain, src, cur)
            _save_cursor(chain.name, cur)
            continue
        if len(out) < len(numbers):
            break  # a block the node announced but does not serve yet: next poll
    if cur is not None:
        metrics.HEAD_LAG.labels(chain=chain.name).set(max(0, head - cur["number"]))
    report_head(chain.name, cur, head)
    _next_blocks.setdefault(chain.name, NextBlock()).polled(answered, head, head_ts)
    return published


def plan_extra_tick(chain: ChainSettings) -> None:
    """After a poll: if the chain's next block is due before its next regular tick, publish
    a tick for it then (one pending per chain; an earlier one replaces a later one)."""
    nb = _next_blocks.get(chain.name)
    when = nb.ask_at(time.monotonic(), chain.poll_interval_s) if nb else None
    if when is None:
        return
    pending = _extra_ticks.get(chain.name)
    if pending is not None and not pending[1].done():
        if pending[0] <= when:
            return
        pending[1].cancel()
    _extra_ticks[chain.name] = (when, asyncio.create_task(_tick_at(chain.name, when)))


async def _tick_at(name: str, when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))
    try:
        await publisher.publish([Message("follower", name.encode(), b"tick")])
    except Exception as exc:  # the regular ticks still come
        logger.warning("chain %s: extra tick not sent: %r", name, exc)


@app.agent(follower_topic)
async def follow(stream: Any) -> None:
    """Poll the chain named by each tick's key (this worker owns that chain's cursor)."""
    async for event in stream.events():
        name = event.key.decode() if event.key else ""
        chain = settings.chain(name)
        if chain is None:
            logger.warning("tick for unknown chain %r ignored", name)
            continue
        started = time.monotonic()
        try:
            await poll(chain)
            plan_extra_tick(chain)
        except RpcError as exc:
            metrics.POLL_FAILURES.labels(chain=name).inc()
            logger.warning("chain %s: poll failed, will retry: %s", name, exc)
        finally:
            metrics.POLL_SECONDS.labels(chain=name).observe(time.monotonic() - started)


@app.timer(interval=0.25, on_leader=True)
async def tick() -> None:
    """Send a tick per chain whenever its poll interval has passed (leader only)."""
    now = time.monotonic()
    for chain in settings.chains:
        if now - _last_tick.get(chain.name, 0.0) >= chain.poll_interval_s:
            _last_tick[chain.name] = now
            await publisher.publish([Message("follower", chain.name.encode(), b"tick")])
