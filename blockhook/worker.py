"""Run one Faust worker with every agent, the follower and the HTTP API."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import logging.config
import os
import sys
from pathlib import Path

from core.errors import ConfigError
from core.settings import CONFIG_ENV, Settings


def check_access(s: Settings) -> None:
    """No API without keys except on loopback, and none with keys without a master key:
    exit with a clear message before anything starts."""
    host, _ = s.api_host_port
    if not s.auth.enabled and not is_loopback(host):
        sys.exit(
            f"error: auth.enabled = false serves the API without keys; refused on {s.api_bind} "
            "(only a loopback api_bind may do that)"
        )
    if s.auth.enabled:
        from streams.secretbox import box_from_settings

        try:
            box_from_settings(s.auth)
        except ConfigError as exc:
            sys.exit(f"error: {exc}")


def is_loopback(host: str) -> bool:
    """Whether an api_bind host is loopback only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run_worker(config: str | None) -> None:
    """Create the topics, take the place of a killed predecessor in the consumer group, then
    run the worker until SIGINT/SIGTERM."""
    if config:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    from blockhook.admin import ensure_topics
    from core.logconfig import logging_config
    from core.malloc import return_large_blocks
    from transport.groupmember import leave_previous

    return_large_blocks()
    s = Settings()
    log_config = logging_config(s.log_level, s.log_format)
    logging.config.dictConfig(log_config)
    check_access(s)
    asyncio.run(ensure_topics(s))
    asyncio.run(leave_previous(s))

    import faust

    import agents.audit
    import agents.backfill
    import agents.decode
    import agents.delivery
    import agents.follower
    import agents.tracker
    import agents.wallets
    import agents.watch
    import agents.web
    import agents.withdrawals  # noqa: F401  (registering agents is the import's effect)
    from agents.web import health, start_api
    from faust_app import app

    class Worker(faust.Worker):
        async def on_start(self) -> None:
            """Serve /healthz, /readyz and /metrics (and answer the rest with 503) while Faust
            joins the group and recovers the tables."""
            await super().on_start()
            await start_api()

        async def on_startup_finished(self) -> None:
            """Once started, move what start-up built (about 120,000 objects: Faust, the
            agents, the modules) out of the garbage collector's sight: otherwise each full
            collection walks them all, about 5% of a busy worker's time."""
            await super().on_startup_finished()
            health.started = True
            gc.collect()
            gc.freeze()
            logging.getLogger(__name__).info("%d start-up objects frozen", gc.get_freeze_count())

    worker = Worker(
        app,
        loglevel=s.log_level,
        logging_config={**log_config, "merge": False},
        redirect_stdouts=False,
    )
    # With a quiet log level Faust keeps its spinner, which sets the root logger to DEBUG:
    # every debug call then builds a record (about 5% of a busy worker's time).
    worker.spinner = None
    worker.execute_from_commandline()
