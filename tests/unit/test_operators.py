"""operators: names, roles, passwords, TOTP second factors and recovery codes."""

from __future__ import annotations

import json
import re
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import operators as ops
from streams.operators import OperatorError
from streams.secretbox import SecretBox, new_master_key, parse_master_key

PASSWORD = "correct horse battery staple"
AT = "2026-11-21T12:00:00Z"
LATER = "2026-11-22T08:30:00Z"
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # a fixed base32 TOTP secret (160 bits)
NOW = 1_800_000_015.0  # 15 s into step 60_000_000
STEP = 60_000_000
CODE = re.compile(r"[A-Z2-7]{5}(-[A-Z2-7]{5}){3}\Z")


@pytest.fixture(scope="module")
def hashed() -> str:
    """One argon2 hash for the module (each costs ~0.15 s)."""
    return ops.hash_password(PASSWORD)


class Recording:
    """argon2's hasher, noting which hashes it is asked to verify against."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real, self.calls = real, list[str]()

    def verify(self, hashed: str, password: str) -> bool:
        self.calls.append(hashed)
        return self.real.verify(hashed, password)


def box() -> SecretBox:
    return SecretBox(parse_master_key(new_master_key()))


def record(name: str = "alice", password_hash: str = "$argon2id$x") -> dict[str, Any]:
    return ops.new_operator(name, ["operator"], password_hash, AT)


def code_at(step: int, secret: str = SECRET) -> str:
    return str(pyotp.TOTP(secret).at(step * 30))


# Names, roles, passwords.


@pytest.mark.parametrize(
    "name", ["a", "alice", "Z9", "ops.bot@example.com", "svc:deploy-1", "a_b", "a" * 128]
)
def test_check_name_accepts(name: str) -> None:
    assert ops.check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-alice", ".alice", "@a", "a" * 129, "al ice", "alice\n", "ålice", "a/b", "a#b", " a"],
)
def test_check_name_refuses_with_a_clear_message(name: str) -> None:
    with pytest.raises(OperatorError, match="an operator name is 1 to 128 of"):
        ops.check_name(name)


def test_operator_error_is_a_value_error() -> None:
    assert issubclass(OperatorError, ValueError)


def test_console_roles_leave_out_the_signer() -> None:
    assert ops.CONSOLE_ROLES == ("viewer", "operator", "approver", "admin")


def test_check_roles_sorts_and_deduplicates() -> None:
    assert ops.check_roles(["viewer", "admin", "viewer"]) == ["admin", "viewer"]
    assert ops.check_roles(("approver",)) == ["approver"]
    assert ops.check_roles(iter(["operator"])) == ["operator"]


def test_check_roles_needs_one() -> None:
    with pytest.raises(OperatorError, match="at least one role"):
        ops.check_roles([])


@pytest.mark.parametrize("roles", [["signer"], ["admin", "signer"], ["root"], ["Admin"]])
def test_check_roles_refuses_unknown_and_signer(roles: list[str]) -> None:
    with pytest.raises(OperatorError, match="unknown role") as info:
        ops.check_roles(roles)
    msg = str(info.value)
    bad = next(r for r in sorted(set(roles)) if r not in ops.CONSOLE_ROLES)
    assert repr(bad) in msg
    choices = msg.split("one of ", 1)[1]
    assert choices == "viewer, operator, approver, admin"
    assert "signer" not in choices


@pytest.mark.parametrize("n", [12, 13, 100, 1024])
def test_check_password_accepts(n: int) -> None:
    assert ops.check_password("p" * n) == "p" * n


@pytest.mark.parametrize("n", [0, 1, 11, 1025, 5000])
def test_check_password_refuses(n: int) -> None:
    with pytest.raises(OperatorError, match="a password is 12 to 1024 characters"):
        ops.check_password("p" * n)


def test_new_password_is_random_and_acceptable() -> None:
    pws = {ops.new_password() for _ in range(50)}
    assert len(pws) == 50
    for pw in pws:
        assert ops.check_password(pw) == pw
        assert re.fullmatch(r"[A-Za-z0-9_-]{20}", pw)


# Password hashes.


def test_hash_is_argon2id_and_salted(hashed: str) -> None:
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert ops.hash_password(PASSWORD) != hashed  # a fresh salt each time


def test_password_matches_right_and_wrong(hashed: str) -> None:
    assert ops.password_matches(hashed, PASSWORD) is True
    assert ops.password_matches(hashed, PASSWORD + "!") is False
    assert ops.password_matches(hashed, "") is False


def test_unknown_operator_costs_a_verify_and_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = Recording(ops._HASHER)
    monkeypatch.setattr(ops, "_HASHER", hasher)
    assert ops.password_matches(None, PASSWORD) is False
    assert hasher.calls == [ops._DUMMY]


def test_unknown_operator_is_false_even_for_the_dummy_password(
    hashed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a password that matched the dummy hash would not let a missing operator in."""
    monkeypatch.setattr(ops, "_DUMMY", hashed)
    assert ops.password_matches(None, PASSWORD) is False


