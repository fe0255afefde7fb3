"""Plain JSON-RPC helpers for anvil: send ETH, deploy and use the test contracts (ERC20,
ERC721, ERC1155), mine blocks. Calldata is encoded with eth-abi, from function signatures."""

from __future__ import annotations

import importlib.resources
import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.abi import function_signature_to_4byte_selector

from core.errors import RpcError

# anvil's first five default accounts (mnemonic "test test ... junk"), unlocked and funded
# with 10000 ETH each; eth_sendTransaction from them needs no private key.
ANVIL_ACCOUNTS: tuple[str, ...] = (
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
    "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
)

# The contract functions called here: selectors and argument types come from the signatures.
ERC20_TRANSFER = "transfer(address,uint256)"
ERC20_TRANSFER_FROM = "transferFrom(address,address,uint256)"  # ERC721's too
ERC20_APPROVE = "approve(address,uint256)"
ERC20_BALANCE_OF = "balanceOf(address)"
TEST_MINT = "mint(address,uint256)"  # TestToken (to, amount) and TestNFT (to, id)
ERC721_SAFE_TRANSFER_FROM = "safeTransferFrom(address,address,uint256)"
ERC721_OWNER_OF = "ownerOf(uint256)"
MULTI_MINT = "mint(address,uint256,uint256)"  # TestMulti (to, id, amount)
MULTI_MINT_BATCH = "mintBatch(address,uint256[],uint256[])"
ERC1155_SAFE_TRANSFER_FROM = "safeTransferFrom(address,address,uint256,uint256,bytes)"
ERC1155_SAFE_BATCH_TRANSFER_FROM = (
    "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)"
)
ERC1155_BALANCE_OF = "balanceOf(address,uint256)"

TOKEN_SYMBOL = "TST"
TOKEN_DECIMALS = 6
DEFAULT_TIMEOUT_S = 30.0

_ids = itertools.count(1)


class TxFailed(RpcError):
    """A transaction was mined with status 0 (reverted) when success was expected."""

    def __init__(self, tx_hash: str, rcpt: dict[str, Any]) -> None:
        super().__init__(f"transaction {tx_hash} reverted in block {rcpt.get('blockNumber')}")
        self.tx_hash = tx_hash
        self.receipt = rcpt


@cache
def artifact(name: str) -> dict[str, Any]:
    """A compiled test contract (abi, bytecode, compiler, source_sha256) shipped in the package:
    TestToken (ERC20), TestNFT (ERC721) or TestMulti (ERC1155)."""
    res = importlib.resources.files("dev").joinpath("contracts", f"{name}.json")
    data = json.loads(res.read_text())
    if not isinstance(data, dict):
        raise RpcError(f"{name}.json is not a JSON object")
    return data


def token_artifact() -> dict[str, Any]:
    """The compiled TestToken (abi, bytecode, compiler, source_sha256) shipped in the package."""
    return artifact("TestToken")


