"""The signer's loop: report the account key for every chain, then long-poll signing requests
and answer each one, signed or refused, after its journal entry is on disk.

One log line per request (logger "blockhook.signer"): its id, withdrawal, chain, nonce and
outcome. Nothing secret is ever logged: the account never leaves this module's hands except
into signing.sign."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from types import FrameType
from typing import Any

from signer import policy as pol
from signer.client import Client, Fatal, PlatformDown, Rejected
from signer.errors import JournalError, KeystoreError, RequestError, SignerError
from signer.journal import Journal, Refused, Signed
from signer.keystore import Account
from signer.request import Request, parse, printable, request_id
from signer.signing import sign

log = logging.getLogger("blockhook.signer")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
MAX_REASON = 1000  # the platform takes refusals up to this length


class Interrupted(Exception):
    """A stop signal came while the runner was only waiting: leave the wait at once."""


def _utc(now: float) -> tuple[str, str]:
    """(RFC 3339 time, UTC day) of a unix time."""
    t = time.gmtime(now)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t), time.strftime("%Y-%m-%d", t)


def _where(item: dict[str, Any]) -> tuple[int | None, str | None, int | None, str | None]:
    """(chain id, sender, nonce, withdrawal id) of even a malformed request, where readable:
    a refused nonce must still block the ones above it."""
    tx, wd = item.get("tx"), item.get("withdrawal")
    tx = tx if isinstance(tx, dict) else {}
    wd = wd if isinstance(wd, dict) else {}
    cid, nonce, sender, wid = tx.get("chainId"), tx.get("nonce"), item.get("from"), wd.get("id")
    return (
        cid if isinstance(cid, int) and not isinstance(cid, bool) else None,
        sender.lower() if isinstance(sender, str) else None,
        nonce if isinstance(nonce, int) and not isinstance(nonce, bool) else None,
        printable(wid),
    )


class Runner:
    """One signer session against one platform."""

    def __init__(
        self,
        account: Account,
        journal: Journal,
        client: Client,
        policy: pol.Policy | None = None,
        *,
        wait: int = 25,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        backoff: tuple[float, float] = (BACKOFF_START_S, BACKOFF_MAX_S),
        pause: Callable[[float], object] | None = None,
    ) -> None:
        self._account = account
        self.journal = journal
        self.client = client
        self.policy = policy or pol.Policy()
        self.wait = wait
        self._clock = clock
        self._jitter = jitter
        self._stop = threading.Event()
        self.busy = False
        self.chain_ids: dict[str, int] = {}
        self._backoff_start, self._backoff_max = backoff
        self._delay = self._backoff_start
        self._pause = pause if pause is not None else self._stop.wait

    def stop(self) -> None:
        """Stop after the request being handled, if any."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _backoff(self, exc: PlatformDown) -> None:
        pause = self._delay * (0.5 + 0.5 * self._jitter())
        log.warning("platform unavailable (%s); retrying in %.1f s", exc, pause)
        self._pause(pause)
        self._delay = min(self._backoff_max, self._delay * 2)

    def _retry(self, call: Callable[[], Any]) -> Any:
        """call() until it stops raising PlatformDown (None when stopped meanwhile)."""
        while not self.stopping:
            try:
                result = call()
            except PlatformDown as exc:
                self._backoff(exc)
                continue
            self._delay = self._backoff_start
            return result
        return None

    def start(self) -> None:
        """Learn the platform's chains and report the account xpub for each."""
        chains = self._retry(self.client.chains)
        if chains is None:
            return
        self.chain_ids = chains
        if not chains:
            log.warning("the platform runs no chain: nothing can be signed")
        xpub, treasury = self._account.xpub(), self._account.treasury_address()
        for chain in chains:
            try:
                wallet = self._retry(partial(self.client.report_wallet, chain, xpub))
            except Rejected as exc:
                raise Fatal(f"chain {chain}: the platform refused the account key: {exc}") from None
            if wallet is None:
                return
            if wallet.get("treasury") not in (None, treasury):
                raise Fatal(
                    f"chain {chain}: the platform's treasury {wallet.get('treasury')} is not "
                    f"this key's {treasury}"
                )
            log.info("chain %s: wallet %s, treasury %s", chain, wallet.get("id"), treasury)

    def run(self) -> int:
        """Until stopped (0) or a fatal error (2, logged)."""
        try:
            self.start()
            while not self.stopping:
                try:
                    items = self._retry(lambda: self.client.requests(self.wait))
                except Rejected as exc:  # a 4xx on the poll itself: say it, wait, try again
                    log.error("the platform refused the poll: %s", exc)
                    self._backoff(PlatformDown(str(exc)))
                    continue
                for item in items or []:
                    if self.stopping:
                        break
                    self.busy = True
                    try:
                        self.handle(item)
                    except PlatformDown as exc:
                        self._backoff(exc)  # the request comes again; the journal knows it
                        break
                    finally:
                        self.busy = False
        except Interrupted:
            pass
        except (Fatal, Rejected, JournalError) as exc:
            log.error("stopping: %s", exc)
            return 2
        log.info("stopped")
        return 0

    def _refuse(self, item: dict[str, Any], reason: str) -> tuple[str, str]:
        cid, sender, nonce, wid = _where(item)
        at, _ = _utc(self._clock())
        reason = reason[:MAX_REASON]
        sid = str(request_id(item))
        self.journal.append(Refused(at, sid, cid, sender, nonce, wid, reason))
        return "refused", reason

    def _entry(self, req: Request, sender: str) -> Signed:
        at, day = _utc(self._clock())
        tx, wd = req.tx, req.withdrawal
        return Signed(
            at=at,
            request_id=req.id,
            chain=req.chain,
            chain_id=tx.chain_id,
            sender=sender,
            nonce=tx.nonce,
            withdrawal_id=wd.id,
            to=tx.to,
            value=str(tx.value),
            data=tx.data,
            gas=tx.gas,
            max_fee_per_gas=str(tx.max_fee_per_gas),
            max_priority_fee_per_gas=str(tx.max_priority_fee_per_gas),
            tx_hash="",
            raw="",
            amount=str(wd.amount),
            asset=wd.asset_key,
            day=day,
        )

    def decide(self, item: dict[str, Any]) -> tuple[str, str]:
        """("signed", raw hex), ("same", the raw hex signed before for this very
        transaction) or ("refused", reason); the journal is written before it returns."""
        try:
            req = parse(item)
            sender = self._account.address(req.path)
        except (RequestError, KeystoreError) as exc:
            return self._refuse(item, f"malformed request: {exc}")
        entry = self._entry(req, sender)
        d = self.journal.decide(entry)
        if d.outcome == "same" and d.raw:
            return "same", d.raw
        if d.outcome == "refuse":
            return self._refuse(item, str(d.reason))
        spent = self.journal.spent_today(
            entry.chain_id, entry.asset, entry.day, entry.withdrawal_id
        )
        reason = pol.check(self.policy, req, sender, spent, self.chain_ids.get(req.chain))
        if reason is not None:
            return self._refuse(item, reason)
        try:
            signed = sign(self._account, req)
        except SignerError as exc:
            return self._refuse(item, str(exc))
        done = replace(entry, tx_hash=signed.hash, raw=signed.raw)
        self.journal.append(done)
        return "signed", signed.raw

    def handle(self, item: dict[str, Any]) -> None:
        """Decide one request, then answer it; PlatformDown when the answer did not get
        through (the request will come again)."""
        sid = request_id(item)
        if sid is None:
            log.warning("a signing request without a usable id: skipped")
            return
        _, _, nonce, wid = _where(item)
        chain = printable(item.get("chain")) or "?"
        outcome, detail = self.decide(item)
        head = f"request {sid} withdrawal {wid} chain {chain} nonce {nonce}"
        if outcome in ("signed", "same"):
            again = " again (the same bytes as before)" if outcome == "same" else ""
            log.info("%s: signed%s", head, again)
            answer: dict[str, str] = {"signed_tx": detail}
        else:
            log.info("%s: refused: %s", head, detail)
            answer = {"refused": detail}
        try:
            self.client.answer(sid, **answer)
        except Rejected as exc:
            log.warning("%s: the platform did not take the answer: %s", head, exc)


def install_signals(runner: Runner) -> Callable[[], None]:
    """SIGTERM and SIGINT stop the runner between requests (at once while it only waits);
    returns what puts the previous handlers back."""

    def handler(signum: int, frame: FrameType | None) -> None:
        runner.stop()
        if not runner.busy:
            raise Interrupted

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return restore
