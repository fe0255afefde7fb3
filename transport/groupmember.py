"""The worker's consumer-group membership, remembered across restarts.

A worker killed with SIGKILL cannot leave its consumer group: the group keeps it as a member,
holding its partitions, until its session times out, and only then rebalances to let the
restarted worker in (about the session timeout and a rebalance on Kafka; on the embedded
broker, where every join also waits half a session timeout, about 50 s with a 30 s session).
So each worker writes the member id it joined with into its data directory, and a restarted
worker first sends LeaveGroup for that id: the dead member leaves at once and the new one
joins without waiting for it. Ids come from the broker (random per join), so only the
process that owns the data directory, which is locked while a worker runs, ever names it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.group import LeaveGroupRequest

from core.settings import Settings

logger = logging.getLogger(__name__)

FILE_NAME = "group-member.json"


def member_file(s: Settings) -> Path:
    return Path(s.data_dir) / FILE_NAME


def load_member(path: Path, group: str) -> str | None:
    """The member id written for `group`, or None (no file, another group, unreadable)."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("group") != group:
        return None
    mid = doc.get("member_id")
    return mid if isinstance(mid, str) and mid else None


def save_member(path: Path, group: str, member_id: str) -> None:
    """Write the member id atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps({"group": group, "member_id": member_id}))
    os.replace(tmp, path)


async def leave_previous(s: Settings, timeout_s: float = 10.0) -> str | None:
    """Send LeaveGroup for the member id this data directory's last worker joined with;
    returns that id, or None when there was none to send. A member that already left (a
    clean stop) or expired is unknown to the group: the answer's error is harmless."""
    path = member_file(s)
    mid = load_member(path, s.app_id)
    if mid is None:
        return None
    client = AIOKafkaClient(
        bootstrap_servers=s.bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(0, s.app_id)
        answer = await client.send(node, LeaveGroupRequest(s.app_id, mid))
        err = for_code(answer.error_code)
        if answer.error_code:
            logger.info("previous group member %s had already gone (%s)", mid, err.__name__)
        else:
            logger.info("previous group member %s left the group for it", mid)
    except KafkaError as exc:
        logger.warning("could not remove the previous group member %s: %s", mid, exc)
    finally:
        await client.close()
    path.unlink(missing_ok=True)
    return mid
