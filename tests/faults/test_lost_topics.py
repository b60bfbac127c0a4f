"""Output topics deleted under the worker: the state topic, and `alerts` with START_FROM=latest.

Each test runs a broker of its own, since deleting the shared topics would disturb others.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from confluent_kafka.admin import AdminClient
from local_kafka import LocalKafka
from stream_checks import (
    check_exactly_once_and_parity,
    interleave,
    make_worker,
    new_dataset,
    publish,
    readings_of,
    wait_for_scores,
)
from stream_fixtures import WINDOW, series, train_model
from worker_process import expand_scores, read_all

from schemas import ALERTS_TOPIC, Alert, TopicSettings, decode, readings_topic
from schemas import topic_specs as project_topics
from stream_app.topic_admin import ensure_topics


def _delete(admin: AdminClient, topic: str) -> None:
    admin.delete_topics([topic])[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)


def _get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_deleted_state_topic_is_recreated_and_no_window_or_score_is_lost(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 2})
    slug, models = new_dataset(kafka.bootstrap, admin), tmp_path / "models"
    entities = {f"e{i}": series(900, seed=i) for i in range(4)}
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=700 + i)
    worker = make_worker(kafka.bootstrap, models, slug, tmp_path)
    state_topic = f"group-{slug}-state"
    thirds = [{e: (d[: 300 * (k + 1)], 300 * k) for e, d in entities.items()} for k in range(3)]

    def feed(k: int) -> None:
        parts = [readings_of(slug, e, d, seed=k, start=s) for e, (d, s) in thirds[k].items()]
        publish(kafka.bootstrap, readings_topic(slug), interleave(parts))
        expected = sum(300 * (k + 1) - WINDOW + 1 for _ in entities)
        wait_for_scores(kafka.bootstrap, slug, expected, timeout_s=120)

    worker.start()
    try:
        worker.wait_assigned()
        feed(0)
        # Deleted while the worker runs: it recreates it and writes every entity's state.
        _delete(admin, state_topic)
        feed(1)
        assert worker.process is not None and worker.process.poll() is None
        assert re.search(rf"output topic {state_topic} did not exist: created it", worker.log())
        # Deleted while the worker is down: the restart rebuilds the windows from readings.
        worker.kill()
        _delete(admin, state_topic)
        worker.start()
        worker.wait_assigned()
        feed(2)
        expected = sum(len(d) - WINDOW + 1 for d in entities.values())
        values = wait_for_scores(kafka.bootstrap, slug, expected)
        check_exactly_once_and_parity(values, models, slug, entities)
        log = worker.log()
        assert re.search(r"holds no state for it \(deleted\?\): rebuilt the windows of \d", log)
        assert worker.metric("anomstream_worker_recoveries_total", 'kind="state_rebuilt"') >= 1
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def test_a_missing_alerts_topic_is_named_and_never_moves_the_start_position(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 2})
    slug, models = new_dataset(kafka.bootstrap, admin), tmp_path / "models"
    old = {f"e{i}": series(400, seed=i, spike_at=200) for i in range(2)}
    new = {f"e{i}": series(400, seed=10 + i, spike_at=300) for i in range(2)}
    for i, entity in enumerate(old):
        train_model(models, slug, entity, seed=800 + i)
    # Readings from before the worker's time: with START_FROM=latest it must never read them.
    publish(
        kafka.bootstrap,
        readings_topic(slug),
        interleave([readings_of(slug, e, d, seed=1) for e, d in old.items()]),
    )
    worker = make_worker(
        kafka.bootstrap, models, slug, tmp_path,
        ANOMSTREAM_WORKER_START_FROM="latest", ANOMSTREAM_WORKER_CREATE_TOPICS="false",
    )  # fmt: skip
    worker.start()
    try:
        worker.wait_assigned()
        _delete(admin, ALERTS_TOPIC)
        # New readings, seqs going on from the old ones', with an incident in each entity.
        history = {e: np.vstack([old[e], new[e]]) for e in old}
        publish(
            kafka.bootstrap,
            readings_topic(slug),
            interleave([readings_of(slug, e, d, seed=2, start=400) for e, d in history.items()]),
        )
        deadline = time.monotonic() + 60
        while "output topics missing: alerts" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.5)
        ready = _get(f"http://127.0.0.1:{worker.port}/readyz")
        assert ready[0] == 503 and "missing topics alerts" in ready[1]["recovering"], ready
        ensure_topics(
            kafka.bootstrap,
            [s for s in project_topics(TopicSettings(datasets=[])) if s.name == ALERTS_TOPIC],
        )
        # Only the new readings are scored (the first window fills from them) ...
        values = wait_for_scores(kafka.bootstrap, slug, 2 * (400 - WINDOW + 1))
        seqs = sorted({(s.entity, s.seq) for s in expand_scores(values)})
        assert seqs == [(e, q) for e in sorted(new) for q in range(400 + WINDOW - 1, 800)]
        # ... and the alerts are the new incidents' only, once each.
        alerts = [
            decode(v, Alert) for v in read_all(kafka.bootstrap, ALERTS_TOPIC, lambda v: False, 3.0)
        ]
        opened = [a for a in alerts if a.state.value == "opened"]
        # None from the old readings; the spike at seq 700 among them (a single score far
        # over the threshold may open one of its own: ALERT_OPEN_RATIO).
        assert all(a.start_seq >= 400 + WINDOW - 1 for a in opened), opened
        assert any(690 <= a.start_seq <= 706 for a in opened), opened
        assert len({a.alert_id for a in opened}) == len(opened)
        assert worker.metric("anomstream_worker_recoveries_total", 'kind="rewind"') == 0
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
