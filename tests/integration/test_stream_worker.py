"""The stream worker against the real broker: parity, dead letters, kill -9, two workers.

Each test has its own dataset slug, so its readings and scores topics are its own; the
shared `alerts` and `deadletter` topics are filtered by that slug. Scores are read with
isolation.level=read_committed, as the worker's transactions intend.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from stream_fixtures import WINDOW, batch, reading, series, train_model
from worker_process import (
    WorkerProcess,
    count_scores,
    end_offsets,
    expand_scores,
    read_all,
    read_from,
)

from detectors.artifacts import latest_version
from detectors.pipeline import load_trained, score_series
from producers.datasets import DatasetLoader, loader_class
from producers.datasets.synthetic import SyntheticLoader
from schemas import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    Alert,
    DeadLetter,
    TopicSettings,
    decode,
    readings_topic,
    scores_topic,
    topic_specs,
)
from stream_app.topic_admin import ensure_topics

PARTITIONS = 3
FloatArray = npt.NDArray[np.float64]


@pytest.fixture
def dataset(kafka_bootstrap: str, kafka_admin: AdminClient) -> Iterator[str]:
    """A fresh dataset slug with its readings and scores topics; alerts/deadletter exist."""
    slug = f"t{uuid.uuid4().hex[:10]}"
    shared = [
        s
        for s in topic_specs(TopicSettings(datasets=[]))
        if s.name in (ALERTS_TOPIC, DEADLETTER_TOPIC)
    ]
    ensure_topics(kafka_bootstrap, shared)
    names = [readings_topic(slug), scores_topic(slug)]
    for future in kafka_admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        future.result(timeout=30)
    _wait_for_leaders(kafka_admin, names)
    yield slug
    for future in kafka_admin.delete_topics(names).values():
        future.result(timeout=30)


def _wait_for_leaders(admin: AdminClient, names: list[str]) -> None:
    for _ in range(100):
        topics = admin.list_topics(timeout=10).topics
        if all(
            n in topics and len(topics[n].partitions) == PARTITIONS
            and all(p.leader >= 0 for p in topics[n].partitions.values())
            for n in names
        ):  # fmt: skip
            return
        time.sleep(0.1)
    raise AssertionError(f"no leaders for {names}")


def publish(bootstrap: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    for key, value in messages:
        producer.produce(topic, value, key.encode())
        producer.poll(0)
    assert producer.flush(30) == 0


def readings_of(
    slug: str, entity: str, data: FloatArray, seed: int, start: int = 0, single_only: bool = False
) -> list[tuple[str, bytes]]:
    """An entity's rows from `start` as a random mix of single readings and batches."""
    rng = random.Random(seed)
    out, seq = [], start
    while seq < len(data):
        size = 1 if single_only else rng.choice([1, 1, 5, 20])
        rows = data[seq : seq + size]
        labels = [int(s % 50 == 0) for s in range(seq, seq + len(rows))]
        value = (
            reading(slug, entity, seq, rows[0], labels[0])
            if len(rows) == 1
            else batch(slug, entity, seq, rows, labels)  # type: ignore[arg-type]
        )
        out.append((entity, value))
        seq += len(rows)
    return out


def interleave(per_entity: list[list[tuple[str, bytes]]]) -> list[tuple[str, bytes]]:
    """Round-robin over the entities, each in its own order, as a live feed would mix them."""
    out: list[tuple[str, bytes]] = []
    for i in range(max(len(p) for p in per_entity)):
        out.extend(p[i] for p in per_entity if i < len(p))
    return out


def offline_scores(models: Path, slug: str, entity: str, data: FloatArray) -> FloatArray:
    path = latest_version(models, slug, entity, "pca")
    assert path is not None
    model, _ = load_trained(path)
    scores, _ = score_series(model, data)
    return scores


