"""Non-HTTP delivery handlers: an in-process Python callback and a command run without a shell."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

from transport.webhooks import RESPONSE_EXCERPT, Attempt

logger = logging.getLogger(__name__)

# What a command sees of the worker's environment: nothing secret, only what programs need.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


class HandlerRefused(ValueError):
    """The operator's settings do not allow this handler."""


def python_allowed(target: str, allowed: list[str]) -> bool:
    """Whether module:func lies under one of the allowed module prefixes."""
    module = target.split(":", 1)[0]
    return any(module == p or module.startswith(p + ".") for p in allowed)


def command_allowed(argv: list[str], allowed: list[str]) -> bool:
    """Whether the command's program is one the operator listed (exact match)."""
    return bool(argv) and argv[0] in allowed


def handler_refusal(
    handler: dict[str, Any], python_allow: list[str], command_allow: list[str]
) -> str | None:
    """Why the settings refuse this handler, or None."""
    kind = handler.get("kind")
    if kind == "python":
        target = str(handler.get("target", ""))
        if not python_allowed(target, python_allow):
            return f"python handler {target!r} is not under delivery.python_handlers"
        return None
    if kind == "command":
        argv = [str(a) for a in handler.get("argv") or []]
        if not command_allowed(argv, command_allow):
            return f"command {argv[:1]} is not in delivery.command_handlers"
        return None
    return f"unknown handler kind {kind!r}"


_resolved: dict[str, Callable[..., Any]] = {}


def resolve_callable(target: str) -> Callable[..., Any]:
    """The function named by 'package.module:function' (cached)."""
    fn = _resolved.get(target)
    if fn is None:
        module_name, _, attr = target.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError(f"{target} is not callable")
        fn = _resolved[target] = obj
    return fn


async def run_python(target: str, event: dict[str, Any], timeout_s: float) -> Attempt:
    """Call the function with the event (a sync one runs in a thread); an exception or a
    timeout is a failed attempt. Its return value, if any, is the response excerpt."""
    started, t0 = time.time(), time.monotonic()
    err: str | None = None
    out: Any = None
    try:
        fn = resolve_callable(target)
        if inspect.iscoroutinefunction(fn):
            out = await asyncio.wait_for(fn(dict(event)), timeout_s)
        else:
            out = await asyncio.wait_for(asyncio.to_thread(fn, dict(event)), timeout_s)
    except TimeoutError:
        err = f"timeout after {timeout_s:g}s"
    except Exception as exc:  # the callback's failure is the attempt's failure
        err = f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT]
    return Attempt(
        at=started,
        status_code=None,
        latency_ms=int((time.monotonic() - t0) * 1000),
        error=err,
        response=None if out is None else str(out)[:RESPONSE_EXCERPT],
        succeeded=err is None,
    )


async def run_command(argv: list[str], event: dict[str, Any], timeout_s: float) -> Attempt:
    """Run argv (no shell) with the event in BLOCKHOOK_EVENT_TYPE and BLOCKHOOK_EVENT; exit
    status 0 is success. Output (stdout and stderr) is the response excerpt."""
    started, t0 = time.time(), time.monotonic()
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env["BLOCKHOOK_EVENT_TYPE"] = str(event.get("type", ""))
    env["BLOCKHOOK_EVENT"] = orjson.dumps(event).decode()
    err: str | None = None
    output = b""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        err = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
    else:
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
            if proc.returncode != 0:
                err = f"exit status {proc.returncode}"
        except TimeoutError:
            err = f"timeout after {timeout_s:g}s (killed)"
        finally:
            if proc.returncode is None:  # timed out or cancelled: leave no process behind
                proc.kill()
                await asyncio.shield(proc.wait())
    return Attempt(
        at=started,
        status_code=None,
        latency_ms=int((time.monotonic() - t0) * 1000),
        error=err,
        response=output[:RESPONSE_EXCERPT].decode("utf-8", "replace") or None,
        succeeded=err is None,
    )
