"""Run one Faust worker with every agent, the follower and the HTTP API."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from blockhook.settings import CONFIG_ENV, Settings


def run_worker(config: str | None) -> None:
    """Create the topics, then run the worker until SIGINT/SIGTERM."""
    if config:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    from blockhook.admin import ensure_topics

    s = Settings()
    logging.basicConfig(
        level=s.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(ensure_topics(s))

    import faust

    import agents.backfill
    import agents.decode
    import agents.delivery
    import agents.follower
    import agents.tracker
    import agents.wallets  # issue 5: the address allocator
    import agents.watch
    import agents.web  # noqa: F401  (registering agents is the import's effect)
    from faust_app import app

    worker = faust.Worker(app, loglevel=s.log_level, redirect_stdouts=False)
    # With a quiet log level Faust keeps its spinner, which sets the root logger to DEBUG:
    # every debug call then builds a record (about 5% of a busy worker's time).
    worker.spinner = None
    worker.execute_from_commandline()
