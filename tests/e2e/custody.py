"""The custody stack shared by every end-to-end test of withdrawals (the withdrawals tests and
the console's): principals with keys, the real blockhook-signer and its wallet, a treasury
funded once. Session-scoped, so the treasury is funded once whichever module asks first."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dev import chaintools as ct
from dev.devsigner import DevSigner
from dev.devstack import DevStack
from tests.e2e.conftest import api
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.traffic import wait_until
from transport.apiclient import ApiClient

FUNDING = 100 * 10**18


@dataclass
class Custody:
    """The principals, the signer and its wallet on the shared stack."""

    stack: DevStack
    alice: ApiClient  # operator and approver: requests (and may approve others')
    bob: ApiClient  # approver
    bob2: ApiClient  # approver: bob's second key
    carol: ApiClient  # approver
    signer: DevSigner
    wallet: dict[str, Any]
    admin: ApiClient | None = None  # reads as this admin (default: the stack's)

    def via(self, url: str) -> Custody:
        """The same principals, asking the worker at `url` (another worker of the group)."""

        def moved(c: ApiClient) -> ApiClient:
            return dataclasses.replace(c, url=url)

        admin = self.admin or self.stack.admin
        assert admin is not None
        return dataclasses.replace(
            self,
            alice=moved(self.alice),
            bob=moved(self.bob),
            bob2=moved(self.bob2),
            carol=moved(self.carol),
            admin=moved(admin),
        )

    def _read(self, path: str) -> tuple[int, Any]:
        if self.admin is not None:
            return self.admin.call("GET", path)
        return api(self.stack, "GET", path)

    @property
    def rpc(self) -> str:
        return self.stack.cfg.rpc_url

    @property
    def treasury(self) -> str:
        return str(self.wallet["treasury"])

    def get(self, wid: str) -> dict[str, Any]:
        status, rec = self._read(f"/v1/withdrawals/{wid}")
        assert status == 200, rec
        return dict(rec)

    def request(
        self, to: str, amount: int, asset: Any = "native", who: ApiClient | None = None
    ) -> dict[str, Any]:
        body = {"wallet_id": self.wallet["id"], "to": to, "asset": asset, "amount": str(amount)}
        status, rec = (who or self.alice).call(
            "POST", "/v1/withdrawals", body, headers={"idempotency-key": secrets.token_hex(8)}
        )
        assert status == 201, rec
        assert rec["status"] == "pending_approval" and rec["approvals"] == []
        return dict(rec)

    def decide(self, who: ApiClient, wid: str, verb: str = "approve") -> tuple[int, Any]:
        kind = "withdrawal-batches" if wid.startswith("wbt_") else "withdrawals"
        body = {"reason": "no"} if verb == "reject" else None
        return who.call("POST", f"/v1/{kind}/{wid}/{verb}", body)

    def approve_twice(self, wid: str) -> None:
        for who in (self.bob, self.carol):
            status, rec = self.decide(who, wid)
            assert status == 200, rec

    def until(self, wid: str, status: str, timeout_s: float = 90.0) -> dict[str, Any]:
        """Mine a block now and then (the stack's anvil mines only on transactions) until
        the withdrawal reaches `status`."""

        def reached() -> dict[str, Any] | None:
            rec = self.get(wid)
            if rec["status"] == status:
                return rec
            if rec["status"] in ("broadcast", "confirmed"):
                ct.mine(self.rpc)
            return None

        rec: dict[str, Any] = wait_until(reached, timeout_s, f"{wid} {status}")
        return rec

    def treasury_balance(self, kind: str = "native", contract: str | None = None) -> int:
        status, b = self._read(f"/v1/balances?wallet_id={self.wallet['id']}")
        assert status == 200, b
        for i in b["items"]:
            a = i["asset"]
            if i["user_ref"] is None and a["kind"] == kind and a.get("contract") == contract:
                return int(i["amount"])
        return 0


def make_custody(stack: DevStack, signer_url: str | None = None) -> Custody:
    """Principals with keys, a signer (talking to `signer_url`, default the stack's worker)
    with its wallet, and its treasury funded."""
    signer = stack.start_signer(url=signer_url)
    wallet = wait_until(stack.signer_wallet, 60, "the signer's wallet")
    c = Custody(
        stack,
        stack.new_client("alice", ["operator", "approver"]),
        stack.new_client("bob", ["approver"]),
        stack.new_client("bob", ["approver"]),
        stack.new_client("carol", ["approver"]),
        signer,
        wallet,
    )
    ct.wait_success(c.rpc, ct.send_eth(c.rpc, FUNDER, c.treasury, FUNDING))
    ct.mine(c.rpc, 3)
    wait_until(lambda: c.treasury_balance() == FUNDING, 60, "the treasury funded")
    return c


@pytest.fixture(scope="session")
def custody(stack: DevStack) -> Iterator[Custody]:
    c = make_custody(stack)
    yield c
    c.signer.stop()


def fresh_address() -> str:
    return "0x" + secrets.token_hex(20)
