"""Pieces shared by the tests that run the stream worker against a real broker.

Readings as a live feed would mix them, publishing, reading scores back committed, and the
check that every (entity, seq) is scored exactly once and equal to the offline scorer.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from stream_fixtures import WINDOW, batch, reading
from worker_process import WorkerProcess, count_scores, expand_scores, read_all

from detectors.artifacts import latest_version
from detectors.pipeline import load_trained, score_series
from schemas import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    TopicSettings,
    readings_topic,
    scores_topic,
    topic_specs,
)
from stream_app.topic_admin import ensure_topics

PARTITIONS = 3
FloatArray = npt.NDArray[np.float64]


def new_dataset(
    bootstrap: str, admin: AdminClient, partitions: int = PARTITIONS, replication: int = 1
) -> str:
    """A fresh dataset slug with its readings and scores topics; alerts/deadletter exist."""
    slug = f"t{uuid.uuid4().hex[:10]}"
    settings = TopicSettings(datasets=[], replication_factor=replication)
    shared = [s for s in topic_specs(settings) if s.name in (ALERTS_TOPIC, DEADLETTER_TOPIC)]
    ensure_topics(bootstrap, shared)
    names = [readings_topic(slug), scores_topic(slug)]
    new = [NewTopic(n, partitions, replication) for n in names]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)
    wait_for_leaders(admin, names, partitions)
    return slug


def drop_dataset(admin: AdminClient, slug: str) -> None:
    names = [readings_topic(slug), scores_topic(slug)]
    for future in admin.delete_topics(names).values():
        future.result(timeout=30)


def wait_for_leaders(admin: AdminClient, names: list[str], partitions: int = PARTITIONS) -> None:
    for _ in range(100):
        topics = admin.list_topics(timeout=10).topics
        if all(
            n in topics and len(topics[n].partitions) == partitions
            and all(p.leader >= 0 for p in topics[n].partitions.values())
            for n in names
        ):  # fmt: skip
            return
        time.sleep(0.1)
    raise AssertionError(f"no leaders for {names}")


class PacedPublisher(threading.Thread):
    """Publishes messages at a steady rate in the background, buffering through outages
    (idempotent, long delivery timeout), as a live feed keeps sending while a broker is down."""

    def __init__(
        self, bootstrap: str, topic: str, messages: list[tuple[str, bytes]], per_second: float
    ) -> None:
        super().__init__(daemon=True)
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 300_000,
                "log_level": 2,
            }
        )
        self._topic, self._messages, self._interval = topic, messages, 1.0 / per_second
        self.sent = 0
        self.undelivered = -1

    def run(self) -> None:
        next_at = time.monotonic()
        for key, value in self._messages:
            self._producer.produce(self._topic, value, key.encode())
            self._producer.poll(0)
            self.sent += 1
            next_at += self._interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.undelivered = self._producer.flush(300)


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
