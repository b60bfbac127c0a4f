"""Model folders that are empty, half-written or corrupt, and a second detector appearing.

The worker serves the newest version that loads, counts and logs each failure once, and
keeps each entity on the detector it started with, across a kill -9 too.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

from confluent_kafka.admin import AdminClient
from stream_checks import (
    drop_dataset,
    interleave,
    make_worker,
    new_dataset,
    publish,
    readings_of,
    wait_for_scores,
)
from stream_fixtures import WINDOW, series, train_model
from worker_process import expand_scores, read_all

from schemas import DEADLETTER_TOPIC, DeadLetter, decode, readings_topic


def test_broken_versions_fall_back_and_a_new_detector_never_takes_over(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path: Path
) -> None:
    slug, models = new_dataset(kafka_bootstrap, kafka_admin), tmp_path / "models"
    data = {"steady": series(600, seed=41), "broken": series(600, seed=42)}
    for i, entity in enumerate(data):
        train_model(models, slug, entity, seed=900 + i)
    broken = models / slug / "broken" / "pca"
    (broken / "v2").mkdir()  # empty
    (broken / "v3").mkdir()  # half-written: arrays, no meta.json
    shutil.copy(broken / "v1" / "state.npz", broken / "v3" / "state.npz")
    worker = make_worker(
        kafka_bootstrap, models, slug, tmp_path, ANOMSTREAM_WORKER_MODEL_REFRESH_S="0.5"
    )
    quarters = [{e: (d[: 150 * (k + 1)], 150 * k) for e, d in data.items()} for k in range(4)]

    def feed(k: int) -> None:
        parts = [readings_of(slug, e, d, seed=k, start=s) for e, (d, s) in quarters[k].items()]
        publish(kafka_bootstrap, readings_topic(slug), interleave(parts))
        wait_for_scores(kafka_bootstrap, slug, 2 * (150 * (k + 1) - WINDOW + 1))

    worker.start()
    try:
        worker.wait_assigned()
        feed(0)
        # A newer model of another detector for one entity, and a corrupt newest version
        # for the other, while the worker runs; several refreshes pass.
        train_model(models, slug, "steady", seed=950, detector="raw")
        shutil.copytree(broken / "v1", broken / "v4")
        (broken / "v4" / "state.npz").write_bytes(b"not an npz file")
        time.sleep(3)
        feed(1)
        worker.kill()
        worker.start()
        worker.wait_assigned()
        feed(2)
        time.sleep(3)
        feed(3)
        scores = expand_scores(wait_for_scores(kafka_bootstrap, slug, 2 * (600 - WINDOW + 1)))
        assert max(Counter((s.entity, s.seq) for s in scores).values()) == 1
        served = Counter((s.entity, s.detector, s.model_version) for s in scores)
        assert set(served) == {("steady", "pca", "v1"), ("broken", "pca", "v1")}, served
        letters = [
            decode(v, DeadLetter)
            for v in read_all(kafka_bootstrap, DEADLETTER_TOPIC, lambda v: False, 3.0)
        ]
        assert not [d for d in letters if d.source_topic == readings_topic(slug)]
        # Each broken version is logged once per start, however many refreshes passed.
        log = worker.log()
        for version in ("v2", "v3", "v4"):
            assert log.count(f"cannot load the model at {broken / version} ") == 1, version
        assert worker.metric("anomstream_worker_model_load_failures_total") == 3
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        drop_dataset(kafka_admin, slug)
