"""One topic registry: topic creation, the Faust declarations and the operations guide all
follow it."""

from __future__ import annotations

import re
from pathlib import Path

from streams.retry import TIERS_S, tier_topic_name
from streams.topicspecs import BY_NAME, TOPICS, spec

ROOT = Path(__file__).resolve().parents[2]
# The contract's topics, and monitors.addresses: an addition users publish to (chunks of long
# watch lists; docs/interface.md).
CONTRACT = {
    "monitors",
    "monitors.addresses",
    "wallets",
    "blocks",
    "events",
    "deliveries.dlq",
    "audit",
    "withdrawals",
}


def test_names_are_unique_and_the_contract_topics_are_marked() -> None:
    assert len(BY_NAME) == len(TOPICS)
    assert {t.name for t in TOPICS if t.kind == "contract"} == CONTRACT
    assert {tier_topic_name(t) for t in TIERS_S} <= set(BY_NAME)
    assert spec("monitors").compacted and not spec("events").compacted


def test_compacted_topics_are_created_compacted() -> None:
    for t in TOPICS:
        cfg = t.configs(1024)
        assert cfg["max.message.bytes"] == "1024"
        assert (cfg.get("cleanup.policy") == "compact") is t.compacted


def test_the_operations_guide_lists_every_topic_as_registered() -> None:
    text = (ROOT / "docs/operations.md").read_text()
    rows = {
        m.group(1): (m.group(2).strip(), "cleanup.policy=compact" in m.group(3))
        for m in re.finditer(r"^\| `blockhook\.([a-z0-9.]+)` \| (\w+) \|(.*)$", text, re.M)
    }
    assert rows == {t.name: (t.kind, t.compacted) for t in TOPICS}


def test_topic_creation_and_faust_declarations_read_the_registry() -> None:
    from blockhook import admin
    from faust_app.topics import topics

    assert admin.TOPICS is TOPICS
    assert set(topics) == set(BY_NAME)
    for name, topic in topics.items():
        assert topic.get_topic_name() == f"blockhook.{name}"
