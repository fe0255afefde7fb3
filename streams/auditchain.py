"""The audit log's hash chain: each record's hash covers the previous hash and the record.

`hash` = sha256 hex of the previous record's hash (64 zeros for the first) followed by the
record without `hash`, as JSON with sorted keys, no spaces and UTF-8 unescaped. `seq` counts
from 1 with no gap. One writer (the chainer, owning the single partition of the entries'
topic) chains; anyone can verify."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, non-ASCII as UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The hash of a record (its own `hash` field, if any, left out)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """Where the chain ends: the last seq and its hash."""

    seq: int = 0
    hash: str = GENESIS


def chain(head: Head, entry: Mapping[str, Any]) -> tuple[dict[str, Any], Head]:
    """The record that follows head for this entry, and the new head."""
    rec = {k: v for k, v in entry.items() if k not in ("seq", "prev_hash", "hash")}
    rec["seq"] = head.seq + 1
    rec["prev_hash"] = head.hash
    rec["hash"] = record_hash(head.hash, rec)
    return rec, Head(rec["seq"], rec["hash"])


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of `GET /v1/audit/verify`."""

    ok: bool
    records: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None

    def answer(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "records": self.records, "head": self.head}
        if not self.ok:
            out["bad_seq"] = self.bad_seq
            out["reason"] = self.reason
        return out


def verify(records: Iterable[Mapping[str, Any]]) -> Verdict:
    """Walk the chain from the start: the first record out of sequence, linked to the wrong
    predecessor or with a hash that does not match its content is named."""
    prev = GENESIS
    n = 0
    for rec in records:
        expected = n + 1
        seq = rec.get("seq")
        if type(seq) is not int or seq != expected:
            return Verdict(False, n, prev, expected, f"seq {seq} where {expected} was due")
        if rec.get("prev_hash") != prev:
            return Verdict(False, n, prev, expected, "prev_hash is not the previous hash")
        if rec.get("hash") != record_hash(prev, rec):
            return Verdict(False, n, prev, expected, "hash does not match the record")
        prev = str(rec["hash"])
        n = expected
    return Verdict(True, n, prev)


ENTRY_FIELDS = (
    "id",
    "at",
    "principal",
    "key_id",
    "ip",
    "action",
    "target",
    "request_id",
    "outcome",
    "status",
    "detail",
)


def entry_from(value: object) -> dict[str, Any] | None:
    """An entry to chain, as the API published it: its fields in the record's shape, or
    None if it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    if not isinstance(value.get("action"), str) or not isinstance(value.get("status"), int):
        return None
    entry = {f: value.get(f) for f in ENTRY_FIELDS}
    if not isinstance(entry["detail"], dict):
        entry["detail"] = {}
    return entry


def new_entry(
    request_id: str,
    at: str,
    principal: str,
    key_id: str | None,
    ip: str | None,
    action: str,
    target: str | None,
    outcome: str,
    status: int,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """An entry as the API publishes it for the chainer (its id follows from the request's,
    so a retried publish is chained once)."""
    return {
        "id": "aud_" + request_id,
        "at": at,
        "principal": principal,
        "key_id": key_id,
        "ip": ip,
        "action": action,
        "target": target,
        "request_id": request_id,
        "outcome": outcome,
        "status": status,
        "detail": detail,
    }
