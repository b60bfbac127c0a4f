"""Retraining from the stream against the real broker: a drift of the operating point makes a
worker's model raise false alarms; `anomstream retrain` on the drifted range promotes a new
version, which the running worker picks up, and the false alarms stop. A worse model (its
threshold far too low) is kept as a candidate, and the worker never loads it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from confluent_kafka.admin import AdminClient
from stream_checks import drop_dataset, interleave, make_worker, new_dataset, publish
from stream_fixtures import times
from worker_process import WorkerProcess, expand_scores, read_all

from detectors.artifacts import CANDIDATES_DIR, latest_version, model_versions
from detectors.pipeline import TrainConfig, save_trained, train
from producers.datasets import EntityData
from producers.datasets.synthetic import SyntheticLoader
from schemas import (
    ALERTS_TOPIC,
    Alert,
    AlertState,
    Score,
    decode,
    encode_reading_batch,
    readings_topic,
    scores_topic,
)

WINDOW = 10
DRIFT_ROWS, AFTER_ROWS = 1500, 1000
CONFIG = TrainConfig(
    detector="pca", window=WINDOW, threshold={"kind": "quantile", "q": 0.995}, adaptive=None
)
# Four independent sensors of one pump; the drifted operating point moves the first two by
# 1.5 of their standard deviations (a new set point, not a fault).
SENSORS = """
rate_hz = 1.0
train_rows = {train_rows}
test_rows = {test_rows}
entities = 2
seed = {seed}
start = 2026-01-01T00:00:00Z

[[sensors]]
name = "temperature_c"
signal = {{ kind = "gaussian", mean = {temperature}, std = 0.5 }}

[[sensors]]
name = "pressure_bar"
signal = {{ kind = "gaussian", mean = {pressure}, std = 0.05 }}

[[sensors]]
name = "current_a"
signal = {{ kind = "sine", mean = 42.0, amplitude = 1.0, period_s = 300.0 }}
noise_std = 0.3

[[sensors]]
name = "flow_m3_h"
signal = {{ kind = "gaussian", mean = 120.0, std = 2.0 }}
"""


def sensors(
    tmp_path: Path, name: str, shift: float, seed: int, train_rows: int, test_rows: int
) -> SyntheticLoader:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        SENSORS.format(
            train_rows=train_rows,
            test_rows=test_rows,
            seed=seed,
            temperature=65.0 + 0.5 * shift,
            pressure=6.0 + 0.05 * shift,
        )
    )
    return SyntheticLoader(tmp_path, config=path)


def messages(
    slug: str, data: list[EntityData], split: Literal["train", "test"], first_seq: int
) -> list[tuple[str, bytes]]:
    """Each entity's split as 50-row batches with seqs from `first_seq`, entities mixed."""
    per_entity = []
    for entity in data:
        part = entity.split(split)
        out = []
        for row in range(0, len(part.values), 50):
            rows = part.values[row : row + 50]
            seq = first_seq + row
            labels = None if part.labels is None else part.labels[row : row + 50].tolist()
            value = encode_reading_batch(
                dataset=slug,
                entity=entity.entity,
                first_seq=seq,
                event_times=times(seq, len(rows)),
                channels=list(entity.channels),
                rows=rows,
                labels=labels,
            )
            out.append((entity.entity, value))
        per_entity.append(out)
    return interleave(per_entity)


def scores_seen(bootstrap: str, slug: str, expected: int) -> list[Score]:
    values = read_all(
        bootstrap, scores_topic(slug), lambda v: len(expand_scores(v)) >= expected, 120
    )
    return expand_scores(values)


def opened_alerts(bootstrap: str, slug: str) -> list[Alert]:
    alerts = [decode(v, Alert) for v in read_all(bootstrap, ALERTS_TOPIC, lambda v: False, 3.0)]
    return [a for a in alerts if a.dataset == slug and a.state is AlertState.OPENED]