def check_exactly_once_and_parity(
    values: list[bytes], models: Path, slug: str, data: dict[str, FloatArray]
) -> None:
    scores = expand_scores(values)
    keys = Counter((s.entity, s.seq) for s in scores)
    duplicated = [k for k, n in keys.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} (entity, seq) scored twice, e.g. {duplicated[:3]}"
    expected = {(e, q) for e, rows in data.items() for q in range(WINDOW - 1, len(rows))}
    assert set(keys) == expected, (
        f"missing {sorted(expected - set(keys))[:5]}, unexpected {sorted(set(keys) - expected)[:5]}"
    )
    for entity, rows in data.items():
        mine = sorted((s for s in scores if s.entity == entity), key=lambda s: s.seq)
        offline = offline_scores(models, slug, entity, rows)
        np.testing.assert_allclose(
            [s.score for s in mine], offline[WINDOW - 1 :], rtol=1e-5, atol=1e-6
        )
        assert [s.label for s in mine] == [int(s.seq % 50 == 0) for s in mine]


def wait_for_scores(
    bootstrap: str, slug: str, expected: int, timeout_s: float = 120
) -> list[bytes]:
    values = read_all(
        bootstrap, scores_topic(slug), lambda v: count_scores(v) >= expected, timeout_s
    )
    # Anything published beyond the expected count (a duplicate) must show up too.
    time.sleep(1.0)
    return read_all(bootstrap, scores_topic(slug), lambda v: False, 3.0) if values else values


def make_worker(
    kafka_bootstrap: str,
    models: Path,
    slug: str,
    tmp_path: Path,
    worker_id: str = "w1",
    group: str = "",
    **env: str,
) -> WorkerProcess:
    return WorkerProcess(
        bootstrap=kafka_bootstrap,
        models_dir=models,
        topics=readings_topic(slug),
        group_id=group or f"group-{slug}",
        worker_id=f"{slug}-{worker_id}",
        log_dir=tmp_path,
        extra_env={
            "ANOMSTREAM_WORKER_ALERT_CONSECUTIVE": "2",
            "ANOMSTREAM_WORKER_LAG_INTERVAL_S": "0.5",
            **env,
        },
    )


def test_replayed_readings_become_scores_alerts_and_dead_letters(
    kafka_bootstrap: str, dataset: str, tmp_path: Path
) -> None:
    slug, models = dataset, tmp_path / "models"
    entities = {f"e{i}": series(300, seed=i, spike_at=200 if i == 0 else None) for i in range(4)}
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=100 + i)
    worker = make_worker(
        kafka_bootstrap, models, slug, tmp_path, ANOMSTREAM_WORKER_UNKNOWN_ENTITY="deadletter"
    )
    worker.start(via_cli=True)
    try:
        worker.wait_assigned()
        bad = [
            ("e1", b"{not json"),
            ("nobody", reading(slug, "nobody", 0, entities["e1"][0])),
            ("e1", reading(slug, "e1", 0, entities["e1"][0])[:-1] + b',"extra":true}'),
        ]
        messages = interleave([readings_of(slug, e, d, seed=7) for e, d in entities.items()])
        publish(kafka_bootstrap, readings_topic(slug), bad + messages)
        expected = sum(len(d) - WINDOW + 1 for d in entities.values())
        values = wait_for_scores(kafka_bootstrap, slug, expected)
        check_exactly_once_and_parity(values, models, slug, entities)

        letters = [
            decode(v, DeadLetter)
            for v in read_all(kafka_bootstrap, DEADLETTER_TOPIC, lambda v: False, 5.0)
        ]
        mine = [d for d in letters if d.source_topic == readings_topic(slug)]
        assert sorted(d.reason.split(":")[0] for d in mine) == ["no_model", "schema", "undecodable"]
        assert {d.raw for d in mine} == {value for _, value in bad}

        alerts = [
            decode(v, Alert) for v in read_all(kafka_bootstrap, ALERTS_TOPIC, lambda v: False, 5.0)
        ]
        opened = [a for a in alerts if a.dataset == slug and a.state.value == "opened"]
        assert [a.entity for a in opened] and {a.entity for a in opened} <= set(entities)
        assert any(a.entity == "e0" and 190 <= a.start_seq <= 210 for a in opened)

        assert worker.metric("anomstream_worker_readings_scored_total", slug) == expected
        assert worker.metric("anomstream_worker_dead_letters_total", 'reason="no_model"') == 1
        assert worker.metric("anomstream_worker_model_info", f'dataset="{slug}"') == 4
        assert worker.metric("anomstream_worker_end_to_end_latency_seconds_count") > 0
    finally:
        assert worker.stop() == 0, worker.log()[-2000:]
    assert "Traceback" not in worker.log()


