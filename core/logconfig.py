"""The worker's logging configuration: one line of text per record, or one JSON object per
line (`log_format = "json"`, for log shippers), on standard error, for our loggers and
Faust's alike."""

from __future__ import annotations

from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields of every JSON record; an exception adds `exc_info`, extra fields are kept.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
JSON_RENAME = {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary for the root logger at `level`."""
    if fmt == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAME,
            "timestamp": False,
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }
