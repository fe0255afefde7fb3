"""HD derivation against independent oracles: BIP-32 test vectors and eth-account."""

from __future__ import annotations

import hashlib

import pytest
from bip_utils import (
    Base58Decoder,
    Base58Encoder,
    Bip32Secp256k1,
    Bip39SeedGenerator,
    Bip44,
    Bip44Coins,
    EthAddrEncoder,
)
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.hd import (
    TPUB,
    XPUB,
    Deriver,
    XpubError,
    address_of,
    ckd_pub,
    derive_range,
    looks_private,
    parse_account_xpub,
)

MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"

# BIP-32 test vectors 1 and 2 (https://github.com/bitcoin/bips/blob/master/bip-0032.mediawiki):
# (parent xpub, non-hardened child index, child xpub) for every public step the vectors give.
VECTORS = [
    # vector 1: m/0H -> m/0H/1
    (
        "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
        1,
        "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
    ),
    # vector 1: m/0H/1/2H -> m/0H/1/2H/2
    (
        "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
        2,
        "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
    ),
    # vector 1: m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000
    (
        "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
        1000000000,
        "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
    ),
    # vector 2: m -> m/0
    (
        "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
        0,
        "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
    ),
    # vector 2: m/0/2147483647H -> m/0/2147483647H/1
    (
        "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
        1,
        "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
    ),
    # vector 2: m/0/2147483647H/1/2147483646H -> .../2
    (
        "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
        2,
        "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
    ),
]


def _child_xpub(parent: str, index: int) -> str:
    """Serialise ckd_pub's child as an xpub (our code only; no bip-utils derivation)."""
    raw = Base58Decoder.CheckDecode(parent)
    depth, cc, key = raw[4], raw[13:45], raw[45:78]
    child, child_cc = ckd_pub(key, cc, index)
    fp = hashlib.new("ripemd160", hashlib.sha256(key).digest()).digest()[:4]
    out = raw[:4] + bytes([depth + 1]) + fp + index.to_bytes(4, "big") + child_cc + child
    return str(Base58Encoder.CheckEncode(out))


@pytest.mark.parametrize(("parent", "index", "child"), VECTORS)
def test_bip32_vectors_public_derivation(parent: str, index: int, child: str) -> None:
    assert _child_xpub(parent, index) == child


def account_xpub(mnemonic: str = MNEMONIC, account: int = 0) -> str:
    seed = Bip39SeedGenerator(mnemonic).Generate()
    acc = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(account)
    return str(acc.PublicKey().ToExtended())


@pytest.mark.parametrize("account", [0, 1, 7])
def test_addresses_match_eth_account(account: int) -> None:
    Account.enable_unaudited_hdwallet_features()
    key = parse_account_xpub(account_xpub(account=account), testnet_ok=False)
    assert key.account == account
    d = Deriver(key)
    for i in [0, 1, 2, 9, 100, 2**31 - 1]:
        want = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/{account}'/0/{i}").address
        assert d.address(i) == want.lower(), i
        assert key.path(i) == f"m/44'/60'/{account}'/0/{i}"


def test_anvil_account_zero() -> None:
    assert Deriver(parse_account_xpub(account_xpub(), False)).address(0) == ANVIL_0


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_fast_path_agrees_with_bip_utils(index: int) -> None:
    xpub = account_xpub()
    want = Bip32Secp256k1.FromExtendedKey(xpub).ChildKey(0).ChildKey(index)
    got = Deriver(parse_account_xpub(xpub, False)).address(index)
    assert got == EthAddrEncoder.EncodeKey(want.PublicKey().KeyObject()).lower()
    assert address_of(want.PublicKey().RawCompressed().ToBytes()) == got


def test_derive_range_and_bounds() -> None:
    xpub = account_xpub()
    pairs = derive_range(xpub, False, 5, 3)
    assert [i for i, _ in pairs] == [5, 6, 7]
    d = Deriver(parse_account_xpub(xpub, False))
    assert pairs[0][1] == d.address(5)
    with pytest.raises(ValueError):
        d.address(2**31)
    with pytest.raises(ValueError):
        d.address(-1)