def test_kill_9_mid_replay_loses_nothing_and_duplicates_nothing(
    kafka_bootstrap: str, dataset: str, tmp_path: Path
) -> None:
    slug, models = dataset, tmp_path / "models"
    entities = {f"e{i}": series(1500, seed=i, spike_at=700 + 50 * i) for i in range(6)}
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=200 + i)
    # Small cycles: many transactions, so the kill lands between and inside them.
    worker = make_worker(
        kafka_bootstrap, models, slug, tmp_path, ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES="100"
    )
    worker.start(via_cli=False)
    worker.wait_assigned()
    messages = interleave(
        [readings_of(slug, e, d, seed=3, single_only=True) for e, d in entities.items()]
    )
    publish(kafka_bootstrap, readings_topic(slug), messages)
    expected = sum(len(d) - WINDOW + 1 for d in entities.values())
    # Kill once a part is scored: the rest of the replay is still to come.
    seen = read_all(
        kafka_bootstrap, scores_topic(slug), lambda v: count_scores(v) >= expected // 4, 60
    )
    assert count_scores(seen) < expected, (
        "the worker finished before the kill; make the replay longer"
    )
    worker.kill()
    worker.start(via_cli=False)
    try:
        worker.wait_assigned()
        values = wait_for_scores(kafka_bootstrap, slug, expected)
        check_exactly_once_and_parity(values, models, slug, entities)
        assert re.search(r"resumed at offset \d+ with [1-9]\d* entities restored", worker.log())
        alerts = [
            decode(v, Alert) for v in read_all(kafka_bootstrap, ALERTS_TOPIC, lambda v: False, 5.0)
        ]
        opened = Counter(
            a.alert_id for a in alerts if a.dataset == slug and a.state.value == "opened"
        )
        assert opened and max(opened.values()) == 1, f"an alert opened twice: {opened}"
    finally:
        worker.stop()


def test_two_workers_share_partitions_and_a_moved_partition_keeps_its_windows(
    kafka_bootstrap: str, dataset: str, tmp_path: Path
) -> None:
    slug, models = dataset, tmp_path / "models"
    entities = {f"e{i}": series(600, seed=i) for i in range(6)}
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=300 + i)
    first = make_worker(kafka_bootstrap, models, slug, tmp_path, worker_id="a")
    second = make_worker(kafka_bootstrap, models, slug, tmp_path, worker_id="b")
    first.start(via_cli=False)
    second.start(via_cli=False)
    try:
        first.wait_assigned()
        second.wait_assigned()
        time.sleep(3)  # the group settles with both members
        half = {e: d[:300] for e, d in entities.items()}
        publish(
            kafka_bootstrap,
            readings_topic(slug),
            interleave([readings_of(slug, e, d, seed=5) for e, d in half.items()]),
        )
        wait_for_scores(kafka_bootstrap, slug, sum(len(d) - WINDOW + 1 for d in half.values()))
        scored_by = [w.metric("anomstream_worker_readings_scored_total") for w in (first, second)]
        assert all(n > 0 for n in scored_by), f"one worker scored nothing: {scored_by}"
        # The second worker leaves; its partitions move to the first, mid-window.
        assert second.stop() == 0
        rest = [readings_of(slug, e, d, seed=6, start=300) for e, d in entities.items()]
        publish(kafka_bootstrap, readings_topic(slug), interleave(rest))
        expected = sum(len(d) - WINDOW + 1 for d in entities.values())
        values = wait_for_scores(kafka_bootstrap, slug, expected)
        check_exactly_once_and_parity(values, models, slug, entities)
    finally:
        first.stop()
        second.stop()