def test_over_long_password_is_false_without_hashing(
    hashed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = Recording(ops._HASHER)
    monkeypatch.setattr(ops, "_HASHER", hasher)
    assert ops.password_matches(hashed, "p" * (ops.MAX_PASSWORD + 1)) is False
    assert ops.password_matches(None, "p" * 100_000) is False
    assert hasher.calls == []


@pytest.mark.parametrize(
    "corrupt",
    [
        "",  # empty: verified against the dummy, and refused
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$AAAA$BBBB",
        "$argon2x$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$2b$12$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    ],
)
def test_corrupt_hash_is_false_not_an_exception(corrupt: str) -> None:
    assert ops.password_matches(corrupt, PASSWORD) is False


def test_truncated_hash_is_false(hashed: str) -> None:
    assert ops.password_matches(hashed[:-6], PASSWORD) is False


def test_non_ascii_corrupt_hash_is_false(hashed: str) -> None:
    assert ops.password_matches("é" + hashed, PASSWORD) is False


def test_password_with_a_lone_surrogate_is_false() -> None:
    assert ops.password_matches(None, "\ud800" + "p" * 12) is False


# Records.


def test_new_operator() -> None:
    op = ops.new_operator("alice", ["viewer", "admin", "viewer"], "$argon2id$h", AT)
    assert op == {
        "name": "alice",
        "roles": ["admin", "viewer"],
        "password_hash": "$argon2id$h",
        "totp": None,
        "recovery": [],
        "epoch": 0,
        "disabled": False,
        "created_at": AT,
        "updated_at": AT,
    }


def test_new_operator_checks_name_and_roles() -> None:
    with pytest.raises(OperatorError, match="operator name"):
        ops.new_operator("bad name", ["viewer"], "h", AT)
    with pytest.raises(OperatorError, match="unknown role 'signer'"):
        ops.new_operator("alice", ["signer"], "h", AT)
    with pytest.raises(OperatorError, match="at least one role"):
        ops.new_operator("alice", [], "h", AT)


def test_changed_replaces_fields_and_keeps_the_original() -> None:
    op = record()
    new = ops.changed(op, LATER, disabled=True, roles=["viewer"])
    assert new["disabled"] is True and new["roles"] == ["viewer"]
    assert new["updated_at"] == LATER and new["created_at"] == AT
    assert {k: v for k, v in new.items() if k not in ("disabled", "roles", "updated_at")} == {
        k: v for k, v in op.items() if k not in ("disabled", "roles", "updated_at")
    }
    assert op == record()  # not mutated


def test_changed_cannot_keep_an_old_updated_at() -> None:
    assert ops.changed(record(), LATER, updated_at="1970")["updated_at"] == LATER


def test_signed_out_everywhere_moves_the_epoch_on() -> None:
    op = record()
    once = ops.signed_out_everywhere(op, LATER)
    twice = ops.signed_out_everywhere(once, LATER)
    assert (op["epoch"], once["epoch"], twice["epoch"]) == (0, 1, 2)
    assert once["updated_at"] == LATER
    assert op["epoch"] == 0


@pytest.mark.parametrize("epoch", [None, "missing"])
def test_signed_out_everywhere_from_no_epoch(epoch: str | None) -> None:
    op = record()
    if epoch == "missing":
        del op["epoch"]
    else:
        op["epoch"] = None
    assert ops.signed_out_everywhere(op, LATER)["epoch"] == 1


def test_public_shows_no_secret() -> None:
    b = box()
    codes, digests = ops.new_recovery_codes()
    op = ops.changed(
        record(password_hash="$argon2id$v=19$m=65536,t=3,p=4$SALTSALT$HASHHASH"),
        LATER,
        totp=ops.seal_totp(b, "alice", SECRET),
        recovery=digests,
    )
    shown = ops.public(op)
    assert shown == {
        "name": "alice",
        "roles": ["operator"],
        "totp": True,
        "recovery_left": 10,
        "disabled": False,
        "created_at": AT,
        "updated_at": LATER,
    }
    text = json.dumps(shown)
    assert "password_hash" not in shown and "recovery" not in shown
    for secret in (op["password_hash"], SECRET, op["totp"]["ct"], op["totp"]["nonce"]):
        assert secret not in text
    for c, d in zip(codes, digests, strict=True):
        assert c not in text and d not in text


def test_public_of_a_bare_record() -> None:
    shown = ops.public({"name": "bob", "password_hash": "h", "totp": None})
    assert shown == {
        "name": "bob",
        "roles": [],
        "totp": False,
        "recovery_left": 0,
        "disabled": False,
        "created_at": None,
        "updated_at": None,
    }


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5))
def test_public_has_only_its_keys(extra: dict[str, str]) -> None:
    op = {**extra, **record(), "totp": {"kid": "k", "nonce": "n", "ct": "c"}}
    assert set(ops.public(op)) == {
        "name",
        "roles",
        "totp",
        "recovery_left",
        "disabled",
        "created_at",
        "updated_at",
    }