def _reencode(
    xpub: str,
    version: int | None = None,
    depth: int | None = None,
    index: int | None = None,
    key: bytes | None = None,
) -> str:
    raw = bytearray(Base58Decoder.CheckDecode(xpub))
    if version is not None:
        raw[:4] = version.to_bytes(4, "big")
    if depth is not None:
        raw[4] = depth
    if index is not None:
        raw[9:13] = index.to_bytes(4, "big")
    if key is not None:
        raw[45:78] = key
    return str(Base58Encoder.CheckEncode(bytes(raw)))


def _code(text: object, testnet_ok: bool = False) -> str:
    with pytest.raises(XpubError) as e:
        parse_account_xpub(text, testnet_ok)
    assert not isinstance(text, str) or not text or text not in e.value.message
    return e.value.code


def test_refusals() -> None:
    xpub = account_xpub()
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    xprv = str(
        Bip44.FromSeed(seed, Bip44Coins.ETHEREUM)
        .Purpose()
        .Coin()
        .Account(0)
        .PrivateKey()
        .ToExtended()
    )
    assert xprv.startswith("xprv")
    assert _code(xprv) == "private_key_refused"
    # private key data under a public version (key byte 0x00) is refused too
    priv_raw = Base58Decoder.CheckDecode(xprv)[45:78]
    assert _code(_reencode(xpub, key=priv_raw)) == "private_key_refused"
    assert _code(_reencode(xprv, version=TPUB)) == "private_key_refused"
    assert _code(MNEMONIC) == "private_key_refused"
    assert _code("0x" + "ab" * 32) == "private_key_refused"
    assert looks_private("xprv-anything")
    assert _code(xpub[:-1] + ("A" if xpub[-1] != "A" else "B")) == "invalid_xpub"  # checksum
    assert _code("xpub123") == "invalid_xpub"
    assert _code("") == "invalid_xpub"
    assert _code(12) == "invalid_xpub"
    assert _code(xpub + "\n" + "0" * 3) == "invalid_xpub"
    tpub = _reencode(xpub, version=TPUB)
    assert tpub.startswith("tpub")
    assert _code(tpub) == "wrong_network"
    assert parse_account_xpub(tpub, testnet_ok=True).testnet
    assert _code(_reencode(xpub, version=0x04B24746)) == "unsupported_key_type"  # zpub
    assert _code(_reencode(xpub, depth=2)) == "wrong_depth"
    assert _code(_reencode(xpub, depth=4)) == "wrong_depth"
    assert _code(_reencode(xpub, index=0)) == "wrong_depth"  # not hardened
    assert _code(_reencode(xpub, key=b"\x02" + b"\xff" * 32)) == "invalid_xpub"  # off curve
    assert _code(_reencode(xpub, version=0x01020304)) == "invalid_xpub"
    assert parse_account_xpub(xpub, False).xpub == xpub
    assert XPUB == 0x0488B21E


def test_treasury_is_account_change_1_index_0_as_bip_utils_derives_it() -> None:
    from bip_utils import Bip32Slip10Secp256k1, Bip39SeedGenerator
    from eth_account import Account

    from chain.hd import parse_account_xpub, treasury_address, treasury_path

    words = "test test test test test test test test test test test junk"
    root = Bip32Slip10Secp256k1.FromSeed(Bip39SeedGenerator(words).Generate())
    account = root.DerivePath("m/44'/60'/0'")
    key = parse_account_xpub(account.PublicKey().ToExtended(), testnet_ok=False)
    priv = root.DerivePath("m/44'/60'/0'/1/0").PrivateKey().Raw().ToBytes()
    assert treasury_address(key) == Account.from_key(priv).address.lower()
    assert treasury_path(key) == "m/44'/60'/0'/1/0"
