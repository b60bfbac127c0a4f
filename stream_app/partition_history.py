"""Reads what a newly assigned partition needs to resume: snapshots and recent readings."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from stream_app.processor import InMessage

__all__ = ["PartitionHistory"]

log = logging.getLogger(__name__)


class PartitionHistory:
    """A group-less, read-committed consumer for restoring state on assignment."""

    def __init__(self, bootstrap: str, timeout_s: float = 30.0) -> None:
        self._timeout_s = timeout_s
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                # Never subscribes or commits; librdkafka still wants a group id.
                "group.id": f"anomstream-restore-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "log_level": 2,
            }
        )

    def close(self) -> None:
        self._consumer.close()

    def snapshots(
        self, state_topic: str, state_partition: int, topic: str, partition: int
    ) -> dict[str, dict[str, Any]]:
        """The latest committed snapshot of each entity of `topic`/`partition`."""
        out: dict[str, dict[str, Any]] = {}
        for message in self._read(state_topic, state_partition, OFFSET_BEGINNING, None):
            if message.value is None:
                continue
            snap = orjson.loads(message.value)
            if snap.get("topic") == topic and snap.get("partition") == partition:
                out[str(snap["entity"])] = snap
        return out

    def readings(self, topic: str, partition: int, start: int, stop: int) -> Iterator[InMessage]:
        """Records of `topic`/`partition` with start <= offset < stop."""
        if stop <= start:
            return iter(())
        return self._read(topic, partition, start, stop)

    def _read(
        self, topic: str, partition: int, start: int, stop: int | None
    ) -> Iterator[InMessage]:
        consumer = self._consumer
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + self._timeout_s
        try:
            while time.monotonic() < deadline:
                for record in consumer.consume(num_messages=10_000, timeout=0.5):
                    error = record.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            return
                        log.warning("reading %s/%d back: %s", topic, partition, error)
                        continue
                    offset = record.offset() or 0
                    if stop is not None and offset >= stop:
                        return
                    yield InMessage(
                        topic, partition, offset, record.key(), record.value(),
                        record.timestamp()[1],
                    )  # fmt: skip
                    if stop is not None and offset >= stop - 1:
                        return
            raise TimeoutError(f"reading {topic}/{partition} back took over {self._timeout_s}s")
        finally:
            consumer.unassign()
