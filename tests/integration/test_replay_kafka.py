"""Replay onto a real broker, read back: order per entity, keys, counts, clear failures."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest
from confluent_kafka import Consumer
from kafka_helpers import free_port

from producers.datasets import EntityData, Split
from producers.kafka_config import KafkaSettings
from producers.replay import ReplayOptions, replay
from producers.sinks import KafkaSink, SinkError
from schemas import Reading, ReadingBatch, decode

T0 = np.datetime64("2026-01-01T00:00:00", "ns")


def entity(name: str, rows: int) -> EntityData:
    times = T0 + np.arange(rows) * np.timedelta64(1, "s")
    rng = np.random.default_rng(len(name))
    split = Split(rng.normal(size=(rows, 3)), times, (np.arange(rows) % 50 == 0).astype(np.int8))
    return EntityData("synthetic", name, ("x", "y", "z"), train=split, test=split)


def read_all(bootstrap: str, topic: str, expected_messages: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < expected_messages and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                assert message.error() is None
                out.append((message.key() or b"", message.value() or b""))
        # Anything beyond the expected count would be a duplicate: give it a moment to show.
        out += [(m.key() or b"", m.value() or b"") for m in consumer.consume(1000, timeout=2.0)]
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize("batch_rows", [1, 16])
def test_replay_delivers_every_reading_once_in_order_per_entity(
    kafka_bootstrap: str, new_topic: Callable[..., str], batch_rows: int
) -> None:
    topic = new_topic(partitions=3)
    entities = [entity(f"machine-{i}", 120) for i in range(4)]
    sink = KafkaSink(KafkaSettings(bootstrap=kafka_bootstrap), topic)

    summary = replay(entities, sink, ReplayOptions(batch_rows=batch_rows, progress=False))

    assert (summary.readings, summary.counts.delivered, summary.counts.failed) == (
        480,
        4 * -(-120 // batch_rows),
        0,
    )
    seqs: dict[str, list[int]] = defaultdict(list)
    for key, value in read_all(kafka_bootstrap, topic, summary.counts.sent):
        readings = (
            [decode(value, Reading)] if batch_rows == 1 else decode(value, ReadingBatch).readings()
        )
        for reading in readings:
            assert key == reading.entity.encode()
            seqs[reading.entity].append(reading.seq)
    assert dict(seqs) == {e.entity: list(range(120)) for e in entities}


def test_an_unreachable_broker_is_one_clear_error_not_a_hang() -> None:
    settings = KafkaSettings(bootstrap=f"127.0.0.1:{free_port()}", connect_timeout_s=2)
    started = time.monotonic()

    with pytest.raises(SinkError, match="cannot reach Kafka at 127.0.0.1:"):
        KafkaSink(settings, "readings.synthetic")

    assert time.monotonic() - started < 15


def test_a_missing_topic_says_how_to_create_it(kafka_bootstrap: str) -> None:
    with pytest.raises(SinkError, match="anomstream topics create"):
        KafkaSink(KafkaSettings(bootstrap=kafka_bootstrap), "readings.nosuchdataset")


def test_replay_cli_against_a_closed_port_exits_1_with_one_line(tmp_path: object) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "anomstream",
            "replay",
            "synthetic",
            "--max",
            "--limit",
            "5",
            "--bootstrap",
            f"127.0.0.1:{free_port()}",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "2", "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [errors[0]] and "cannot reach Kafka" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_cleanly_with_everything_sent_delivered(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    process = subprocess.Popen(
        [sys.executable, "-m", "anomstream", "replay", "synthetic", "--loop", "--rate", "200",
         "--topic", topic, "--bootstrap", kafka_bootstrap, "--no-progress"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(6)  # loading, connecting, then some readings at 200/s
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = [line for line in stderr.splitlines() if "anomstream replay: interrupted:" in line]
    assert len(summary) == 1, stderr
    match = re.search(r"(\d+) readings in (\d+) messages, (\d+) delivered, 0 failed", summary[0])
    assert match is not None, summary[0]
    readings, sent, delivered = map(int, match.groups())
    assert readings > 0 and sent == delivered == readings
    assert len(read_all(kafka_bootstrap, topic, delivered)) == delivered