# TOTP.


def test_new_totp_secret_and_uri() -> None:
    s1, s2 = ops.new_totp_secret(), ops.new_totp_secret()
    assert s1 != s2
    assert re.fullmatch(r"[A-Z2-7]{32}", s1)
    uri = ops.totp_uri(s1, "alice")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={s1}" in uri and "issuer=blockhook" in uri and "alice" in uri
    assert pyotp.parse_uri(uri).secret == s1
    assert "issuer=acme" in ops.totp_uri(s1, "alice", issuer="acme")


def test_codes_of_neighbouring_steps_differ() -> None:
    """The examples below rely on these codes being distinct."""
    codes = [code_at(STEP + d) for d in range(-3, 4)]
    assert len(set(codes)) == len(codes)
    assert pyotp.TOTP(SECRET).at(NOW) == code_at(STEP)


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_totp_accepts_now_and_one_step_either_side(delta: int) -> None:
    assert ops.totp_step(SECRET, code_at(STEP + delta), NOW, 0) == STEP + delta


@pytest.mark.parametrize("delta", [-3, -2, 2, 3])
def test_totp_refuses_further_steps(delta: int) -> None:
    assert ops.totp_step(SECRET, code_at(STEP + delta), NOW, 0) is None


def test_totp_step_edges() -> None:
    """The step is that of int(now) // 30: the last instant of a step and the first of the next."""
    start = STEP * 30
    assert ops.totp_step(SECRET, code_at(STEP - 2), start - 0.5, 0) == STEP - 2
    assert ops.totp_step(SECRET, code_at(STEP - 2), start, 0) is None
    assert ops.totp_step(SECRET, code_at(STEP + 1), start + 29.99, 0) == STEP + 1


def test_totp_code_works_once() -> None:
    code = code_at(STEP)
    assert ops.totp_step(SECRET, code, NOW, STEP - 1) == STEP
    assert ops.totp_step(SECRET, code, NOW, STEP) is None
    assert ops.totp_step(SECRET, code, NOW, STEP + 1) is None


