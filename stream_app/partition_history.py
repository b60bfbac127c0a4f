"""Reads what a newly assigned partition needs to resume: snapshots and recent readings."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from stream_app.messages import InMessage

__all__ = ["PartitionHistory", "TopicMissingError"]

log = logging.getLogger(__name__)


_MISSING = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})


class TopicMissingError(LookupError):
    """The topic (or partition) to read back does not exist."""

    def __init__(self, topic: str, detail: str) -> None:
        super().__init__(detail)
        self.topic = topic


class PartitionHistory:
    """A group-less, read-committed consumer for restoring state on assignment."""

    def __init__(self, client_config: dict[str, Any], timeout_s: float = 15.0) -> None:
        self._config = {
            **client_config,
            # Never subscribes or commits; librdkafka still wants a group id.
            "group.id": f"anomstream-restore-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            # Reading back ends at the partition's end: do not wait there for more.
            "fetch.wait.max.ms": 10,
            "log_level": 2,
        }
        # How long a read may go without a record before it is given up (and retried).
        self._timeout_s = timeout_s
        self._consumer = Consumer(self._config)

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
                records = consumer.consume(num_messages=10_000, timeout=0.1)
                if records:
                    deadline = time.monotonic() + self._timeout_s
                for record in records:
                    error = record.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            return
                        if error.code() in _MISSING:
                            raise TopicMissingError(topic, f"{topic}/{partition}: {error.str()}")
                        continue  # a broker away: the deadline below tells
                    offset = record.offset() or 0
                    if stop is not None and offset >= stop:
                        return
                    yield InMessage(
                        topic, partition, offset, record.key(), record.value(),
                        record.timestamp()[1],
                    )  # fmt: skip
                    if stop is not None and offset >= stop - 1:
                        return
            # A consumer that sat idle through a broker outage can stay stuck in backoff:
            # the retry gets a new one.
            self._consumer = Consumer(self._config)
            consumer.close()
            raise TimeoutError(
                f"reading {topic}/{partition} back: nothing for {self._timeout_s:.0f}s"
            )
        finally:
            if consumer is self._consumer:
                consumer.unassign()
