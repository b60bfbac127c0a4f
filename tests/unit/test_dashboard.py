"""The Grafana dashboard: valid JSON, valid PromQL, and only metrics that are really served."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumers.exporter_metrics import ExporterMetrics
from stream_app.metrics import WorkerMetrics

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "deploy/grafana/dashboards/anomstream.json"
DATASOURCE = REPO_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
METRIC = re.compile(r"\banomstream_[a-z0-9_]+")
# Grafana's variables, replaced by what they expand to so that PromQL tools can parse.
GRAFANA_VARIABLES = {"$__range": "1h", "$dataset": ".*", "$entity": ".*"}


def served(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can expose, whether or not a labelled child exists yet."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
        "summary": ("_sum", "_count", ""),
    }
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_every_query_names_a_metric_the_worker_or_the_exporter_serves(
    dashboard: dict[str, Any],
) -> None:
    available = served(WorkerMetrics().registry) | served(ExporterMetrics().registry)
    used = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    assert used, "the dashboard queries anomstream metrics"
    assert used <= available, f"not served by anything: {sorted(used - available)}"
    # The panels: scores against thresholds, alerts, throughput, latency, lag, dead letters.
    for needed in (
        "readings_scored",
        "end_to_end_latency",
        "consumer_lag",
        "dead_letters",
        "alert",
    ):
        assert any(needed in name for name in used), needed


def test_panels_have_unique_ids_and_use_the_provisioned_datasource(
    dashboard: dict[str, Any],
) -> None:
    uid = re.search(r"uid: (\S+)", DATASOURCE.read_text())
    assert uid is not None
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == uid.group(1)
        assert all(t["datasource"]["uid"] == uid.group(1) for t in panel["targets"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) absent")
def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    # promtool parses the expressions of recording rules: one rule per dashboard query.
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(expressions(dashboard)):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        expr = re.sub(r"^label_values\(([^,]+?)(?:, \w+)?\)$", r"\1", expr)
        lines += [f"      - record: dashboard:query_{i}", f"        expr: {json.dumps(expr)}"]
    rules = tmp_path / "rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