def rpc(url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One JSON-RPC call; returns its result or raises RpcError."""
    body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RpcError(f"{method} at {url}: {exc}") from exc
    if not isinstance(answer, dict):
        raise RpcError(f"{method} at {url}: unexpected answer {answer!r}")
    if answer.get("error") is not None:
        err = answer["error"]
        msg = err.get("message", err) if isinstance(err, dict) else err
        raise RpcError(f"{method} at {url}: {msg}")
    return answer.get("result")


def selector(signature: str) -> str:
    """The 4-byte selector of a function signature such as "transfer(address,uint256)": the
    first 4 bytes of its keccak256, as 8 hex digits without 0x."""
    return function_signature_to_4byte_selector(signature).hex()


@cache
def arg_types(signature: str) -> tuple[str, ...]:
    """The ABI types of a signature's arguments: "f(address,uint256[])" -> address, uint256[].
    Tuple arguments are not supported."""
    name, paren, rest = signature.partition("(")
    inner = rest.removesuffix(")")
    if not name or not paren or not rest.endswith(")") or "(" in inner or ")" in inner:
        raise ValueError(f"not a plain function signature: {signature!r}")
    return tuple(inner.split(",")) if inner else ()


def _encode(types: Sequence[str], args: Sequence[Any]) -> str:
    """eth_abi.encode as hex (no 0x); addresses may be in any case; ValueError if a value
    does not fit its type."""
    if len(types) != len(args):
        raise ValueError(f"{len(args)} arguments for the {len(types)} types {list(types)}")
    values = [a.lower() if isinstance(a, str) else a for a in args]
    try:
        return encode(list(types), values).hex()
    except EncodingError as exc:
        raise ValueError(str(exc)) from exc


def encode_call(signature: str, *args: Any) -> str:
    """Calldata: 0x + the signature's selector + its arguments ABI-encoded (eth-abi), their types
    taken from the signature (static and dynamic: address, uint256, uint256[], bytes, ...)."""
    return "0x" + selector(signature) + _encode(arg_types(signature), args)


AbiArg = int | str | list[int] | bytes


def _infer_type(value: AbiArg) -> str:
    if isinstance(value, int):
        return "uint256"
    if isinstance(value, str):
        return "address"
    if isinstance(value, bytes):
        return "bytes"
    return "uint256[]"


def word(value: int | str) -> str:
    """One 32-byte ABI word (64 hex digits) of an unsigned int or a 0x address."""
    return abi_encode(value)


def abi_encode(*args: AbiArg) -> str:
    """ABI-encode arguments (no 0x) with their types inferred from the values: int is a uint256,
    str an address, list[int] a uint256[] and bytes a `bytes`. encode_call is the surer way."""
    return _encode([_infer_type(a) for a in args], args)


def calldata(selector: str, *args: AbiArg) -> str:
    """0x + selector (8 hex digits) + abi_encode(args)."""
    return "0x" + selector + abi_encode(*args)


calldata_abi = calldata  # the older name, from when calldata took static arguments only


def eth_call(url: str, to: str, signature: str, returns: str, *args: Any) -> Any:
    """Call a view function at the head block (eth_call); returns its one result, decoded as the
    ABI type `returns` (addresses come back lower-case)."""
    result = rpc(url, "eth_call", {"to": to, "data": encode_call(signature, *args)}, "latest")
    try:
        (value,) = decode([returns], bytes.fromhex(str(result).removeprefix("0x")))
    except (DecodingError, ValueError) as exc:
        raise RpcError(f"{signature} at {to}: cannot decode {result!r}: {exc}") from exc
    return value.lower() if returns == "address" else value


def send_tx(
    url: str, frm: str, to: str | None, data: str = "0x", value: int = 0, gas: int | None = None
) -> str:
    """eth_sendTransaction from an unlocked account; returns the tx hash (does not wait)."""
    tx: dict[str, str] = {"from": frm, "data": data, "value": hex(value)}
    if to is not None:
        tx["to"] = to
    if gas is not None:
        tx["gas"] = hex(gas)
    result = rpc(url, "eth_sendTransaction", tx)
    if not isinstance(result, str):
        raise RpcError(f"eth_sendTransaction answered {result!r}")
    return result


def send_eth(url: str, frm: str, to: str, wei: int) -> str:
    """Send wei from an unlocked account; returns the tx hash (does not wait)."""
    return send_tx(url, frm, to, value=wei)


def receipt(url: str, tx: str) -> dict[str, Any] | None:
    """The transaction's receipt, or None while it is not mined."""
    result = rpc(url, "eth_getTransactionReceipt", tx)
    return result if isinstance(result, dict) else None


def wait_receipt(url: str, tx: str, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Poll until the transaction is mined; TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        r = receipt(url, tx)
        if r is not None:
            return r
        if time.monotonic() >= deadline:
            raise TimeoutError(f"transaction {tx} not mined after {timeout:g}s")
        time.sleep(0.1)


def succeeded(rcpt: dict[str, Any]) -> bool:
    """True if the receipt's status is 1."""
    return int(str(rcpt.get("status", "0x0")), 16) == 1


def wait_success(url: str, tx: str, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """wait_receipt, then raise TxFailed unless the transaction succeeded."""
    rcpt = wait_receipt(url, tx, timeout)
    if not succeeded(rcpt):
        raise TxFailed(tx, rcpt)
    return rcpt


def block_number(url: str) -> int:
    """The node's head block number."""
    return int(rpc(url, "eth_blockNumber"), 16)


def eth_balance(url: str, who: str) -> int:
    """Native balance in wei at the head block."""
    return int(rpc(url, "eth_getBalance", who, "latest"), 16)


def mine(url: str, n: int = 1) -> None:
    """Mine n blocks at once (anvil_mine)."""
    rpc(url, "anvil_mine", hex(n))


def impersonate(url: str, address: str, wei: int = 10**20) -> str:
    """Let eth_sendTransaction send from any address (anvil_impersonateAccount) and give it wei
    (anvil_setBalance: no transaction, so no transfer event); returns it lower-case."""
    rpc(url, "anvil_setBalance", address, hex(wei))
    rpc(url, "anvil_impersonateAccount", address)
    return address.lower()


def deploy_contract(url: str, frm: str, name: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Deploy a shipped test contract (see artifact) from an unlocked account and wait for it;
    returns its lower-case address."""
    tx = send_tx(url, frm, None, data=str(artifact(name)["bytecode"]))
    rcpt = wait_success(url, tx, timeout)
    address = rcpt.get("contractAddress")
    if not isinstance(address, str):
        raise RpcError(f"deployment {tx} has no contractAddress")
    return address.lower()


def deploy_token(url: str, frm: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Deploy TestToken from an unlocked account, wait for it; returns its lower-case address."""
    return deploy_contract(url, frm, "TestToken", timeout)


def deploy_nft(url: str, frm: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Deploy TestNFT (ERC721); returns its lower-case address."""
    return deploy_contract(url, frm, "TestNFT", timeout)


def deploy_multi(url: str, frm: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Deploy TestMulti (ERC1155); returns its lower-case address."""
    return deploy_contract(url, frm, "TestMulti", timeout)


def mint(
    url: str, token: str, frm: str, to: str, amount: int, timeout: float = DEFAULT_TIMEOUT_S
) -> str:
    """TestToken.mint(to, amount) sent by frm (anyone may mint); waits for success."""
    tx = send_tx(url, frm, token, data=encode_call(TEST_MINT, to, amount))
    wait_success(url, tx, timeout)
    return tx


def token_transfer(url: str, token: str, frm: str, to: str, amount: int) -> str:
    """ERC20 transfer(to, amount) sent by frm; returns the tx hash (does not wait)."""
    return send_tx(url, frm, token, data=encode_call(ERC20_TRANSFER, to, amount))


def token_approve(url: str, token: str, frm: str, spender: str, amount: int) -> str:
    """ERC20 approve(spender, amount) sent by frm; returns the tx hash (does not wait)."""
    return send_tx(url, frm, token, data=encode_call(ERC20_APPROVE, spender, amount))


def token_transfer_from(url: str, token: str, frm: str, owner: str, to: str, amount: int) -> str:
    """ERC20 transferFrom(owner, to, amount) sent by frm; returns the tx hash (does not wait)."""
    return send_tx(url, frm, token, data=encode_call(ERC20_TRANSFER_FROM, owner, to, amount))


def token_balance(url: str, token: str, who: str) -> int:
    """ERC20 balanceOf(who) at the head block."""
    return int(eth_call(url, token, ERC20_BALANCE_OF, "uint256", who))


def nft_mint(url: str, nft: str, frm: str, to: str, token_id: int) -> str:
    """TestNFT.mint(to, id) sent by frm (anyone may mint); returns the tx hash (does not wait)."""
    return send_tx(url, frm, nft, data=encode_call(TEST_MINT, to, token_id))


def nft_transfer(url: str, nft: str, frm: str, to: str, token_id: int, safe: bool = False) -> str:
    """ERC721 transferFrom(frm, to, id) (or safeTransferFrom) sent by the owner frm; returns the
    tx hash (does not wait)."""
    sig = ERC721_SAFE_TRANSFER_FROM if safe else ERC20_TRANSFER_FROM
    return send_tx(url, frm, nft, data=encode_call(sig, frm, to, token_id))


def nft_owner(url: str, nft: str, token_id: int) -> str:
    """ERC721 ownerOf(id) at the head block (lower-case)."""
    return str(eth_call(url, nft, ERC721_OWNER_OF, "address", token_id))


def multi_mint(url: str, multi: str, frm: str, to: str, token_id: int, amount: int) -> str:
    """TestMulti.mint(to, id, amount) sent by frm; returns the tx hash (does not wait)."""
    return send_tx(url, frm, multi, data=encode_call(MULTI_MINT, to, token_id, amount))


def multi_mint_batch(
    url: str, multi: str, frm: str, to: str, ids: list[int], amounts: list[int]
) -> str:
    """TestMulti.mintBatch(to, ids, amounts) sent by frm; returns the tx hash (does not wait)."""
    return send_tx(url, frm, multi, data=encode_call(MULTI_MINT_BATCH, to, ids, amounts))


def multi_transfer(
    url: str, multi: str, frm: str, to: str, token_id: int, amount: int, data: bytes = b""
) -> str:
    """ERC1155 safeTransferFrom(frm, to, id, amount, data) sent by frm (does not wait)."""
    cd = encode_call(ERC1155_SAFE_TRANSFER_FROM, frm, to, token_id, amount, data)
    return send_tx(url, frm, multi, data=cd)


def multi_batch_transfer(
    url: str,
    multi: str,
    frm: str,
    to: str,
    ids: list[int],
    amounts: list[int],
    data: bytes = b"",
) -> str:
    """ERC1155 safeBatchTransferFrom(frm, to, ids, amounts, data) sent by frm (does not wait)."""
    cd = encode_call(ERC1155_SAFE_BATCH_TRANSFER_FROM, frm, to, ids, amounts, data)
    return send_tx(url, frm, multi, data=cd)


def multi_balance(url: str, multi: str, who: str, token_id: int) -> int:
    """ERC1155 balanceOf(who, id) at the head block."""
    return int(eth_call(url, multi, ERC1155_BALANCE_OF, "uint256", who, token_id))


@dataclass
class FailingCall:
    """A token transfer of more than the sender holds: mined as a failed transaction (status 0).

    anvil (1.7.1) mines reverting transactions sent with eth_sendTransaction, with or
    without automine. Without a gas field it cannot estimate gas for a reverting call and
    falls back to the block gas limit (30M), which crowds every other transaction out of
    that block, so an explicit gas limit is always sent here.
    """

    url: str
    token: str
    frm: str
    to: str
    amount: int | None = None  # default: the sender's balance + 1
    gas: int = 100_000

    def send(self) -> str:
        """Send it; returns the tx hash (does not wait)."""
        amount = self.amount
        if amount is None:
            amount = token_balance(self.url, self.token, self.frm) + 1
        data = encode_call(ERC20_TRANSFER, self.to, amount)
        return send_tx(self.url, self.frm, self.token, data=data, gas=self.gas)

    def run(self, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """Send it and wait; returns the receipt, checked to have status 0."""
        tx = self.send()
        rcpt = wait_receipt(self.url, tx, timeout)
        if succeeded(rcpt):
            raise RpcError(f"transaction {tx} was meant to revert but succeeded")
        return rcpt
