"""The delivery job: what the delivery agent needs to send one event to one webhook (pure)."""

from __future__ import annotations

from typing import Any

from streams.records import MonitorCfg


def delivery_job(event: dict[str, Any], cfg: MonitorCfg) -> dict[str, Any] | None:
    """What the delivery agent needs to send one event to one monitor's webhook."""
    hook = cfg.get("webhook")
    if not hook or not hook.get("url"):
        return None
    return {
        "id": "dlv_" + event["id"][4:],
        "event": event,
        "monitor_id": cfg["id"],
        "url": hook["url"],
        "secrets": [hook.get("secret")],
        "retry": cfg.get("retry"),
        "attempts": [],
        "first_at": None,
        "redelivery_of": None,
    }
