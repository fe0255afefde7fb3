"""Text or JSON logs, configured for every logger of the process."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from collections.abc import Callable

from core.logconfig import logging_config


def logged(fmt: str, emit: Callable[[], None]) -> str:
    """What the configuration writes to standard error while emit() logs (the stream is
    resolved when the configuration is applied; pytest swaps sys.stderr between phases, so
    this runs inside the test)."""
    buf = io.StringIO()
    real = sys.stderr
    sys.stderr = buf
    try:
        logging.config.dictConfig(logging_config("info", fmt))
        emit()
    finally:
        sys.stderr = real
        logging.config.dictConfig(logging_config("warning", "text"))
    return buf.getvalue()


def test_json_logs_are_one_object_per_line_with_the_fields_named() -> None:
    def emit() -> None:
        log = logging.getLogger("faust.worker")
        log.info("worker %s ready", "w1")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")

    lines = logged("json", emit).splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["message"] == "worker w1 ready"
    assert first["level"] == "INFO" and first["logger"] == "faust.worker"
    assert isinstance(first["pid"], int) and first["time"]
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc_info"]


def test_text_logs_are_one_line_per_record() -> None:
    out = logged("text", lambda: logging.getLogger("blockhook.test").info("hello"))
    assert out.rstrip().endswith("INFO blockhook.test: hello")


def test_the_level_applies() -> None:
    assert logging_config("warning", "text")["root"]["level"] == "WARNING"
