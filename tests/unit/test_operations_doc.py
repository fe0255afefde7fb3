"""What operators read and load agrees with the code: the metrics table of
docs/operations.md with the registry (names, types, labels), the Grafana dashboard's and the
alert rules' queries (parsed as PromQL) with the metrics that exist, and the Kubernetes
manifests with the Kubernetes API schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import promql_parser
import pytest
import yaml

from core import metrics

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "operations.md"
DASHBOARD = REPO / "deploy" / "grafana" / "blockhook-dashboard.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
K8S = REPO / "deploy" / "k8s"
K8S_VERSION = "1.33"
# Series Prometheus makes itself, not a worker.
PROMETHEUS_OWN = {"up"}


def registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each metric as /metrics names it (counters with `_total`): (type, label names)."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for collector in list(metrics.REGISTRY._collector_to_names):
        kind = collector._type
        name = collector._name + ("_total" if kind == "counter" else "")
        out[name] = (kind, tuple(collector._labelnames))
    return out


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The rows of the metrics table in docs/operations.md."""
    text = DOC.read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.splitlines():
        m = re.match(r"\| `(blockhook_\w+)` \| (\w+) \|([^|]*)\|", line)
        if m:
            labels = tuple(re.findall(r"`(\w+)`", m.group(3)))
            rows[m.group(1)] = (m.group(2), labels)
    return rows


def exposed_series() -> set[str]:
    """Every series name /metrics can show (a histogram's buckets, sum and count)."""
    names: set[str] = set()
    for name, (kind, _) in registered().items():
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def selectors(expr: str) -> list[str]:
    """The metric names an expression selects (it must parse as PromQL)."""
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.append(node.name)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


def test_the_metrics_table_lists_every_metric_with_its_type_and_labels() -> None:
    doc, code = documented(), registered()
    assert len(code) >= 30
    assert set(doc) == set(code), {
        "undocumented": set(code) - set(doc),
        "gone": set(doc) - set(code),
    }
    for name, (kind, labels) in code.items():
        assert doc[name] == (kind, labels), name


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_the_dashboard_queries_parse_and_name_only_metrics_that_exist() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    exposed = exposed_series()
    used: set[str] = set()
    for q in queries:
        names = selectors(q)
        assert names, q
        assert set(names) <= exposed, (q, set(names) - exposed)
        used |= set(names)
    # What the issue asked the dashboard to show is on it.
    for needed in [
        "blockhook_head_lag_blocks",
        "blockhook_blocks_published_total",
        "blockhook_transfers_published_total",
        "blockhook_events_total",
        "blockhook_deliveries_total",
        "blockhook_delivery_attempt_seconds_bucket",
        "blockhook_retry_queue_depth",
        "blockhook_reorg_depth_blocks_bucket",
        "blockhook_rpc_errors_total",
        "blockhook_consumer_lag",
        "blockhook_recoveries_total",
        "blockhook_withdrawals_total",
    ]:
        assert needed in used, needed


def test_the_alert_rules_parse_and_name_only_metrics_that_exist() -> None:
    rules = alert_rules()
    assert len(rules) >= 10
    exposed = exposed_series() | PROMETHEUS_OWN
    for r in rules:
        assert r["alert"].startswith("Blockhook") and r["labels"]["severity"]
        names = selectors(r["expr"])
        assert names and set(names) <= exposed, (r["alert"], set(names) - exposed)


def test_a_query_naming_a_missing_metric_is_caught() -> None:
    assert "blockhook_no_such_thing" not in exposed_series()
    assert selectors("sum(rate(blockhook_no_such_thing_total[5m]))") == [
        "blockhook_no_such_thing_total"
    ]
    with pytest.raises(ValueError):
        selectors("sum(rate(blockhook_events_total[5m])")


def manifests() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                out.append((name, doc))
    return out


def test_the_kubernetes_manifests_are_valid_api_objects() -> None:
    docs = manifests()
    kinds = sorted(d["kind"] for _, d in docs)
    assert kinds == ["ConfigMap", "PodDisruptionBudget", "Service", "Service", "StatefulSet"]
    for _, doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert sorted(p.name for p in K8S.glob("*.yaml")) == sorted(
        ["kustomization.yaml", *{n for n, _ in docs}]
    )


def test_a_misspelt_field_is_refused_by_the_schema() -> None:
    _, sts = next((n, d) for n, d in manifests() if d["kind"] == "StatefulSet")
    broken = json.loads(json.dumps(sts))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {}}
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_workers_probe_liveness_and_readiness_on_their_own_paths() -> None:
    _, sts = next((n, d) for n, d in manifests() if d["kind"] == "StatefulSet")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = next(d for _, d in manifests() if d["kind"] == "ConfigMap")
    text = config["data"]["blockhook.toml"]
    assert 'data_dir = "/var/lib/blockhook/data"' in text
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/var/lib/blockhook" in mounts  # the data dir is on the pod's own volume
