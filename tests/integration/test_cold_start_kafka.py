"""Cold start against the real broker: entities without models learn theirs in the worker,
through two `kill -9`s (one mid-probation, one after), and are scored exactly once with the
scores `anomstream evaluate csv --cold-start N` computes offline for the same stream."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from confluent_kafka.admin import AdminClient
from stream_checks import (
    PacedPublisher,
    drop_dataset,
    interleave,
    make_worker,
    new_dataset,
    readings_of,
)
from stream_fixtures import CHANNELS, series
from worker_process import count_scores, expand_scores, read_all

from detectors.artifacts import model_versions
from detectors.pipeline import data_hash, load_trained
from schemas import readings_topic, scores_topic

ROWS, WINDOW, LENGTH = 400, 8, 1400
LEARN = {
    "ANOMSTREAM_WORKER_UNKNOWN_ENTITY": "learn",
    "ANOMSTREAM_WORKER_COLD_START_ROWS": str(ROWS),
    "ANOMSTREAM_WORKER_COLD_START_WINDOW": str(WINDOW),
    "ANOMSTREAM_WORKER_COLD_START_THRESHOLD": "quantile",
    "ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES": "100",
}


def offline_cold_start(data: np.ndarray, entity: str, tmp_path: Path) -> np.ndarray:
    """The scores `anomstream evaluate csv --cold-start` writes for the same stream."""
    path = tmp_path / f"{entity}.csv"
    stamps = np.datetime64("2026-01-01T00:00:00") + np.arange(len(data)).astype("timedelta64[s]")
    labels = (np.arange(len(data)) % 50 == 0).astype(int)
    lines = ["timestamp," + ",".join(CHANNELS) + ",label"]
    lines += [
        f"{t}Z," + ",".join(repr(float(v)) for v in row) + f",{label}"
        for t, row, label in zip(stamps, data, labels, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / f"eval-{entity}"
    done = subprocess.run(
        [
            sys.executable, "-m", "anomstream", "evaluate", "csv", "--path", str(path),
            "--cold-start", str(ROWS), "--window", str(WINDOW), "--threshold", "quantile",
            "--models-dir", str(tmp_path / f"offline-models-{entity}"), "--out", str(out),
            "--no-progress", "--no-plots",
        ],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "ANOMSTREAM_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (npz,) = (out / "scores").glob("*.npz")
    scores: np.ndarray = np.load(npz)["scores"]
    return scores


def test_entities_learn_their_models_in_the_worker_through_two_kills(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path: Path
) -> None:
    slug = new_dataset(kafka_bootstrap, kafka_admin)
    models = tmp_path / "models"
    entities = {f"e{i}": series(LENGTH, seed=40 + i, spike_at=900 + 40 * i) for i in range(4)}
    worker = make_worker(kafka_bootstrap, models, slug, tmp_path, **LEARN)
    try:
        worker.start(via_cli=True)
        worker.wait_assigned()
        messages = interleave(
            [readings_of(slug, e, d, seed=5, single_only=True) for e, d in entities.items()]
        )
        # 100 readings/s per entity: the probation takes 4 s, the whole stream 14 s.
        feed = PacedPublisher(kafka_bootstrap, readings_topic(slug), messages, per_second=400)
        feed.start()
        time.sleep(2.0)
        assert (
            count_scores(read_all(kafka_bootstrap, scores_topic(slug), lambda v: False, 0.5)) == 0
        )
        worker.kill()  # mid-probation: every entity holds unscored rows
        worker.start(via_cli=True)
        worker.wait_assigned()
        expected = sum(len(d) - ROWS for d in entities.values())
        seen = read_all(
            kafka_bootstrap, scores_topic(slug), lambda v: count_scores(v) >= expected // 4, 60
        )
        assert count_scores(seen) < expected, "the stream ended before the second kill"
        worker.kill()  # after graduation: the learnt models are served from the folder
        worker.start(via_cli=True)
        worker.wait_assigned()
        values = read_all(
            kafka_bootstrap, scores_topic(slug), lambda v: count_scores(v) >= expected, 120
        )
        time.sleep(1.0)
        values = read_all(kafka_bootstrap, scores_topic(slug), lambda v: False, 3.0)
        scores = expand_scores(values)
        keys = [(s.entity, s.seq) for s in scores]
        assert len(keys) == len(set(keys)), "a score was published twice"
        assert set(keys) == {(e, q) for e in entities for q in range(ROWS, LENGTH)}
        logs = "".join(worker.log_path.with_name(f"worker-{worker.worker_id}-{n}.log").read_text()
                       for n in (1, 2, 3))  # fmt: skip
        assert re.search(r"resumed at offset \d+ with [1-9]\d* entities restored", logs)
        assert len(re.findall(r"learnt pca from its first 400 readings", logs)) >= len(entities)
        for entity, data in entities.items():
            (path,) = model_versions(models, slug, entity, "pca")  # one version: no twin
            model, _ = load_trained(path)
            assert model.train_hash == data_hash(data[:ROWS])
            mine = sorted((s for s in scores if s.entity == entity), key=lambda s: s.seq)
            np.testing.assert_allclose(
                [s.score for s in mine],
                offline_cold_start(data, entity, tmp_path),
                rtol=1e-5, atol=1e-6,
            )  # fmt: skip
    finally:
        worker.stop()
        drop_dataset(kafka_admin, slug)
