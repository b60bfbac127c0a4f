"""`anomstream health` against the real broker: exact counts, lag, open alerts, models,
the human table and the exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_helpers import REPO_ROOT
from output_messages import make_alert, make_score, make_score_batch
from stream_fixtures import batch as reading_batch
from stream_fixtures import reading, series, train_model

from schemas import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    Alert,
    AlertState,
    DeadLetter,
    Score,
    ScoreBatch,
    TopicSettings,
    encode,
    encode_key,
    readings_topic,
    scores_topic,
    topic_specs,
)
from stream_app.topic_admin import ensure_topics

RUN_TIMEOUT_S = 60
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Reading messages per partition of readings.<slug>, older than any window; and the rows of
# each recent message (1 = a Reading, more = a ReadingBatch): 7 + 11 = 18 rows in 12 messages.
OLD_READINGS = {0: 3, 1: 0}
NEW_ROWS = {0: [1, 1, 1, 2, 2], 1: [1, 1, 1, 1, 1, 3, 3]}
COMMITTED = {0: 6, 1: 2}  # lag in messages = (8 - 6) + (7 - 2) = 7


@pytest.fixture
def slug(kafka_bootstrap: str, kafka_admin: AdminClient) -> Iterator[str]:
    """A fresh dataset with its own readings and scores topics; alerts and deadletter exist."""
    name = f"t{uuid.uuid4().hex[:10]}"
    shared = {ALERTS_TOPIC, DEADLETTER_TOPIC}
    ensure_topics(
        kafka_bootstrap, [s for s in topic_specs(TopicSettings(datasets=[])) if s.name in shared]
    )
    topics = [readings_topic(name), scores_topic(name)]
    futures = kafka_admin.create_topics([NewTopic(t, 2, 1) for t in topics])
    for topic in topics:
        futures[topic].result(timeout=30)
    yield name
    for future in kafka_admin.delete_topics(topics).values():
        future.result(timeout=30)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def score(dataset: str, seq: int, anomalous: bool) -> Score:
    return make_score(
        dataset=dataset, seq=seq, score=2.0 if anomalous else 0.5,
        scored_at=T0 + timedelta(seconds=seq),
    )  # fmt: skip


def score_batch(dataset: str, first_seq: int, verdicts: list[bool]) -> ScoreBatch:
    return make_score_batch(
        dataset=dataset, first_seq=first_seq, scores=[2.0 if v else 0.5 for v in verdicts]
    )


def alert(dataset: str, alert_id: str, state: AlertState) -> Alert:
    return make_alert(
        state=state, dataset=dataset, alert_id=alert_id,
        end_seq=20 if state is AlertState.RESOLVED else None,
    )  # fmt: skip


def dead_letter(source_topic: str) -> DeadLetter:
    return DeadLetter(
        raw=b"not json",
        source_topic=source_topic,
        partition=0,
        offset=0,
        reason="undecodable",
        failed_at=T0,
    )


def populate(bootstrap: str, slug: str, group: str, now: datetime) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    readings = readings_topic(slug)
    rows = series(100, seed=1)
    for partition in (0, 1):
        seq = 0
        for _ in range(OLD_READINGS[partition]):
            value = reading(slug, "e1", seq, rows[seq])
            producer.produce(
                readings, value, b"e1", partition, timestamp=ms(now - timedelta(hours=1))
            )
            seq += 1
        for count in NEW_ROWS[partition]:
            if count == 1:
                producer.produce(readings, reading(slug, "e1", seq, rows[seq]), b"e1", partition)
            else:
                value = reading_batch(slug, "e1", seq, rows[seq : seq + count])
                producer.produce(readings, value, b"e1", partition)
            seq += count
    # Alerts: one opened long ago (outside --alerts-window), one opened and resolved, one open.
    old, a1, a2 = f"{slug}/e1/1", f"{slug}/e1/10", f"{slug}/e1/30"
    for message, when in [
        (alert(slug, old, AlertState.OPENED), now - timedelta(hours=25)),
        (alert(slug, a1, AlertState.OPENED), now),
        (alert(slug, a1, AlertState.RESOLVED), now),
        (alert(slug, a2, AlertState.OPENED), now),
    ]:
        producer.produce(ALERTS_TOPIC, encode(message), encode_key("e1"), timestamp=ms(when))
    # Dead letters two minutes ago: inside a 300 s window, outside a 60 s one.
    two_minutes_ago = ms(now - timedelta(minutes=2))
    for source in (readings, readings, "readings.someone-else"):
        producer.produce(DEADLETTER_TOPIC, encode(dead_letter(source)), timestamp=two_minutes_ago)
    assert producer.flush(30) == 0

    # Scores as the worker writes them, in transactions: 7 single scores and a batch of 3
    # (4 anomalous of 10), then an aborted anomalous batch that read_committed never shows.
    tx = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"health-{slug}"})
    tx.init_transactions(30)
    tx.begin_transaction()
    for seq, anomalous in enumerate([True, False, True, False, False, False, False]):
        tx.produce(scores_topic(slug), encode(score(slug, seq, anomalous)), b"e1", seq % 2)
    batch = score_batch(slug, 100, [True, False, True])
    tx.produce(scores_topic(slug), encode(batch), b"e1", 1)
    tx.commit_transaction(30)
    tx.begin_transaction()
    tx.produce(scores_topic(slug), encode(score_batch(slug, 200, [True] * 5)), b"e1", 0)
    tx.flush(30)
    tx.abort_transaction(30)

    committer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        offsets = [TopicPartition(readings, p, o) for p, o in COMMITTED.items()]
        committer.assign(offsets)
        committer.commit(offsets=offsets, asynchronous=False)
    finally:
        committer.close()


def health(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "health", "--bootstrap", bootstrap, *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=REPO_ROOT,
    )


def test_health_reports_exact_numbers(kafka_bootstrap: str, slug: str, tmp_path: Path) -> None:
    group = f"health-test-{slug}"
    models = tmp_path / "models"
    model_path, _ = train_model(models, slug, "e1")
    trained_at = json.loads((model_path / "meta.json").read_text())["trained_at"]
    populate(kafka_bootstrap, slug, group, datetime.now(UTC))
    common = ["--dataset", slug, "--group", group, "--models-dir", str(models)]

    wide = health(kafka_bootstrap, *common, "--window", "300", "--json")
    assert wide.returncode == 1, wide.stderr
    document = json.loads(wide.stdout)
    assert document["ok"] is False
    assert document["group"] == group
    [report] = document["datasets"]
    recent_readings = sum(map(sum, NEW_ROWS.values()))
    assert report["dataset"] == slug
    assert report["readings"] == recent_readings == 18
    assert report["readings_per_s"] * 300 == pytest.approx(recent_readings)
    assert report["scores"] == 10
    assert report["scores_per_s"] * 300 == pytest.approx(10)
    assert report["anomalies"] == 4
    assert report["anomaly_ratio"] == pytest.approx(0.4)
    assert report["lag"] == 7
    assert report["open_alerts"] == [f"{slug}/e1/30"]
    assert report["dead_letters"] == 2
    assert report["status"] == "dead letters"
    assert report["models"] == {
        "entities": 1,
        "newest_version": "v1",
        "newest_entity": "e1",
        "newest_detector": "pca",
        "trained_at": trained_at,
    }

    # Over the last minute the dead letters are out of the window: the dataset is ok.
    table = health(kafka_bootstrap, *common)
    assert table.returncode == 0, table.stderr
    header, row, footer = table.stdout.splitlines()
    assert header.split()[:2] == ["DATASET", "STATUS"]
    assert row.split() == [
        slug,
        "ok",
        f"{recent_readings / 60:.2f}",
        f"{10 / 60:.2f}",
        "40.0%",
        "7",
        "1",
        "0",
        "1",
        "v1",
        "pca",
        trained_at,
    ]
    assert footer == "rates and ratios over the last 60s; lag above 1000 is not ok"

    # A lower lag limit turns the same numbers into a failure, with the reason shown.
    strict = health(kafka_bootstrap, *common, "--max-lag", "6")
    assert strict.returncode == 1
    assert " lag 7 " in strict.stdout


def test_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "anomstream", "health", "--bootstrap", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=REPO_ROOT,
        env=env,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "anomstream health: error: cannot reach Kafka at 127.0.0.1:1 within 1s "
        "(start it: deploy/kafka/kafka-local start)\n"
    )
    assert time.monotonic() - started < 20


def test_missing_readings_topic_is_an_error(kafka_bootstrap: str) -> None:
    missing = f"t{uuid.uuid4().hex[:10]}"
    result = health(kafka_bootstrap, "--dataset", missing)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"anomstream health: error: topic readings.{missing} does not exist on {kafka_bootstrap}"
    )


@pytest.fixture
def three_datasets(kafka_admin: AdminClient) -> Iterator[tuple[str, str, str]]:
    """Three fresh datasets, each with its readings and scores topics."""
    names = tuple(f"t{uuid.uuid4().hex[:10]}" for _ in range(3))
    topics = [t for name in names for t in (readings_topic(name), scores_topic(name))]
    futures = kafka_admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    for topic in topics:
        futures[topic].result(timeout=30)
    yield names[0], names[1], names[2]
    for future in kafka_admin.delete_topics(topics).values():
        future.result(timeout=30)


def test_by_default_only_datasets_with_a_model_or_traffic_are_checked(
    kafka_bootstrap: str, three_datasets: tuple[str, str, str], tmp_path: Path
) -> None:
    idle, trained, busy = three_datasets
    models = tmp_path / "models"
    models.mkdir()
    common = ["--group", f"health-test-{idle}", "--models-dir", str(models)]

    # As after `topics create`: topics, but nothing trained nor replayed. Nothing to check is
    # no failure; the table says what it left out.
    fresh = health(kafka_bootstrap, *common, "--window", "0.001")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    [line] = fresh.stdout.splitlines()
    assert line.startswith("without a model or traffic in the last 0.001s, not shown: ")
    assert {idle, trained, busy} <= set(line.partition(": ")[2].split(" (")[0].split(", "))

    train_model(models, trained, "e1")
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    producer.produce(readings_topic(busy), reading(busy, "e1", 0, series(1, seed=2)[0]), b"e1")
    assert producer.flush(30) == 0

    result = health(kafka_bootstrap, *common, "--json")
    assert result.returncode == 1, result.stderr  # trained and busy have no scores
    document = json.loads(result.stdout)
    checked = {d["dataset"]: d for d in document["datasets"]}
    assert trained in checked and busy in checked
    assert idle not in checked and idle in document["idle"]
    assert checked[trained]["models"]["entities"] == 1
    assert checked[busy]["readings"] == 1
    assert checked[busy]["status"] == "no scores in window"

    # Naming a dataset checks it, idle or not.
    named = health(kafka_bootstrap, *common, "--dataset", idle, "--json")
    assert [d["dataset"] for d in json.loads(named.stdout)["datasets"]] == [idle]
    assert json.loads(named.stdout)["idle"] == []