def test_totp_refuses_steps_at_or_before_the_last_used() -> None:
    assert ops.totp_step(SECRET, code_at(STEP - 1), NOW, STEP - 1) is None
    assert ops.totp_step(SECRET, code_at(STEP + 1), NOW, STEP) == STEP + 1
    assert ops.totp_step(SECRET, code_at(STEP + 1), NOW, STEP + 1) is None


def test_totp_tolerates_spaces() -> None:
    code = code_at(STEP)
    for sent in (f" {code} ", f"{code[:3]} {code[3:]}", f"\t{code}\n"):
        assert ops.totp_step(SECRET, sent, NOW, 0) == STEP


@pytest.mark.parametrize(
    "sent",
    [
        "",
        "12345",
        "1234567",
        "abcdef",
        "12345a",
        "12-3456",
        "+12345",
        "\u0661\u0662\u0663\u0664\u0665x",
        "0x1234",
    ],
)
def test_totp_refuses_what_is_not_six_digits(sent: str) -> None:
    assert ops.totp_step(SECRET, sent, NOW, 0) is None


def test_totp_refuses_the_right_code_with_a_seventh_digit() -> None:
    assert ops.totp_step(SECRET, code_at(STEP) + "0", NOW, 0) is None
    assert ops.totp_step(SECRET, "0" + code_at(STEP), NOW, 0) is None


@settings(max_examples=200)
@given(
    st.one_of(
        st.text(max_size=12),
        st.text(alphabet=st.characters(categories=["Nd"]), min_size=6, max_size=6),
    )
)
def test_totp_never_raises(sent: str) -> None:
    step = ops.totp_step(SECRET, sent, NOW, 0)
    assert step is None or step in (STEP - 1, STEP, STEP + 1)


