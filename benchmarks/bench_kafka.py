"""The pipeline benchmark's Kafka side: topics, replays onto them, committed reads back, and
the bare confluent-kafka consumer that is the ceiling."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence

import orjson
from bench_data import PARTITIONS
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from producers.datasets import EntityData
from producers.kafka_config import KafkaSettings
from producers.replay import ReplayOptions, replay
from producers.sinks import KafkaSink


def create_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    for future in futures.values():
        future.result(timeout=30)
    time.sleep(1)  # leaders elected


def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001 - cleanup only; a leftover topic is harmless
            print(f"  (could not delete a topic: {exc})", file=sys.stderr)


def publish(
    settings: KafkaSettings,
    topic: str,
    data: list[EntityData],
    batch_rows: int,
    rate: float | None = None,
) -> float:
    """Replay `data` onto `topic`; returns the seconds it took."""
    sink = KafkaSink(settings, topic)
    options = ReplayOptions(batch_rows=batch_rows, rate=rate, progress=False)
    summary = replay(data, sink, options)
    if summary.counts.failed:
        raise RuntimeError(f"replay to {topic}: {summary.line()}")
    return summary.elapsed_s


def assigned_consumer(bootstrap: str, topic: str, assign: bool = True) -> Consumer:
    """A group-less consumer of every partition of `topic` from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "log_level": 2,
        }
    )
    if assign:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer


def read_all(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[tuple[bytes, int]]:
    """Every committed (value, Kafka timestamp ms) of `topic`, up to its end now."""
    consumer = assigned_consumer(bootstrap, topic)
    out: list[tuple[bytes, int]] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(at_end) < PARTITIONS and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=10_000, timeout=0.5):
                error = record.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(record.partition() or 0)
                        continue
                    raise RuntimeError(f"reading {topic}: {error}")
                at_end.discard(record.partition() or 0)
                out.append((record.value() or b"", record.timestamp()[1]))
    finally:
        consumer.close()
    return out


def bare_consume(bootstrap: str, topic: str, messages: int) -> float:
    """Seconds a plain batch consumer, already connected, takes to read `messages`."""
    consumer = assigned_consumer(bootstrap, topic, assign=False)
    seen = 0
    try:
        consumer.list_topics(topic, timeout=10)  # connected, metadata known: not timed
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 300
        while seen < messages and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=5000, timeout=0.5):
                if record.error() is not None:
                    continue
                record.value()
                seen += 1
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    if seen < messages:
        raise RuntimeError(f"bare consumer read {seen} of {messages} messages of {topic}")
    return elapsed


def reading_times(records: list[tuple[bytes, int]]) -> dict[tuple[str, int], int]:
    """(entity, seq) -> the reading record's Kafka timestamp (ms)."""
    out: dict[tuple[str, int], int] = {}
    for value, ts in records:
        doc = orjson.loads(value)
        entity = doc["entity"]
        if "rows" in doc:
            first = doc["first_seq"]
            for seq in range(first, first + len(doc["rows"])):
                out[(entity, seq)] = ts
        else:
            out[(entity, doc["seq"])] = ts
    return out


def score_keys(value: bytes) -> tuple[str, list[int]]:
    """The entity and seqs a Score or ScoreBatch record holds."""
    doc = orjson.loads(value)
    if "scores" in doc:
        first = doc["first_seq"]
        return doc["entity"], list(range(first, first + len(doc["scores"])))
    return doc["entity"], [doc["seq"]]


def score_times(records: list[tuple[bytes, int]]) -> list[tuple[str, int, int]]:
    """(entity, seq, score record's Kafka timestamp) of every score, batches expanded."""
    out: list[tuple[str, int, int]] = []
    for value, ts in records:
        entity, seqs = score_keys(value)
        out.extend((entity, seq, ts) for seq in seqs)
    return out
