"""`anomstream exporter` against the real broker, scraped by a real Prometheus server.

Scores (single and batched), alerts, an aborted transaction and a garbage message go onto
the broker; the exporter runs as `python -m anomstream exporter`, Prometheus scrapes it every
second, and the values are read back through Prometheus' HTTP query API.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_helpers import REPO_ROOT, free_port
from output_messages import make_alert, make_score

from schemas import (
    ALERTS_TOPIC,
    AlertState,
    TopicSettings,
    encode,
    encode_key,
    encode_score_batch,
    scores_topic,
    topic_specs,
)
from stream_app.topic_admin import ensure_topics

PROMETHEUS = shutil.which("prometheus")
DEADLINE_S = 60.0
T0 = datetime.now(UTC).replace(microsecond=0)

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus server binary is not on PATH (setup installs it; CI has it)",
)


def _score(slug: str, entity: str, seq: int, score: float, anomaly: bool, label: int) -> bytes:
    return encode(
        make_score(
            dataset=slug, entity=entity, seq=seq, score=score, is_anomaly=anomaly, label=label,
            ingested_at=T0, scored_at=T0 + timedelta(seconds=1),
        )
    )  # fmt: skip


def _alert(slug: str, entity: str, state: AlertState) -> bytes:
    return encode(
        make_alert(state=state, dataset=slug, entity=entity, start_seq=1, peak=4.0,
                   end_seq=9 if state is AlertState.RESOLVED else None)
    )  # fmt: skip


def _produce(bootstrap: str, slug: str) -> None:
    """Committed scores and alerts, a garbage record, and one aborted score (never counted)."""
    topic = scores_topic(slug)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"test-exporter-{slug}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    # e1: a normal score labelled normal (tn), then an anomalous one labelled anomalous (tp).
    producer.produce(topic, _score(slug, "e1", 0, 0.5, False, 0), encode_key("e1"))
    producer.produce(topic, _score(slug, "e1", 1, 2.5, True, 1), encode_key("e1"))
    # e2: one batch of three: fn, fp, tp; its latest score is 4.0 against threshold 2.0.
    batch = encode_score_batch(
        dataset=slug, entity="e2", first_seq=0, event_times=[T0, T0, T0],
        scores=[0.1, 3.0, 4.0], is_anomaly=[False, True, True], labels=[1, 0, 1],
        top_channels=[], threshold=2.0, detector="pca", model_version="v1",
        ingested_at=T0, scored_at=T0 + timedelta(seconds=1),
    )  # fmt: skip
    producer.produce(topic, batch, encode_key("e2"))
    producer.produce(topic, b"not json", encode_key("e1"))
    # e1's incident stays open; e2's opens, is updated and resolves.
    for entity, state in [
        ("e1", AlertState.OPENED),
        ("e2", AlertState.OPENED),
        ("e2", AlertState.UPDATED),
        ("e2", AlertState.RESOLVED),
    ]:
        producer.produce(ALERTS_TOPIC, _alert(slug, entity, state), encode_key(entity))
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, _score(slug, "e1", 2, 99.0, True, 0), encode_key("e1"))
    producer.flush(30)
    producer.abort_transaction(30)


def _query(prom_port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _scalar(prom_port: int, promql: str) -> float | None:
    result = _query(prom_port, promql)
    return float(result[0]["value"][1]) if len(result) == 1 else None


@pytest.fixture
def scores_slug(kafka_bootstrap: str, kafka_admin: AdminClient) -> Iterator[str]:
    """A dataset slug of this test only, with its scores topic created, then deleted."""
    slug = f"t{uuid.uuid4().hex[:12]}"
    topic = scores_topic(slug)
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    alerts = [spec for spec in topic_specs(TopicSettings()) if spec.name == ALERTS_TOPIC]
    ensure_topics(kafka_bootstrap, alerts, timeout_s=30)
    try:
        yield slug
    finally:
        kafka_admin.delete_topics([topic])[topic].result(timeout=30)


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            return -9
    return process.returncode


def test_exporter_metrics_reach_prometheus(
    kafka_bootstrap: str, scores_slug: str, tmp_path: Path
) -> None:
    assert PROMETHEUS is not None
    slug = scores_slug
    _produce(kafka_bootstrap, slug)
    exporter_port, prom_port = free_port(), free_port()
    env = {
        **os.environ,
        "ANOMSTREAM_EXPORTER_BOOTSTRAP": kafka_bootstrap,
        # A regex as in production, narrowed to this test's topic; alerts is shared.
        "ANOMSTREAM_EXPORTER_TOPICS": rf"^scores\.{slug}$,{ALERTS_TOPIC}",
        "ANOMSTREAM_EXPORTER_GROUP_ID": f"test-exporter-{slug}",
        "ANOMSTREAM_EXPORTER_START_FROM": "earliest",
        "ANOMSTREAM_EXPORTER_HOST": "127.0.0.1",
        "ANOMSTREAM_EXPORTER_PORT": str(exporter_port),
    }
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: anomstream\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    exporter_log, prom_log = tmp_path / "exporter.log", tmp_path / "prometheus.log"
    with exporter_log.open("wb") as exporter_out, prom_log.open("wb") as prom_out:
        exporter = subprocess.Popen(
            [sys.executable, "-m", "anomstream", "exporter"],
            cwd=REPO_ROOT, env=env, stdout=exporter_out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        prometheus = subprocess.Popen(
            [
                PROMETHEUS, f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=prom_out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        exporter_status: int | None = None
        try:
            sel = f'dataset="{slug}"'
            expected = {
                'up{job="anomstream"}': 1.0,
                "anomstream_exporter_kafka_connected": 1.0,
                f"sum(anomstream_scores_total{{{sel}}})": 5.0,
                f'anomstream_scores_total{{{sel},verdict="anomaly"}}': 3.0,
                f'anomstream_entity_score{{{sel},entity="e1"}}': 2.5,
                f'anomstream_entity_is_anomaly{{{sel},entity="e1"}}': 1.0,
                f'anomstream_entity_score{{{sel},entity="e2"}}': 4.0,
                f'anomstream_entity_threshold{{{sel},entity="e2"}}': 2.0,
                f'sum(anomstream_alerts_total{{{sel},state="opened"}})': 2.0,
                f'anomstream_alerts_total{{{sel},entity="e2",state="resolved"}}': 1.0,
                f"anomstream_open_alerts{{{sel}}}": 1.0,
                f'anomstream_label_outcomes_total{{{sel},outcome="tp"}}': 2.0,
                f'anomstream_label_outcomes_total{{{sel},outcome="fp"}}': 1.0,
                f'anomstream_label_outcomes_total{{{sel},outcome="fn"}}': 1.0,
                f'anomstream_label_outcomes_total{{{sel},outcome="tn"}}': 1.0,
                f"anomstream_scoring_latency_seconds_count{{{sel}}}": 5.0,
                f'anomstream_exporter_undecodable_messages_total{{topic="scores.{slug}"}}': 1.0,
                # Four records committed on the topic: the aborted one is never read.
                f'anomstream_exporter_messages_consumed_total{{topic="scores.{slug}"}}': 4.0,
            }
            seen: dict[str, float | None] = {}
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                assert exporter.poll() is None, exporter_log.read_text()
                assert prometheus.poll() is None, prom_log.read_text()
                try:
                    seen = {promql: _scalar(prom_port, promql) for promql in expected}
                except OSError:  # Prometheus not listening yet
                    seen = {}
                if seen == expected:
                    break
                time.sleep(1.0)
            assert seen == expected, exporter_log.read_text()[-3000:]
        finally:
            exporter_status = _stop(exporter)
            _stop(prometheus)
        # SIGTERM stops the exporter cleanly: exit status 0 and its goodbye logged.
        assert exporter_status == 0, exporter_log.read_text()[-3000:]
        assert "exporter stopped" in exporter_log.read_text()
