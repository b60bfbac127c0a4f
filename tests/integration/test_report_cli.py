"""`anomstream report` against the real broker: committed scores and alerts only, exact
table numbers, one PNG per entity, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from kafka_helpers import REPO_ROOT, free_port
from output_messages import make_alert, make_score, make_score_batch

from schemas import (
    ALERTS_TOPIC,
    Alert,
    Score,
    ScoreBatch,
    encode,
    encode_key,
    scores_topic,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUN_TIMEOUT_S = 90
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def score(dataset: str, entity: str, seq: int, value: float, label: int | None) -> Score:
    return make_score(dataset=dataset, entity=entity, seq=seq, score=value, label=label)


def batch(
    dataset: str, entity: str, first_seq: int, values: list[float], labels: list[int | None]
) -> ScoreBatch:
    return make_score_batch(
        dataset=dataset, entity=entity, first_seq=first_seq, scores=values, labels=labels
    )


def alert(dataset: str, entity: str, state: str, start: int, end: int | None) -> Alert:
    return make_alert(state=state, dataset=dataset, entity=entity, start_seq=start, end_seq=end)


def transaction(
    producer: Producer, messages: list[tuple[str, Alert | Score | ScoreBatch]], commit: bool
) -> None:
    producer.begin_transaction()
    for topic, message in messages:
        producer.produce(topic, encode(message), encode_key(message.entity))
    if commit:
        producer.commit_transaction(30)
    else:
        producer.flush(30)
        producer.abort_transaction(30)


def report(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "report", "--bootstrap", bootstrap, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "5"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def table_row(page: str, entity: str) -> list[str]:
    row = re.search(rf'<tr data-entity="{re.escape(entity)}">(.*?)</tr>', page)
    assert row is not None, f"no row for {entity}"
    return re.findall(r"<td>([^<]*)</td>", row.group(1))


def test_report_reads_committed_scores_and_alerts(
    kafka_bootstrap: str, slug: str, tmp_path: Path
) -> None:
    topic = scores_topic(slug)
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"report-test-{slug}"}
    )
    producer.init_transactions(30)
    transaction(
        producer,
        [
            (topic, score(slug, "e1", 0, 0.5, 0)),
            (topic, batch(slug, "e1", 1, [2.0, 3.0, 0.1], [1, 0, 0])),
            (topic, batch(slug, "e2", 0, [0.2, 5.0], [None, None])),
            (ALERTS_TOPIC, alert(slug, "e1", "opened", 1, None)),
            (ALERTS_TOPIC, alert(slug, "e1", "resolved", 1, 2)),
            (ALERTS_TOPIC, alert(slug, "e2", "opened", 1, None)),
        ],
        commit=True,
    )
    # Aborted: neither the score nor the alert may show up.
    transaction(
        producer,
        [
            (topic, score(slug, "e1", 50, 7.0, 1)),
            (ALERTS_TOPIC, alert(slug, "e1", "opened", 50, None)),
        ],
        commit=False,
    )
    out = tmp_path / "report"
    done = report(kafka_bootstrap, "--dataset", slug, "--from", "beginning", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert str(out / "index.html") in done.stdout
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["000-e1.png", "001-e2.png"]
    for name in pngs:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    page = (out / "index.html").read_text(encoding="utf-8")
    # e1: seqs 0..3, flagged 1 and 2, labelled 1; one alert (the aborted seq 50 is absent).
    # ... and its one labelled incident overlapped by that alert, no false alert.
    assert table_row(page, "e1") == ["4", "2", "1", "1", "0.500", "1.000", "1 of 1", "0"]
    assert table_row(page, "e2")[:6] == ["2", "1", "1", "0", "–", "–"]


def test_report_entity_glob(kafka_bootstrap: str, slug: str, tmp_path: Path) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for entity in ("pump-1", "valve-1"):
        message = score(slug, entity, 0, 0.5, None)
        producer.produce(scores_topic(slug), encode(message), encode_key(entity))
    assert producer.flush(30) == 0
    out = tmp_path / "glob"
    done = report(kafka_bootstrap, "--dataset", slug, "--entity", "pump-*", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["000-pump-1.png"]


def test_missing_scores_topic_is_one_line(kafka_bootstrap: str, tmp_path: Path) -> None:
    name = f"t{uuid.uuid4().hex[:10]}"
    done = report(kafka_bootstrap, "--dataset", name, "--out", str(tmp_path / "r"))
    assert done.returncode == 1
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert f"topic {scores_topic(name)} does not exist" in done.stderr
    assert not (tmp_path / "r").exists()


def test_empty_scores_topic_is_one_line(kafka_bootstrap: str, slug: str) -> None:
    done = report(kafka_bootstrap, "--dataset", slug)
    assert done.returncode == 1
    assert done.stderr.strip() == f"anomstream report: error: no scores of dataset {slug} " + (
        f"found in {scores_topic(slug)} and {ALERTS_TOPIC}"
    )


def test_unreachable_broker_is_one_line() -> None:
    done = report(f"127.0.0.1:{free_port()}", "--dataset", "synthetic")
    assert done.returncode == 1
    assert "cannot reach Kafka" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
