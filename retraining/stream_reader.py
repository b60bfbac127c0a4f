"""Reading a stretch of time from Kafka: readings of one dataset, and the alerts topic.

Partitions are assigned directly (no group, nothing committed), read with read_committed
from the first offset at or after the start time (`offsets_for_times`) up to the first
offset after the end time, or to each partition's end as it was when reading began.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from producers.kafka_config import KafkaSettings
from producers.kafka_errors import SecurityErrors, refused

__all__ = ["StreamReadError", "TopicRange", "read_range"]

log = logging.getLogger(__name__)

_BATCH = 2000
_POLL_S = 0.5


class StreamReadError(RuntimeError):
    """The broker cannot be reached, the topic does not exist, or offsets cannot be found."""


@dataclass(frozen=True)
class TopicRange:
    """Per partition, the offsets to read: from `start` up to, not including, `end`."""

    topic: str
    bounds: dict[int, tuple[int, int]]

    @property
    def messages(self) -> int:
        """At most this many messages (transaction markers take offsets too)."""
        return sum(end - start for start, end in self.bounds.values())


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _consumer(kafka: KafkaSettings, errors: SecurityErrors) -> Consumer:
    config: dict[str, Any] = {
        **kafka.client_config(),
        "group.id": f"anomstream-retrain-{uuid.uuid4().hex}",  # never joined: assign only
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # The worker writes alerts in transactions: aborted attempts must stay invisible.
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "client.id": "anomstream-retrain",
        "log_level": 2,
        "error_cb": errors,
    }
    return Consumer(config)


def _offsets_at(
    consumer: Consumer, topic: str, parts: list[int], ms: int, timeout: float
) -> list[int]:
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, ms) for p in parts], timeout=timeout
        )
    except KafkaException as exc:
        raise StreamReadError(f"cannot look up offsets by time in {topic}: {exc.args[0]}") from None
    return [tp.offset for tp in sorted(found, key=lambda tp: tp.partition)]


def _plan(
    consumer: Consumer,
    kafka: KafkaSettings,
    errors: SecurityErrors,
    topic: str,
    start: datetime,
    end: datetime | None,
) -> TopicRange:
    timeout = kafka.connect_timeout_s
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
    except KafkaException:
        reason = errors.reason(consumer)
        if reason is not None:
            raise StreamReadError(refused(kafka.bootstrap, reason)) from None
        raise StreamReadError(
            f"cannot reach Kafka at {kafka.bootstrap} within {timeout:g}s "
            "(set ANOMSTREAM_KAFKA_BOOTSTRAP or --bootstrap)"
        ) from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise StreamReadError(f"topic {topic} does not exist on {kafka.bootstrap}")
    parts = sorted(found.partitions)
    # The end first: what arrives while reading belongs to the next run.
    highs = [
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in parts
    ]
    ends = highs
    if end is not None:
        after = _offsets_at(consumer, topic, parts, _ms(end) + 1, timeout)
        ends = [
            high if offset < 0 else min(offset, high)
            for offset, high in zip(after, highs, strict=True)
        ]
    starts = _offsets_at(consumer, topic, parts, _ms(start), timeout)
    bounds = {
        p: (first, last)
        for p, first, last in zip(parts, starts, ends, strict=True)
        if 0 <= first < last  # -1: nothing at or after the start time
    }
    return TopicRange(topic, bounds)


def read_range(
    kafka: KafkaSettings,
    topic: str,
    start: datetime,
    end: datetime | None = None,
    idle_s: float = 15.0,
) -> Iterator[bytes]:
    """The committed message values of `topic` written from `start` to `end` (None: up to
    each partition's end when reading begins), in offset order within each partition."""
    errors = SecurityErrors()
    consumer = _consumer(kafka, errors)
    try:
        plan = _plan(consumer, kafka, errors, topic, start, end)
        parts = len(plan.bounds)
        log.info("%s: reading up to %d messages from %d partitions", topic, plan.messages, parts)
        if not plan.bounds:
            return
        consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in plan.bounds.items()])
        yield from _consume(consumer, plan, idle_s)
    finally:
        consumer.close()


def _consume(consumer: Consumer, plan: TopicRange, idle_s: float) -> Iterator[bytes]:
    pending = {p: end for p, (_, end) in plan.bounds.items()}
    last_message = time.monotonic()
    while pending:
        before = set(pending)
        messages: list[Message] = consumer.consume(_BATCH, timeout=_POLL_S)
        for message in messages:
            partition = message.partition()
            if partition not in pending:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.pop(partition, None)
                    continue
                raise StreamReadError(f"reading {plan.topic}: {error.str()}")
            offset = message.offset()
            if offset is None or offset >= pending[partition]:
                pending.pop(partition, None)
                continue
            last_message = time.monotonic()
            yield message.value() or b""
            if offset + 1 >= pending[partition]:
                pending.pop(partition, None)
        _drop_finished(consumer, plan.topic, pending)
        if finished := before - set(pending):
            # Fetching on past the end would only cost bandwidth.
            consumer.pause([TopicPartition(plan.topic, p) for p in finished])
        if pending and time.monotonic() - last_message > idle_s:
            log.warning(
                "%s: nothing new for %.0fs; stopping short of the end in partitions %s",
                plan.topic,
                idle_s,
                sorted(pending),
            )
            return


def _drop_finished(consumer: Consumer, topic: str, pending: dict[int, int]) -> None:
    """Partitions whose position passed the end: the last offsets were transaction markers,
    which read_committed never delivers."""
    if not pending:
        return
    for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
        if tp.offset >= 0 and tp.offset >= pending.get(tp.partition, 0):
            pending.pop(tp.partition, None)
