"""The metrics registry: declared names, escaped labels, histograms, and what /metrics shows
parses as the Prometheus text format."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import metrics


def families() -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(metrics.render())}


def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for fam in text_string_to_metric_families(metrics.render()):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_counters_and_gauges_render_with_their_labels() -> None:
    before = samples("blockhook_reorgs_total").get((("chain", "unit-a"),), 0.0)
    metrics.REORGS.labels(chain="unit-a").inc()
    metrics.REORGS.labels(chain="unit-a").inc()
    metrics.FOLLOWER_BLOCK.labels(chain="unit-a").set(1234)
    assert samples("blockhook_reorgs_total")[(("chain", "unit-a"),)] == before + 2
    assert samples("blockhook_follower_block")[(("chain", "unit-a"),)] == 1234
    assert "blockhook_deliveries" in families()


def test_label_values_are_escaped() -> None:
    hostile = 'a"b\\c\nd'
    metrics.REORGS.labels(chain=hostile).inc()
    text = metrics.render()
    assert 'chain="a\\"b\\\\c\\nd"' in text
    assert samples("blockhook_reorgs_total")[(("chain", hostile),)] >= 1


def test_attempt_latency_is_a_histogram() -> None:
    metrics.WEBHOOK_SECONDS.observe(0.02)
    buckets = samples("blockhook_delivery_attempt_seconds_bucket")
    le = {dict(k)["le"]: v for k, v in buckets.items() if dict(k)["kind"] == "webhook"}
    assert le["0.025"] >= 1 and le["+Inf"] >= le["0.025"]
    assert samples("blockhook_delivery_attempt_seconds_count")[(("kind", "webhook"),)] >= 1


def test_an_undeclared_label_is_refused() -> None:
    with pytest.raises(ValueError):
        metrics.REORGS.labels(chian="x")
