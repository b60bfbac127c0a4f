"""`anomstream worker --processes 2` against the real broker: two group members share the
partitions, every reading is scored exactly once like offline, and SIGTERM stops both."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from kafka_helpers import free_port
from stream_checks import (
    check_exactly_once_and_parity,
    drop_dataset,
    interleave,
    make_worker,
    new_dataset,
    publish,
    readings_of,
    wait_for_scores,
)
from stream_fixtures import WINDOW, series, train_model

from schemas import readings_topic


def two_free_ports() -> int:
    """A port p with p + 1 free too (the second process serves /metrics there)."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports")


@pytest.fixture
def dataset(kafka_bootstrap: str, kafka_admin: AdminClient) -> Iterator[str]:
    slug = new_dataset(kafka_bootstrap, kafka_admin)
    yield slug
    drop_dataset(kafka_admin, slug)


def test_two_processes_share_the_partitions_and_score_every_reading_once(
    kafka_bootstrap: str, dataset: str, tmp_path: Path
) -> None:
    slug, models = dataset, tmp_path / "models"
    entities = {f"e{i}": series(400, seed=i) for i in range(6)}
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=100 + i)
    worker = make_worker(kafka_bootstrap, models, slug, tmp_path)
    worker.cli_args = ["--processes", "2"]
    worker.port = two_free_ports()
    worker.start(via_cli=True)
    try:
        # Both processes hold partitions (each logs its own, after its pid) before the replay.
        deadline = time.monotonic() + 60
        while len(set(re.findall(r"\[(\d+)\] \[INFO\] partition \S+: ", worker.log()))) < 2:
            assert worker.process is not None and worker.process.poll() is None, worker.log()
            assert time.monotonic() < deadline, f"partitions not shared:\n{worker.log()[-3000:]}"
            time.sleep(0.3)
        time.sleep(2)  # the cooperative rebalance settles
        messages = interleave([readings_of(slug, e, d, seed=5) for e, d in entities.items()])
        publish(kafka_bootstrap, readings_topic(slug), messages)
        expected = sum(len(d) - WINDOW + 1 for d in entities.values())
        values = wait_for_scores(kafka_bootstrap, slug, expected)
        check_exactly_once_and_parity(values, models, slug, entities)
        scored = [
            worker.metric("anomstream_worker_readings_scored_total", slug, port)
            for port in (worker.port, worker.port + 1)
        ]
        assert sum(scored) == expected and all(n > 0 for n in scored), scored
        assert f"started {slug}-w1-1" in worker.log() and f"started {slug}-w1-2" in worker.log()
    finally:
        status = worker.stop()
    assert status == 0, worker.log()[-3000:]
    assert "Traceback" not in worker.log()
