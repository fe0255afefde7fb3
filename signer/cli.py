"""`blockhook-signer`: init, xpub and run (docs/withdrawals.md, "The signer").

Secrets come only from places that stay out of the process list and the shell history: the
passphrase from --passphrase-file, BLOCKHOOK_SIGNER_PASSPHRASE or a prompt; imported words
from standard input; the API secret from --secret-file or BLOCKHOOK_SIGNER_SECRET (or
--secret, which `ps` shows). Bad input ends with a one-line message and exit code 2."""

from __future__ import annotations

import argparse
import getpass
import hmac
import logging
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

from signer import keystore
from signer import policy as pol
from signer.client import Client
from signer.errors import SignerError
from signer.journal import Journal
from signer.runner import Interrupted, Runner, install_signals

PROG = "blockhook-signer"
PASSPHRASE_ENV = "BLOCKHOOK_SIGNER_PASSPHRASE"
SECRET_ENV = "BLOCKHOOK_SIGNER_SECRET"
log = logging.getLogger("blockhook.signer")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Sign blockhook withdrawals.")
    sub = p.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a keystore (new 24-word seed, or --import)")
    init.add_argument("--keystore", required=True, type=Path)
    init.add_argument(
        "--import",
        dest="import_words",
        action="store_true",
        help="read existing BIP-39 words from standard input",
    )
    init.add_argument("--force", action="store_true", help="replace an existing keystore")
    xpub = sub.add_parser("xpub", help="print the account xpub and the treasury address")
    xpub.add_argument("--keystore", required=True, type=Path)
    run = sub.add_parser("run", help="sign the platform's requests until stopped")
    run.add_argument("--keystore", required=True, type=Path)
    run.add_argument("--platform", required=True, help="the platform's URL (http or https)")
    run.add_argument("--key-id", required=True, help="the id of the signer key (key_...)")
    run.add_argument("--secret", help="the key's secret (visible in ps: prefer --secret-file)")
    run.add_argument("--secret-file", type=Path, help="a file holding the key's secret")
    run.add_argument("--ca-file", help="CA certificates (PEM) for an https platform")
    run.add_argument("--policy", type=Path, help="the policy (TOML)")
    run.add_argument("--wait", type=int, default=25, help="long-poll seconds, 0 to 30")
    for cmd in (init, xpub, run):
        cmd.add_argument(
            "--passphrase-file",
            type=Path,
            help=f"a file holding the passphrase (else ${PASSPHRASE_ENV} or a prompt)",
        )
    return p


def _read_secret_file(path: Path, what: str) -> str:
    """A secret from a file (a passphrase loses its line ending only, an API secret any
    surrounding whitespace); warns when others can read the file."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
        value = text.rstrip("\r\n") if what == "passphrase" else text.strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignerError(f"{what} file {path}: cannot read it ({type(exc).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"{PROG}: warning: {path} is readable by others (chmod 600 it)", file=sys.stderr)
    if not value:
        raise SignerError(f"{what} file {path} is empty")
    return value


def _has_terminal() -> bool:
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _passphrase(file: Path | None, confirm: bool) -> str:
    """The keystore passphrase: --passphrase-file, the environment, or a prompt (asked twice
    when confirm, and the two compared in constant time)."""
    if file is not None:
        return _read_secret_file(file, "passphrase")
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if not _has_terminal():
        raise SignerError(
            f"no passphrase: set {PASSPHRASE_ENV}, use --passphrase-file or a terminal"
        )
    first = getpass.getpass("Keystore passphrase: ")
    if not first:
        raise SignerError("the passphrase is empty")
    if confirm:
        again = getpass.getpass("Again: ")
        if not hmac.compare_digest(first.encode(), again.encode()):
            raise SignerError("the two passphrases differ")
    return first


def _api_secret(args: argparse.Namespace) -> str:
    if args.secret is not None and args.secret_file is not None:
        raise SignerError("give --secret or --secret-file, not both")
    if args.secret_file is not None:
        return _read_secret_file(args.secret_file, "secret")
    if args.secret is not None:
        if not args.secret:
            raise SignerError("--secret is empty")
        return str(args.secret)
    env = os.environ.get(SECRET_ENV, "").strip()
    if not env:
        raise SignerError(f"no secret: use --secret-file, {SECRET_ENV} or --secret")
    return env


def _import_words() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("BIP-39 words (not shown): ")
    return sys.stdin.read()


def _show_words(words: str) -> None:
    """The new words, once, on standard error, numbered so they are written down in order."""
    w = words.split()
    lines = ["", f"Write these {len(w)} words down, in order. They are shown only this once:", ""]
    for row in range(0, len(w), 4):
        lines.append("  ".join(f"{i + 1:2d}. {w[i]:<9}" for i in range(row, min(row + 4, len(w)))))
    print("\n".join([*lines, ""]), file=sys.stderr)


def _init(args: argparse.Namespace) -> int:
    path: Path = args.keystore
    if path.exists() and not args.force:
        raise SignerError(f"{path} exists already (--force replaces it)")
    if args.import_words:
        words = keystore.normalize_words(_import_words())
        if not keystore.words_valid(words):
            raise SignerError("the words are not a valid BIP-39 mnemonic (12 to 24 words)")
    else:
        words = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    secret = _passphrase(args.passphrase_file, confirm=True)
    account = keystore.create(path, words, secret, force=args.force)
    if not args.import_words:
        _show_words(words)
    print(f"keystore {path}\nxpub {account.xpub()}\ntreasury {account.treasury_address()}")
    return 0


def _xpub(args: argparse.Namespace) -> int:
    keystore.read_header(args.keystore)  # a missing file is said before the prompt
    account = keystore.unlock(args.keystore, _passphrase(args.passphrase_file, confirm=False))
    print(f"xpub {account.xpub()}\ntreasury {account.treasury_address()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if not 0 <= args.wait <= 30:
        raise SignerError("--wait must be between 0 and 30 seconds")
    policy = pol.load(args.policy) if args.policy is not None else None
    client = Client(args.platform, args.key_id, _api_secret(args), cafile=args.ca_file)
    keystore.read_header(args.keystore)
    account = keystore.unlock(args.keystore, _passphrase(args.passphrase_file, confirm=False))
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    log.setLevel(logging.INFO)
    journal = Journal.for_keystore(args.keystore)
    try:
        runner = Runner(account, journal, client, policy, wait=args.wait)
        restore = install_signals(runner)
        try:
            log.info("signer for %s, treasury %s", args.platform, account.treasury_address())
            return runner.run()
        except Interrupted:  # a signal just before the loop began
            return 0
        finally:
            restore()
    finally:
        journal.close()


def run_cli(argv: Sequence[str] | None = None) -> int:
    """The program; its exit code (argparse itself exits 2 on bad arguments)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            return _init(args)
        if args.command == "xpub":
            return _xpub(args)
        return _run(args)
    except SignerError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback: a third party's message may quote input
        print(f"{PROG}: internal error ({type(exc).__name__})", file=sys.stderr)
        return 1


def main() -> None:
    """The `blockhook-signer` console script."""
    sys.exit(run_cli())