@pytest.mark.parametrize(
    "sent", ["\u0661\u0662\u0663\u0664\u0665\u0666", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_totp_refuses_non_ascii_digits(sent: str) -> None:
    """Digits of other scripts are not a code (and must not reach compare_digest)."""
    assert ops.totp_step(SECRET, sent, NOW, 0) is None


@settings(max_examples=200)
@given(
    secret=st.sampled_from([SECRET, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", pyotp.random_base32()]),
    now=st.floats(min_value=1e6, max_value=4e9, allow_nan=False),
    delta=st.integers(min_value=-3, max_value=3),
)
def test_totp_step_agrees_with_pyotp(secret: str, now: float, delta: int) -> None:
    totp = pyotp.TOTP(secret)
    code = totp.at(int(now) + delta * 30)
    step = ops.totp_step(secret, code, now, 0)
    assert (step is not None) is totp.verify(code, for_time=now, valid_window=1)
    if step is not None:
        assert abs(step - int(now) // 30) <= 1
        assert totp.at(step * 30) == code


@settings(max_examples=200)
@given(
    now=st.integers(min_value=10**6, max_value=4 * 10**9),
    code=st.from_regex(r"\A[0-9]{6}\Z"),
)
def test_totp_step_agrees_with_pyotp_on_any_code(now: int, code: str) -> None:
    got = ops.totp_step(SECRET, code, now, 0) is not None
    assert got is pyotp.TOTP(SECRET).verify(code, for_time=now, valid_window=1)


# The sealed TOTP secret.


def test_seal_and_open_totp() -> None:
    b = box()
    sealed = ops.seal_totp(b, "alice", SECRET)
    assert set(sealed) == {"kid", "nonce", "ct"}
    assert SECRET not in json.dumps(sealed)
    op = ops.changed(record("alice"), LATER, totp=sealed)
    assert ops.open_totp(b, op) == SECRET
    assert ops.open_totp(b, json.loads(json.dumps(op))) == SECRET


def test_another_operators_name_cannot_open_it() -> None:
    b = box()
    sealed = ops.seal_totp(b, "alice", SECRET)
    assert ops.open_totp(b, ops.changed(record("bob"), LATER, totp=sealed)) is None
    assert ops.open_totp(b, {"name": "alice2", "totp": sealed}) is None


def test_open_totp_without_one_or_unopenable() -> None:
    b = box()
    sealed = ops.seal_totp(b, "alice", SECRET)
    assert ops.open_totp(b, record("alice")) is None
    assert ops.open_totp(box(), {"name": "alice", "totp": sealed}) is None  # another master key
    tampered = {
        **sealed,
        "ct": sealed["ct"][:-4] + ("AAAA" if sealed["ct"][-4:] != "AAAA" else "BBBB"),
    }
    assert ops.open_totp(b, {"name": "alice", "totp": tampered}) is None
    assert ops.open_totp(b, {"name": "alice", "totp": "not a box"}) is None
    assert ops.open_totp(b, {"name": "alice", "totp": {"kid": b.kid}}) is None
    assert ops.open_totp(b, {"totp": sealed}) is None  # no name
    not_utf8 = b.seal(b"\xff\xfe", "totp:alice")
    assert ops.open_totp(b, {"name": "alice", "totp": not_utf8}) is None


# Recovery codes.


def test_new_recovery_codes() -> None:
    codes, digests = ops.new_recovery_codes()
    assert len(codes) == len(digests) == ops.RECOVERY_CODES == 10
    assert len(set(codes)) == 10 and len(set(digests)) == 10
    for c, d in zip(codes, digests, strict=True):
        assert CODE.match(c), c
        assert re.fullmatch(r"[0-9a-f]{64}", d)
        assert d != c and c.replace("-", "") not in d and c.replace("-", "").lower() not in d


def test_new_recovery_codes_are_random() -> None:
    a, _ = ops.new_recovery_codes()
    b, _ = ops.new_recovery_codes()
    assert not set(a) & set(b)
    assert len(ops.new_recovery_codes(3)[0]) == 3


def with_codes() -> tuple[list[str], dict[str, Any]]:
    codes, digests = ops.new_recovery_codes()
    return codes, ops.changed(record(), LATER, recovery=digests)


def test_use_recovery_code_removes_exactly_that_one() -> None:
    codes, op = with_codes()
    for i, c in enumerate(codes):
        left = ops.use_recovery_code(op, c)
        assert left is not None
        assert left == [d for j, d in enumerate(op["recovery"]) if j != i]


def test_used_recovery_code_does_not_work_again() -> None:
    codes, op = with_codes()
    left = ops.use_recovery_code(op, codes[3])
    assert left is not None
    op = ops.changed(op, LATER, recovery=left)
    assert ops.use_recovery_code(op, codes[3]) is None
    assert ops.public(op)["recovery_left"] == 9
    assert ops.use_recovery_code(op, codes[4]) is not None


def test_every_code_can_be_used_once_in_turn() -> None:
    codes, op = with_codes()
    for c in reversed(codes):
        left = ops.use_recovery_code(op, c)
        assert left is not None
        op = ops.changed(op, LATER, recovery=left)
    assert op["recovery"] == []
    assert all(ops.use_recovery_code(op, c) is None for c in codes)


def test_recovery_code_spellings() -> None:
    codes, op = with_codes()
    c = codes[0]
    bare = c.replace("-", "")
    for sent in (
        c.lower(),
        bare,
        bare.lower(),
        c.replace("-", " "),
        f"  {c}  ",
        " ".join(bare[i : i + 4] for i in range(0, 20, 4)),
    ):
        assert ops.use_recovery_code(op, sent) == op["recovery"][1:], sent


def test_unknown_recovery_codes_are_refused() -> None:
    codes, op = with_codes()
    other, _ = ops.new_recovery_codes(1)
    wrong_char = ("B" if codes[0][0] == "A" else "A") + codes[0][1:]
    for sent in (other[0], wrong_char, codes[0][:-1], "", "-----", codes[0] + "A"):
        assert ops.use_recovery_code(op, sent) is None, sent
    assert ops.use_recovery_code(record(), codes[0]) is None  # no codes at all
    assert ops.use_recovery_code({"name": "x"}, codes[0]) is None