SMALL_SYNTHETIC = """
rate_hz = 1.0
train_rows = 1500
test_rows = 1200
entities = 3
seed = 11

[[sensors]]
name = "temperature"
signal = { kind = "sine", mean = 60.0, amplitude = 5.0, period_s = 600.0, phase = 0.0 }
noise_std = 0.3
anomalies = [{ kind = "spike", ratio = 0.01, duration = [3, 8], magnitude = [8.0, 12.0] }]

[[sensors]]
name = "pressure"
signal = { kind = "gaussian", mean = 5.0, std = 0.2 }
anomalies = [{ kind = "level_shift", ratio = 0.02, duration = [20, 40], magnitude = [6.0, 8.0] }]
"""


def _cli(*argv: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "anomstream", *argv],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name", ["synthetic", "skab"])
def test_a_dataset_trained_and_replayed_by_the_cli_is_scored_exactly_once_like_offline(
    name: str,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    tmp_path: Path,
    real_data_dir: Callable[[str], Path],
) -> None:
    models = tmp_path / "models"
    loader: DatasetLoader
    if name == "skab":
        data_root = real_data_dir("skab")
        options = ["--data-dir", str(data_root), "--entity", "valve1/1*"]
        loader = loader_class("skab")(data_root)
    else:
        config = tmp_path / "sensors.toml"
        config.write_text(SMALL_SYNTHETIC)
        options = ["--config", str(config)]
        loader = SyntheticLoader(tmp_path, config=config)
    env = {**os.environ, "ANOMSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap}
    _cli(
        "train",
        name,
        "--detector",
        "pca",
        "--models-dir",
        str(models),
        "--no-progress",
        *options,
        env=env,
    )
    trained = sorted(p.name for p in (models / name).rglob("v1"))
    entities = [e for e in loader.entities() if (models / name / e / "pca" / "v1").is_dir()]
    assert entities and len(trained) == len(entities)

    ensure_topics(
        kafka_bootstrap,
        [s for s in topic_specs(TopicSettings(datasets=[name])) if s.name == scores_topic(name)],
    )
    start = end_offsets(kafka_bootstrap, scores_topic(name))
    readings = new_topic(f"readings-{name}", PARTITIONS)
    worker = WorkerProcess(
        bootstrap=kafka_bootstrap, models_dir=models, topics=readings,
        group_id=f"group-{uuid.uuid4().hex[:8]}", worker_id=f"cli-{uuid.uuid4().hex[:8]}",
        log_dir=tmp_path,
    )  # fmt: skip
    worker.start(via_cli=True)
    try:
        worker.wait_assigned()
        _cli(
            "replay",
            name,
            "--topic",
            readings,
            "--max",
            "--batch-rows",
            "50",
            "--no-progress",
            *options,
            env=env,
        )
        data = {e: loader.load(e).test.values for e in entities}
        expected = sum(len(v) - 99 for v in data.values())
        values = read_from(
            kafka_bootstrap, scores_topic(name), start, lambda v: count_scores(v) >= expected
        )
        scores = [s for s in expand_scores(values) if s.entity in data]
        assert Counter(Counter((s.entity, s.seq) for s in scores).values()) == {1: expected}
        for entity, rows in data.items():
            mine = sorted((s for s in scores if s.entity == entity), key=lambda s: s.seq)
            assert [s.seq for s in mine] == list(range(99, len(rows)))
            path = latest_version(models, name, entity, "pca")
            assert path is not None
            offline, _ = score_series(load_trained(path)[0], rows)
            np.testing.assert_allclose([s.score for s in mine], offline[99:], rtol=1e-5, atol=1e-6)
            labels = loader.load(entity).test.labels
            assert labels is not None
            assert [s.label for s in mine] == [int(v) for v in labels[99:]]
    finally:
        assert worker.stop() == 0
