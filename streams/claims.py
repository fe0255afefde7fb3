"""Request claims: the log that decides replayed nonces and idempotency keys across workers.

Every signed request is recorded as a claim on one partition per principal (so one order for
each of its keys). A state-changing request waits until its own claim comes back from the
log, and the fold's decision for it is the same on every worker, because it depends only on
the order of the log: the first claim of a nonce goes ahead and a later one is a replay; the
first claim of an idempotency key executes and publishes its answer as a result record, and
every later claim of that key gets that answer back (or 409 if its request differs). A
request that gave up waiting for its decision (and so never ran) abandons its claim, which
frees a key it may have won."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.nonces import NonceBook

IDEMPOTENCY_TTL_S = 86_400.0

Verdict = Literal["go", "replayed", "replay", "wait", "mismatch"]


def fingerprint(method: str, path_and_query: str, body_hash: str) -> str:
    """What must match for a second request with an idempotency key to be the same one."""
    return hashlib.sha256(f"{method.upper()}\n{path_and_query}\n{body_hash}".encode()).hexdigest()


def claim_record(
    claim_id: str,
    principal: str,
    key_id: str,
    nonce: str,
    timestamp: int,
    at: float,
    idem: str | None,
    print_: str | None,
) -> dict[str, Any]:
    """A claim as it goes on the log (nothing secret in it)."""
    return {
        "type": "claim",
        "id": claim_id,
        "principal": principal,
        "key_id": key_id,
        "nonce": nonce,
        "ts": timestamp,
        "at": at,
        "idem": idem,
        "fingerprint": print_,
    }


def abandon_record(claim_id: str, principal: str, at: float) -> dict[str, Any]:
    """A claim whose request gave up before running (its decision came too late): the
    idempotency key it may have won is free again, so a retry is not stuck."""
    return {"type": "abandon", "claim": claim_id, "principal": principal, "at": at}


def result_record(
    claim_id: str, principal: str, idem: str, at: float, status: int, sealed_body: dict[str, str]
) -> dict[str, Any]:
    """The first answer to an idempotency key, its body sealed (answers can hold secrets)."""
    return {
        "type": "result",
        "claim": claim_id,
        "principal": principal,
        "idem": idem,
        "at": at,
        "status": status,
        "body": sealed_body,
    }


@dataclass(slots=True)
class Slot:
    """One idempotency key of one principal: who executes it, and its answer once known."""

    winner: str
    fingerprint: str
    at: float
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The log's verdict on a claim; `winner` is the claim whose answer counts."""

    verdict: Verdict
    winner: str | None = None


@dataclass
class ClaimBook:
    """The fold of the claims log. Decisions are kept only for claims this worker awaits
    (`expect`), so memory follows this worker's own requests in flight."""

    ttl_s: float = IDEMPOTENCY_TTL_S
    nonces: NonceBook = field(default_factory=NonceBook)
    slots: dict[tuple[str, str], Slot] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    expecting: set[str] = field(default_factory=set)
    _by_winner: dict[str, tuple[str, str]] = field(default_factory=dict)

    def expect(self, claim_id: str) -> None:
        """Keep the decision on this claim when it is folded."""
        self.expecting.add(claim_id)

    def take(self, claim_id: str) -> Decision | None:
        """The decision on an awaited claim (once folded), forgetting it."""
        d = self.decisions.pop(claim_id, None)
        if d is not None:
            self.expecting.discard(claim_id)
        return d

    def forget(self, claim_id: str) -> None:
        """Stop awaiting a claim (its request gave up)."""
        self.expecting.discard(claim_id)
        self.decisions.pop(claim_id, None)

    def result_of(self, winner: str) -> dict[str, Any] | None:
        """The result record published for the winning claim, if it has come."""
        k = self._by_winner.get(winner)
        slot = self.slots.get(k) if k else None
        return slot.result if slot is not None and slot.winner == winner else None

    def apply(self, rec: dict[str, Any]) -> None:
        """Fold one record of the log (records of any other shape are ignored)."""
        kind = rec.get("type")
        if kind == "claim":
            self._claim(rec)
        elif kind == "result":
            self._result(rec)
        elif kind == "abandon":
            self._abandon(rec)

    def _claim(self, rec: dict[str, Any]) -> None:
        try:
            cid, at = str(rec["id"]), float(rec["at"])
            key_id, nonce, ts = str(rec["key_id"]), str(rec["nonce"]), float(rec["ts"])
        except (KeyError, TypeError, ValueError):
            return
        if cid in self.decisions:
            return  # the same record twice (a producer's retry): the first decision stands
        decision = self._decide(rec, cid, at, key_id, nonce, ts)
        if cid in self.expecting:
            self.decisions[cid] = decision

    def _decide(
        self, rec: dict[str, Any], cid: str, at: float, key_id: str, nonce: str, ts: float
    ) -> Decision:
        if not self.nonces.use(key_id, nonce, ts, at):
            return Decision("replayed")
        idem = rec.get("idem")
        if not idem:
            return Decision("go")
        k = (str(rec.get("principal")), str(idem))
        slot = self.slots.get(k)
        if slot is not None and at - slot.at > self.ttl_s:
            self._drop(k)
            slot = None
        print_ = str(rec.get("fingerprint"))
        if slot is None:
            self.slots[k] = Slot(cid, print_, at)
            self._by_winner[cid] = k
            return Decision("go", cid)
        if slot.fingerprint != print_:
            return Decision("mismatch", slot.winner)
        return Decision("replay" if slot.result is not None else "wait", slot.winner)

    def _result(self, rec: dict[str, Any]) -> None:
        k = self._by_winner.get(str(rec.get("claim")))
        if k is not None and self.slots[k].result is None:
            self.slots[k].result = rec

    def _abandon(self, rec: dict[str, Any]) -> None:
        k = self._by_winner.get(str(rec.get("claim")))
        if k is not None and self.slots[k].result is None:
            self._drop(k)

    def _drop(self, k: tuple[str, str]) -> None:
        slot = self.slots.pop(k)
        self._by_winner.pop(slot.winner, None)

    def expire(self, now: float) -> None:
        """Forget idempotency keys older than the TTL and nonces past their window."""
        for k in [k for k, s in self.slots.items() if now - s.at > self.ttl_s]:
            self._drop(k)
        self.nonces.expire(now)
