"""The demo's withdrawal: the dev signer's treasury is funded, one withdrawal is requested
by one demo principal, approved by two others, signed by the signer, broadcast and
confirmed; each step is printed as it happens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from core.errors import BlockhookError
from dev import chaintools as ct
from dev.devstack import DevStack

STEP_TIMEOUT_S = 90.0


class DemoError(BlockhookError):
    """The demo's withdrawal did not go through."""


def _until(what: str, pred: Callable[[], Any], timeout_s: float = STEP_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise DemoError(f"timed out waiting for {what}")


def _ok(answer: tuple[int, Any], want: int = 200) -> dict[str, Any]:
    status, body = answer
    if status != want:
        raise DemoError(f"the API answered {status}: {body}")
    return dict(body)


def run_withdrawal(stack: DevStack, funder: str, to: str, say: Callable[[str], None]) -> str:
    """One withdrawal of 1 ETH from the signer's treasury to `to`; returns its id."""
    admin = stack.admin
    assert admin is not None
    rpc = stack.cfg.rpc_url

    wallet = _until("the signer's wallet", stack.signer_wallet)
    treasury = str(wallet["treasury"])
    say(f"signer wallet {wallet['id']}: treasury {treasury} (m/44'/60'/0'/1/0)")
    ct.send_eth(rpc, funder, treasury, 10 * 10**18)

    def funded() -> bool:
        items = _ok(admin.call("GET", f"/v1/balances?wallet_id={wallet['id']}"))["items"]
        return any(i["user_ref"] is None and int(i["amount"]) > 0 for i in items)

    _until("the treasury's deposit to confirm", funded)
    say("treasury funded with 10 ETH (confirmed)")
    requester = stack.new_client("demo-requester", ["operator"])
    approvers = [stack.new_client(f"demo-approver-{i}", ["approver"]) for i in (1, 2)]
    body = {"wallet_id": wallet["id"], "to": to, "asset": "native", "amount": str(10**18)}
    idem = {"idempotency-key": secrets.token_hex(8)}
    rec = _ok(requester.call("POST", "/v1/withdrawals", body, headers=idem), 201)
    wid = str(rec["id"])
    say(f"withdrawal {wid}: 1 ETH to {to} requested by demo-requester")
    for i, a in enumerate(approvers, 1):
        rec = _ok(a.call("POST", f"/v1/withdrawals/{wid}/approve"))
        say(f"withdrawal {wid}: approved by demo-approver-{i} ({rec['status']})")
    seen: set[str] = set()

    def progressed() -> dict[str, Any] | None:
        r = _ok(admin.call("GET", f"/v1/withdrawals/{wid}"))
        if r["status"] not in seen:
            seen.add(r["status"])
            extra = f" tx {r['tx_hash']} nonce {r['nonce']}" if r.get("tx_hash") else ""
            say(f"withdrawal {wid}: {r['status']}{extra}")
        if r["status"] == "failed":
            raise DemoError(f"withdrawal {wid} failed: {r['error']}")
        return r if r["status"] == "confirmed" else None

    _until(f"withdrawal {wid} to confirm", progressed)
    return wid
