"""The journal: every signature and refusal, JSON lines at `<keystore>.journal`, fsynced
before the answer leaves the program.

It is what keeps a compromised or confused platform from getting two transactions for one
(chain id, sender, nonce), one withdrawal at two nonces, past the daily limit, or a hole in
a sender's nonces (docs/withdrawals.md, "Journal" and "Gaps"). It holds public data only:
signed transactions are public once broadcast; keys never reach it."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

from signer.errors import JournalError

log = logging.getLogger("blockhook.signer")

Outcome = Literal["same", "ok", "refuse"]
SAME_TX_FIELDS = (
    "withdrawal_id",
    "to",
    "value",
    "data",
    "gas",
    "max_fee_per_gas",
    "max_priority_fee_per_gas",
)


@dataclass(frozen=True)
class Signed:
    """One signature."""

    at: str
    request_id: str
    chain: str
    chain_id: int
    sender: str
    nonce: int
    withdrawal_id: str
    to: str
    value: str
    data: str
    gas: int
    max_fee_per_gas: str
    max_priority_fee_per_gas: str
    tx_hash: str
    raw: str
    amount: str
    asset: str
    day: str

    def same_tx(self, other: Signed) -> bool:
        """Whether other asks for exactly this transaction (then its bytes are these)."""
        keys = SAME_TX_FIELDS
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class Refused:
    """One refusal; a nonce of None (a request too malformed to have one) blocks nothing."""

    at: str
    request_id: str
    chain_id: int | None
    sender: str | None
    nonce: int | None
    withdrawal_id: str | None
    reason: str


@dataclass(frozen=True)
class Decision:
    """What the journal says of a transaction to sign: "same" (raw: the bytes signed
    before), "ok", or "refuse" with the reason."""

    outcome: Outcome
    reason: str | None = None
    raw: str | None = None


def _entry(doc: Any) -> Signed | Refused:
    """One line's entry; ValueError/TypeError/KeyError when it is not one."""
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    kind = doc.pop("kind")
    cls: type[Signed] | type[Refused] = Signed if kind == "signed" else Refused
    if kind not in ("signed", "refused"):
        raise ValueError(f"kind {kind!r}")
    entry = cls(**doc)
    # The annotations are strings here ("int", "str | None"): check each value against them.
    for name, f in cls.__dataclass_fields__.items():
        v, want = getattr(entry, name), str(f.type)
        if v is None and want.endswith("| None"):
            continue
        base = int if want.startswith("int") else str
        if not isinstance(v, base) or isinstance(v, bool):
            raise TypeError(f"{name} is not {want}")
    return entry


class Journal:
    """The journal of one keystore, loaded at start and appended to for each answer. It
    holds an exclusive lock on the file, so two signers never share it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._by_nonce: dict[tuple[int, str, int], list[Signed]] = {}
        self._by_withdrawal: dict[str, Signed] = {}  # its first signature
        self._refused: dict[tuple[int, str], set[int]] = {}
        self._file: IO[bytes] | None = None
        self._load()

    @staticmethod
    def for_keystore(keystore: str | Path) -> Journal:
        return Journal(str(keystore) + ".journal")

    def _open(self) -> IO[bytes]:
        new = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        f = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise JournalError(f"{self.path} is in use by another signer") from None
        if new:
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return f

    def _load(self) -> None:
        try:
            f = self._open()
        except OSError as exc:
            raise JournalError(f"{self.path}: {exc.strerror or type(exc).__name__}") from None
        self._file = f
        f.seek(0)
        data = f.read()
        lines = data.split(b"\n")
        torn = lines.pop()  # what follows the last newline: b"" unless a write was cut
        for number, line in enumerate(lines, 1):
            try:
                self._index(_entry(json.loads(line)))
            except (ValueError, TypeError, KeyError) as exc:
                f.close()
                self._file = None
                raise JournalError(
                    f"{self.path} line {number} is corrupt ({type(exc).__name__}); "
                    "the signer will not run on a damaged journal"
                ) from None
        if torn:
            log.warning(
                "journal %s: the last line was cut short (a crash while writing); ignored",
                self.path,
            )
            f.truncate(len(data) - len(torn))
            os.fsync(f.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _index(self, e: Signed | Refused) -> None:
        if isinstance(e, Signed):
            self._by_nonce.setdefault((e.chain_id, e.sender, e.nonce), []).append(e)
            self._by_withdrawal.setdefault(e.withdrawal_id, e)
        elif e.chain_id is not None and e.sender is not None and e.nonce is not None:
            self._refused.setdefault((e.chain_id, e.sender), set()).add(e.nonce)

    def append(self, e: Signed | Refused) -> None:
        """Write e and fsync: only then may its answer be sent."""
        if self._file is None:
            raise JournalError(f"{self.path} is closed")
        doc = {"kind": "signed" if isinstance(e, Signed) else "refused", **asdict(e)}
        line = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        try:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise JournalError(f"{self.path}: {exc.strerror or type(exc).__name__}") from None
        self._index(e)

    def decide(self, e: Signed) -> Decision:
        """Whether the transaction of e (not yet signed: tx_hash and raw unused) may be
        signed under the journal's rules."""
        key = (e.chain_id, e.sender, e.nonce)
        before = self._by_nonce.get(key, [])
        for old in before:
            if old.same_tx(e):
                return Decision("same", raw=old.raw)
        if before:
            first = before[0]
            replacement = all(
                old.withdrawal_id == e.withdrawal_id
                and (old.to, old.value, old.data) == (e.to, e.value, e.data)
                and int(e.max_fee_per_gas) >= int(old.max_fee_per_gas)
                and int(e.max_priority_fee_per_gas) >= int(old.max_priority_fee_per_gas)
                for old in before
            )
            if replacement:
                return Decision("ok")
            return Decision(
                "refuse",
                f"nonce {e.nonce} of {e.sender} is signed already for another transaction "
                f"(withdrawal {first.withdrawal_id})",
            )
        done = self._by_withdrawal.get(e.withdrawal_id)
        if done is not None:
            return Decision(
                "refuse",
                f"withdrawal {e.withdrawal_id} is signed already at nonce {done.nonce} "
                f"of {done.sender} on chain id {done.chain_id}",
            )
        gaps = [
            n
            for n in self._refused.get((e.chain_id, e.sender), set())
            if n < e.nonce and (e.chain_id, e.sender, n) not in self._by_nonce
        ]
        if gaps:
            return Decision(
                "refuse",
                f"nonce {min(gaps)} of {e.sender} was refused and is not signed yet: "
                f"nothing above it is signed until it is",
            )
        return Decision("ok")

    def spent_today(self, chain_id: int, asset: str, day: str, excluding: str | None = None) -> int:
        """What withdrawals first signed on UTC day took of asset on chain_id, in base
        units (a fee replacement does not count twice; excluding leaves one withdrawal out)."""
        return sum(
            int(e.amount)
            for e in self._by_withdrawal.values()
            if e.chain_id == chain_id
            and e.asset == asset
            and e.day == day
            and e.withdrawal_id != excluding
        )

    def signed_withdrawal(self, withdrawal_id: str) -> bool:
        """Whether this withdrawal has a signature already (a request now is a replacement)."""
        return withdrawal_id in self._by_withdrawal
