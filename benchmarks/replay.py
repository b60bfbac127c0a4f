"""Replay throughput at --max into a real broker, beside a bare producer sending the same bytes.

Start a broker first (`deploy/kafka/kafka-local start`), then:

    python benchmarks/replay.py [--bootstrap 127.0.0.1:9092] [--readings 200000]

The bare confluent-kafka producer sends the replay's own pre-encoded messages with the same
producer settings: the ceiling that loading, ordering, encoding and pacing are measured against.
"""

from __future__ import annotations

import argparse
import time
import uuid

import numpy as np
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from producers.datasets import EntityData, Split
from producers.kafka_config import KafkaSettings
from producers.replay import ReplayOptions, replay
from producers.replay_plan import ReplayPlan
from producers.sinks import KafkaSink

CHANNELS = 38  # SMD's width


def entities(count: int, rows: int) -> list[EntityData]:
    rng = np.random.default_rng(0)
    times = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(rows) * np.timedelta64(60, "s")
    channels = tuple(f"ch{i:02d}" for i in range(1, CHANNELS + 1))
    out = []
    for i in range(count):
        split = Split(rng.random((rows, CHANNELS)), times, np.zeros(rows, dtype=np.int8))
        out.append(EntityData("smd", f"machine-{i}", channels, train=split, test=split))
    return out


def new_topic(bootstrap: str) -> str:
    name = f"bench-replay-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=30)
    time.sleep(1)  # leaders elected
    return name


def bare(settings: KafkaSettings, data: list[EntityData], batch_rows: int) -> tuple[float, int]:
    """Seconds and message count for a bare producer sending pre-encoded messages."""
    messages = [(m.key, m.value) for m in ReplayPlan(data, "test", batch_rows).messages()]
    producer = Producer(settings.producer_config("bench-bare"))
    topic = new_topic(settings.bootstrap)
    started = time.perf_counter()
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0
    return time.perf_counter() - started, len(messages)


def through_replay(settings: KafkaSettings, data: list[EntityData], batch_rows: int) -> float:
    sink = KafkaSink(settings, new_topic(settings.bootstrap))
    summary = replay(data, sink, ReplayOptions(batch_rows=batch_rows, progress=False))
    assert summary.counts.failed == 0
    return summary.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=KafkaSettings().bootstrap)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument("--batch-rows", type=int, default=100)
    args = parser.parse_args()
    settings = KafkaSettings(bootstrap=args.bootstrap)
    data = entities(args.entities, args.readings // args.entities)
    readings = sum(len(e.test) for e in data)

    print(f"{readings:,} readings of {CHANNELS} channels, {args.entities} entities, at --max")
    print(f"{'path':<34}{'messages':>10}{'seconds':>9}{'readings/s':>13}{'vs bare':>9}")
    for batch_rows in (1, args.batch_rows):
        bare_s, messages = bare(settings, data, batch_rows)
        replay_s = through_replay(settings, data, batch_rows)
        label = "single-row" if batch_rows == 1 else f"batched ({batch_rows} rows)"
        print(
            f"{'bare producer, ' + label:<34}{messages:>10,}{bare_s:>9.2f}"
            f"{readings / bare_s:>13,.0f}{1:>9.2f}"
        )
        print(
            f"{'replay, ' + label:<34}{messages:>10,}{replay_s:>9.2f}"
            f"{readings / replay_s:>13,.0f}{bare_s / replay_s:>9.2f}"
        )


if __name__ == "__main__":
    main()
