"""A real Prometheus loads deploy/prometheus/alerts.yml and every rule fires on real metrics.

The worker's and the exporter's own metric classes are served from this process, set to
what each rule is about (an engine stopped, lag, a dead letter, a silent entity, an open
incident...), beside a worker and an exporter target that nobody serves (down). Prometheus
scrapes them every second and its /api/v1/alerts must list every rule as firing with the
labels it carries. No broker is needed.

The rules' `for` durations (1 to 5 minutes, so that a restart does not page anyone) are
rewritten to 0s in the test's copy: waiting them out would make this test take minutes.
They are tested as written, on simulated time, by `promtool test rules`
(tests/unit/test_alert_rules.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka_helpers import REPO_ROOT, free_port
from output_messages import make_alert, make_score
from prometheus_client import CollectorRegistry, start_http_server

from consumers.exporter_metrics import ExporterMetrics
from stream_app.metrics import WorkerMetrics

PROMETHEUS = shutil.which("prometheus")
RULES = REPO_ROOT / "deploy/prometheus/alerts.yml"
DEADLINE_S = 60.0

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus server binary is not on PATH (Debian: apt-get install prometheus)",
)


def served(registry: CollectorRegistry) -> Iterator[int]:
    port = free_port()
    server, thread = start_http_server(port, "127.0.0.1", registry=registry)
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def unhealthy_worker() -> Iterator[int]:
    """A worker whose engine stopped an hour after its last beat, behind on readings.skab,
    cut off from Kafka, with one dead letter."""
    metrics = WorkerMetrics()
    metrics.engine_running.set(0)
    metrics.loop_timestamp.set(time.time() - 3600)
    metrics.kafka_connected.set(0)
    metrics.lag.labels("readings.skab", "0").set(40_000)
    metrics.dead_letters.labels("schema").inc()
    yield from served(metrics.registry)


@pytest.fixture
def exporter_with_an_incident() -> Iterator[int]:
    """An exporter cut off from Kafka that saw one incident open on skab and valve1 scored
    long ago (the alert is still open)."""
    metrics = ExporterMetrics()
    metrics.kafka_connected.set(0)
    metrics.observe_alert(make_alert(dataset="skab", entity="valve1"))
    old = datetime.now(UTC) - timedelta(hours=2)
    metrics.observe_score(make_score(dataset="skab", entity="valve1", scored_at=old))
    yield from served(metrics.registry)


def rules_without_waiting(tmp_path: Path) -> Path:
    text, count = re.subn(r"^(\s+)for: \S+$", r"\1for: 0s", RULES.read_text(), flags=re.M)
    assert count > 0
    copy = tmp_path / "alerts.yml"
    copy.write_text(text)
    return copy


def firing(prom_port: int) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{prom_port}/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
        body = json.load(response)
    assert body["status"] == "success", body
    return [a for a in body["data"]["alerts"] if a["state"] == "firing"]


def test_every_rule_fires_in_a_real_prometheus(
    unhealthy_worker: int, exporter_with_an_incident: int, tmp_path: Path
) -> None:
    assert PROMETHEUS is not None
    rules = rules_without_waiting(tmp_path)
    worker, exporter = unhealthy_worker, exporter_with_an_incident
    closed_worker, closed_exporter, prom_port = free_port(), free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n"
        "  - job_name: anomstream-worker\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{worker}', '127.0.0.1:{closed_worker}']\n"
        "  - job_name: anomstream-exporter\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter}', '127.0.0.1:{closed_exporter}']\n"
    )
    expected_names = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            alerts: list[dict[str, Any]] = []
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                assert prometheus.poll() is None, log.read_text()[-3000:]
                try:
                    alerts = firing(prom_port)
                except OSError:  # not listening yet
                    pass
                if {a["labels"]["alertname"] for a in alerts} >= expected_names:
                    break
                time.sleep(1.0)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
    names = {a["labels"]["alertname"] for a in alerts}
    assert names == expected_names, log.read_text()[-3000:]
    by_name = {a["labels"]["alertname"]: a for a in alerts}
    down = by_name["AnomstreamWorkerDown"]["labels"]
    assert (down["instance"], down["severity"]) == (f"127.0.0.1:{closed_worker}", "critical")
    assert by_name["AnomstreamDeadLetters"]["labels"]["reason"] == "schema"
    assert by_name["AnomstreamConsumerLagHigh"]["labels"]["topic"] == "readings.skab"
    silent = by_name["AnomstreamEntitySilent"]
    assert (silent["labels"]["dataset"], silent["labels"]["entity"]) == ("skab", "valve1")
    assert silent["annotations"]["summary"].startswith("skab/valve1 silent for 2h")
    incident = by_name["AnomstreamOpenAnomalies"]
    assert incident["labels"]["dataset"] == "skab"
    assert incident["annotations"]["summary"] == "1 open anomaly alerts on skab"