def retrain(
    bootstrap: str, models: Path, slug: str, start: datetime, end: datetime, *args: str
) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "anomstream",
            "retrain",
            slug,
            "--bootstrap",
            bootstrap,
            "--models-dir",
            str(models),
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
            "--min-rows",
            "300",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ANOMSTREAM_LOG_LEVEL": "INFO"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return str(done.stdout)


def wait_for_reloads(worker: WorkerProcess, count: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.metric("anomstream_worker_model_reloads_total") >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker did not reload {count} models:\n{worker.log()[-3000:]}")


def test_retrain_on_a_drift_stops_its_false_alarms_and_a_worse_model_stays_a_candidate(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path: Path
) -> None:
    slug, models = new_dataset(kafka_bootstrap, kafka_admin), tmp_path / "models"
    normal = sensors(tmp_path, "normal", 0.0, seed=3, train_rows=1200, test_rows=10)
    drifted = sensors(tmp_path, "drifted", 1.5, 11, DRIFT_ROWS, AFTER_ROWS)
    entities = [drifted.load(name) for name in drifted.entities()]
    for name in normal.entities():
        data = normal.load(name)
        model = train(data.train.values, CONFIG)
        save_trained(models, model, dataset=slug, entity=name, channels=data.channels)
    worker = make_worker(
        kafka_bootstrap, models, slug, tmp_path, ANOMSTREAM_WORKER_MODEL_REFRESH_S="0.5"
    )
    try:
        worker.start(via_cli=True)
        worker.wait_assigned()
        start = datetime.now(UTC)
        publish(kafka_bootstrap, readings_topic(slug), messages(slug, entities, "train", 0))
        end = datetime.now(UTC)
        drift_scores = len(entities) * (DRIFT_ROWS - WINDOW + 1)
        assert len(scores_seen(kafka_bootstrap, slug, drift_scores)) == drift_scores
        before = opened_alerts(kafka_bootstrap, slug)

        out = retrain(kafka_bootstrap, models, slug, start, end)
        assert out.count(": promoted: ") == len(entities), out
        for entity in entities:
            assert latest_version(models, slug, entity.entity, "pca") == (
                models / slug / entity.entity / "pca" / "v2"
            )
        wait_for_reloads(worker, len(entities))

        publish(kafka_bootstrap, readings_topic(slug), messages(slug, entities, "test", DRIFT_ROWS))
        scores = scores_seen(kafka_bootstrap, slug, drift_scores + len(entities) * AFTER_ROWS)
        assert len(scores) == drift_scores + len(entities) * AFTER_ROWS
        assert {s.model_version for s in scores if s.seq >= DRIFT_ROWS} == {"v2"}
        after = [a for a in opened_alerts(kafka_bootstrap, slug) if a.start_seq >= DRIFT_ROWS]
        print(
            f"\nalerts opened on drifted readings: {len(before)} before the retrain, "
            f"{len(after)} after it\n{out}"
        )
        assert len(before) >= 4, f"the drift raised too few false alarms: {before}"
        assert len(after) == 0, f"false alarms after the retrain: {after}"

        worse = retrain(
            kafka_bootstrap,
            models,
            slug,
            start,
            end,
            "--threshold",
            "quantile",
            "--threshold-param",
            "q=0.8",
        )
        assert worse.count(": candidate: ") == len(entities), worse
        for entity in entities:
            model_dir = models / slug / entity.entity / "pca"
            assert [p.name for p in model_versions(models, slug, entity.entity, "pca")] == [
                "v2",
                "v1",
            ]
            assert (model_dir / CANDIDATES_DIR / "c1" / "meta.json").is_file()
        time.sleep(2.0)  # four refresh intervals
        assert worker.metric("anomstream_worker_model_reloads_total") == len(entities)
        assert CANDIDATES_DIR not in worker.log()
    finally:
        assert worker.stop() == 0, worker.log()[-2000:]
        drop_dataset(kafka_admin, slug)
    assert "Traceback" not in worker.log()
