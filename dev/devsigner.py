"""The dev stack's blockhook-signer: a throwaway keystore, a `signer` key, one process.

Secrets reach the process through its environment (never its argument list, which `ps`
shows): the keystore's passphrase and the key's secret exist only in this process's memory
and the child's environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError
from dev import procs


@dataclass
class DevSigner:
    """One signer of a dev stack: its keystore under `root` and its process."""

    root: Path
    name: str = "signer"
    passphrase: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    proc: subprocess.Popen[bytes] | None = None
    key_id: str = ""
    secret: str = field(default="", repr=False)

    @property
    def keystore(self) -> Path:
        return self.root / self.name / "signer.keystore"

    @property
    def log(self) -> Path:
        return self.root / "logs" / f"{self.name}.log"

    def _env(self) -> dict[str, str]:
        return {"BLOCKHOOK_SIGNER_PASSPHRASE": self.passphrase}

    def init(self) -> None:
        """A new seed in a new keystore (its words are shown to nobody: a throwaway)."""
        self.keystore.parent.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "signer", "init", "--keystore", str(self.keystore)]
        done = subprocess.run(
            args,
            env={**os.environ, **self._env()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or not self.keystore.exists():
            raise ConfigError(f"blockhook-signer init failed ({done.returncode})")

    def start(self, url: str, key_id: str, secret: str, policy: Path | None = None) -> None:
        """`blockhook-signer run` against the platform at `url`."""
        if not self.keystore.exists():
            self.init()
        args = [sys.executable, "-m", "signer", "run", "--keystore", str(self.keystore)]
        args += ["--platform", url, "--key-id", key_id]
        if policy is not None:
            args += ["--policy", str(policy)]
        env = {**self._env(), "BLOCKHOOK_SIGNER_SECRET": secret}
        self.proc = procs.spawn(args, self.log, env)

    def stop(self) -> None:
        procs.stop(self.proc, 10)
        self.proc = None

    def kill(self) -> None:
        procs.kill(self.proc)
        self.proc = None
