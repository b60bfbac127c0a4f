"""Where replayed messages go: a Kafka topic (idempotent, counted) or JSON lines on stdout."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import IO, Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from producers.kafka_config import KafkaSettings
from producers.kafka_errors import SecurityErrors, refused

__all__ = ["DeliveryCounts", "DryRunSink", "KafkaSink", "Sink", "SinkError"]

log = logging.getLogger(__name__)


class SinkError(RuntimeError):
    """The destination cannot take messages: unreachable broker, missing topic."""


@dataclass
class DeliveryCounts:
    """Messages handed to the sink, and what the broker confirmed or refused."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    first_error: str = ""


class Sink(Protocol):
    counts: DeliveryCounts

    def send(self, key: bytes, value: bytes) -> None: ...

    def close(self, timeout_s: float) -> None: ...


class DryRunSink:
    """Writes each value as one JSON line (they are JSON already), for a look without Kafka."""

    def __init__(self, out: IO[bytes] | None = None) -> None:
        self.out = out if out is not None else sys.stdout.buffer
        self.counts = DeliveryCounts()

    def send(self, key: bytes, value: bytes) -> None:
        self.out.write(value + b"\n")
        self.counts.sent += 1
        self.counts.delivered += 1

    def close(self, timeout_s: float) -> None:
        self.out.flush()


class KafkaSink:
    """An idempotent producer to one topic; delivery reports are counted, not ignored."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.counts = DeliveryCounts()
        self._errors = SecurityErrors()
        config: dict[str, Any] = {
            **settings.producer_config("anomstream-replay"),
            "error_cb": self._errors,
        }
        self._producer = Producer(config)
        self._check_topic(settings)

    def _check_topic(self, settings: KafkaSettings) -> None:
        # A broker that does not answer would otherwise make produce() queue silently and
        # flush() hang; asking for metadata first turns that into one clear error.
        deadline = time.monotonic() + settings.connect_timeout_s
        while True:
            try:
                metadata = self._producer.list_topics(
                    self.topic, timeout=max(deadline - time.monotonic(), 0.1)
                )
            except KafkaException:
                if reason := self._errors.reason(self._producer):
                    raise SinkError(refused(settings.bootstrap, reason)) from None
                raise SinkError(
                    f"cannot reach Kafka at {settings.bootstrap} within "
                    f"{settings.connect_timeout_s:g}s (start it: deploy/kafka/kafka-local start)"
                ) from None
            topic = metadata.topics.get(self.topic)
            error = None if topic is None else topic.error
            if topic is not None and error is None:
                return
            missing = error is None or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            # A topic created a moment ago may still be electing leaders: wait for it.
            if missing or time.monotonic() >= deadline:
                raise SinkError(
                    f"topic {self.topic} is not available on {settings.bootstrap}"
                    + (f" ({error.str()})" if error is not None and not missing else "")
                    + ": create the topics with `anomstream topics create`"
                )
            time.sleep(0.2)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.counts.delivered += 1
            return
        self.counts.failed += 1
        if not self.counts.first_error:
            self.counts.first_error = error.str()
            log.error("delivery to %s failed: %s", self.topic, error.str())

    def send(self, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(0.05)
        self.counts.sent += 1
        self._producer.poll(0)

    def close(self, timeout_s: float) -> None:
        """Wait for outstanding deliveries; what is still queued then counts as failed."""
        left = self._producer.flush(timeout_s)
        if left:
            self.counts.failed += left
            self.counts.first_error = self.counts.first_error or (
                f"{left} messages undelivered after {timeout_s:g}s"
            )
