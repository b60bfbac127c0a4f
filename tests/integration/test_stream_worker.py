"""The stream worker against the real broker: parity, dead letters, kill -9, two workers.

Each test has its own dataset slug, so its readings and scores topics are its own; the
shared `alerts` and `deadletter` topics are filtered by that slug. Scores are read with
isolation.level=read_committed, as the worker's transactions intend.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka.admin import AdminClient
from stream_checks import (
    PARTITIONS,
    PacedPublisher,
    check_exactly_once_and_parity,
    drop_dataset,
    interleave,
    make_worker,
    new_dataset,
    publish,
    readings_of,
    wait_for_scores,
)
from stream_fixtures import WINDOW, reading, series, train_model
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


@pytest.fixture
def dataset(kafka_bootstrap: str, kafka_admin: AdminClient) -> Iterator[str]:
    """A fresh dataset slug with its readings and scores topics; alerts/deadletter exist."""
    slug = new_dataset(kafka_bootstrap, kafka_admin)
    yield slug
    drop_dataset(kafka_admin, slug)


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
        # Half the entities adapt: their statistics must come back from the snapshots
        # exactly, or their scores after the restart would differ from the offline ones.
        # They learn from their own stream's head, so their statistics keep moving (a model
        # of other data would freeze them at once and a fresh start would look the same).
        adaptive = {"span": 50, "hold": 5, "max_freeze": 200} if i % 2 else None
        train_model(models, slug, entity, seed=i if adaptive else 200 + i, adaptive=adaptive)
    # Small cycles: many transactions, so the kill lands between and inside them.
    worker = make_worker(
        kafka_bootstrap, models, slug, tmp_path, ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES="100"
    )
    worker.start(via_cli=False)
    worker.wait_assigned()
    messages = interleave(
        [readings_of(slug, e, d, seed=3, single_only=True) for e, d in entities.items()]
    )
    # Paced, so that the kill lands mid-stream and the restarted worker scores the rest
    # from its restored state (a replay published at once would be scored before it).
    feed = PacedPublisher(kafka_bootstrap, readings_topic(slug), messages, per_second=1500)
    feed.start()
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
