"""Delivery jobs: what the delivery agents need to send one event to one monitor's handler,
and the delivery log's view of a job (pure)."""

from __future__ import annotations

import hashlib
import logging
import secrets as _secrets
import time
from datetime import datetime
from typing import Any

import orjson

from core.timefmt import iso_utc
from streams.fanout import Packer
from streams.partition import key_partition
from streams.records import MonitorCfg

logger = logging.getLogger(__name__)

# Where a delivery goes: an HTTP webhook, an in-process Python callback, or a command.
KINDS = ("webhook", "python", "command")


def parse_iso(s: str | None) -> float | None:
    """An RFC 3339 time as unix seconds, or None when absent or unreadable."""
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def handler_target(handler: dict[str, Any]) -> str:
    """What the delivery log shows as the `url` of a non-HTTP handler."""
    if handler.get("kind") == "python":
        return f"python:{handler.get('target', '')}"
    argv = handler.get("argv") or [""]
    return f"command:{argv[0]}"


def delivery_job(event: dict[str, Any], cfg: MonitorCfg) -> dict[str, Any] | None:
    """The job for one event and one monitor, or None when the monitor has no handler."""
    cfg_any: dict[str, Any] = dict(cfg)
    handler = cfg_any.get("handler")
    hook = cfg_any.get("webhook")
    job: dict[str, Any] = {
        "id": "dlv_" + event["id"][4:],
        "event": event,
        "monitor_id": cfg["id"],
        "retry": cfg_any.get("retry"),
        "attempts": [],
        "first_at": None,
        "next_attempt_at": None,
        "redelivery_of": None,
    }
    if isinstance(handler, dict) and handler.get("kind") in ("python", "command"):
        return {**job, "kind": handler["kind"], "handler": handler, "url": handler_target(handler)}
    if not hook or not hook.get("url"):
        return None
    return {
        **job,
        "kind": "webhook",
        "url": hook["url"],
        "secrets": [hook.get("secret")],
        "previous_secret": hook.get("previous_secret"),
        "previous_secret_until": parse_iso(hook.get("previous_secret_expires_at")),
    }


def parse_jobs(values: list[Any]) -> list[dict[str, Any]]:
    """The readable jobs of some messages, each one job or a JSON array of jobs (an
    unreadable one is logged and skipped)."""
    jobs: list[dict[str, Any]] = []
    for v in values:
        try:
            decoded = orjson.loads(v)
        except orjson.JSONDecodeError:
            logger.error("unreadable delivery job skipped")
            continue
        for job in decoded if isinstance(decoded, list) else [decoded]:
            if isinstance(job, dict) and isinstance(job.get("event"), dict) and job.get("url"):
                jobs.append(job)
            else:
                logger.error("malformed delivery job skipped")
    return jobs


def job_partition(monitor_id: str, partitions: int) -> int:
    """The deliveries partition of a monitor's jobs: Kafka's default partitioning of the
    monitor id, so jobs sent one per message (redeliveries, earlier versions) land there too
    and a transfer's deliveries stay in order."""
    return key_partition(monitor_id.encode(), partitions)


def pack_jobs(jobs: list[tuple[str, bytes]], partitions: int) -> list[tuple[int, bytes]]:
    """(monitor id, encoded job) pairs as (partition, JSON array of jobs) messages, in order
    per partition: one message carries many deliveries, so the delivery agent pays its
    per-message cost once per batch rather than once per delivery."""
    packer = Packer(partitions)
    for monitor_id, job in jobs:
        packer.add_to(job_partition(monitor_id, partitions), job)
    return packer.messages()


def signing_secrets(job: dict[str, Any], now: float) -> list[str]:
    """The secrets that sign this attempt: the current one, and during a rotation the
    previous one until it expires."""
    out = [s for s in job.get("secrets", []) if s]
    prev = job.get("previous_secret")
    until = job.get("previous_secret_until")
    if prev and prev not in out and (until is None or now < float(until)):
        out.append(prev)
    return out


def new_delivery_id() -> str:
    """A fresh random delivery id (redeliveries; first deliveries derive theirs from the event)."""
    return "dlv_" + _secrets.token_hex(20)


def redelivery_job(original: dict[str, Any], monitor: dict[str, Any] | None) -> dict[str, Any]:
    """A new job sending the original's event again now, to the monitor's current handler
    (or the original's target when the monitor is gone), on the same event id."""
    event = original["event"]
    job: dict[str, Any] | None = None
    if monitor is not None:
        cfg: dict[str, Any] = {
            "id": monitor["id"],
            "webhook": monitor.get("webhook"),
            "handler": monitor.get("handler"),
            "retry": monitor.get("retry"),
        }
        job = delivery_job(event, cfg)  # type: ignore[arg-type]
    if job is None:
        raise ValueError("the monitor has no webhook or handler to redeliver to")
    job["id"] = new_delivery_id()
    job["redelivery_of"] = original["id"]
    return job


def log_record(job: dict[str, Any], status: str, now: float | None = None) -> dict[str, Any]:
    """The delivery log's record of a job (the interface's Delivery, plus the event for
    redelivery). Never holds a secret."""
    nxt = job.get("next_attempt_at")
    return {
        "id": job["id"],
        "event_id": job["event"]["id"],
        "event_type": job["event"].get("type"),
        "monitor_id": job["monitor_id"],
        "kind": job.get("kind", "webhook"),
        "url": job["url"],
        "status": status,
        "attempts": list(job.get("attempts", [])),
        "next_attempt_at": iso_utc(float(nxt)) if status == "pending" and nxt else None,
        "redelivery_of": job.get("redelivery_of"),
        "updated_at": iso_utc(now if now is not None else time.time()),
        "event": job["event"],
    }


def dead_letter(job: dict[str, Any]) -> dict[str, Any]:
    """The record for deliveries.dlq: the job without secrets or internal bookkeeping."""
    first = job.get("first_at")
    return {
        "id": job["id"],
        "event": job["event"],
        "monitor_id": job["monitor_id"],
        "kind": job.get("kind", "webhook"),
        "url": job["url"],
        "status": "failed",
        "retry": job.get("retry"),
        "attempts": list(job.get("attempts", [])),
        "first_at": iso_utc(float(first)) if first else None,
        "next_attempt_at": None,
        "redelivery_of": job.get("redelivery_of"),
    }


def withdrawal_jobs(
    event: dict[str, Any], cfgs: list[MonitorCfg]
) -> list[tuple[str, dict[str, Any]]]:
    """The jobs of one withdrawal event for the monitors that watch its wallet: one event id
    (the same for every monitor), so each job's id names its monitor too."""
    out = []
    for cfg in cfgs:
        if not cfg.get("active", True):
            continue
        job = delivery_job(event, cfg)
        if job is None:
            continue
        digest = hashlib.sha256(f"{event['id']}\x00{cfg['id']}".encode()).hexdigest()[:40]
        out.append((cfg["id"], {**job, "id": "dlv_" + digest}))
    return out
