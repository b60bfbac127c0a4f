"""Live tail of the worker's outputs: read committed alerts or scores, filter, print.

The consumer assigns partitions itself (no group membership, nothing committed), so a tail
starts at once, leaves no consumer group behind and never moves anyone else's offsets.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaException,
    Message,
    TopicPartition,
)

from consumers.tail_filter import Kind, StartPosition, TailFilter, decode_items
from consumers.tail_format import Printer
from producers.kafka_config import KafkaSettings
from producers.kafka_errors import SecurityErrors, refused
from schemas import SchemaError

__all__ = [
    "TailCounts",
    "TailError",
    "TailOptions",
    "start_offsets",
    "tail",
    "topic_partitions",
    "unreachable",
]

log = logging.getLogger(__name__)

_POLL_S = 0.2
_PATTERN_REFRESH_S = 5.0


class TailError(RuntimeError):
    """The tail cannot start: unreachable broker, missing topic."""


@dataclass(frozen=True)
class TailOptions:
    """What to read (`topics`, or every topic `topic_pattern` fully matches) and how long."""

    kind: Kind
    # The cluster and how to log in to it (ANOMSTREAM_KAFKA_*).
    kafka: KafkaSettings
    topics: tuple[str, ...] = ()
    topic_pattern: re.Pattern[str] | None = None
    start: StartPosition = StartPosition("latest")
    filter: TailFilter = TailFilter()
    limit: int | None = None
    idle_timeout_s: float | None = None
    connect_timeout_s: float = 10.0

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap


@dataclass
class TailCounts:
    """Messages read, lines printed, messages that matched no model, and why it stopped."""

    read: int = 0
    printed: int = 0
    undecodable: int = 0
    stopped_by: str = "end"
    errors: set[str] = field(default_factory=set)

    def line(self) -> str:
        bad = f", {self.undecodable} undecodable skipped" if self.undecodable else ""
        return f"{self.printed} printed of {self.read} read{bad} ({self.stopped_by})"


def _consumer(options: TailOptions, errors: SecurityErrors) -> Consumer:
    config: dict[str, Any] = {
        **options.kafka.client_config(),
        # Required by the client; never joined, since partitions are assigned directly.
        "group.id": f"anomstream-tail-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # The worker writes in transactions: aborted attempts must stay invisible.
        "isolation.level": "read_committed",
        "auto.offset.reset": "latest" if options.start.kind == "latest" else "earliest",
        "client.id": "anomstream-tail",
        # An unreachable broker is reported once by list_topics below, not per attempt.
        "log_level": 2,
        "error_cb": errors,
    }
    return Consumer(config)


def unreachable(options: TailOptions, reason: str | None = None) -> TailError:
    """The broker did not answer; `reason` is the login or TLS failure, when one was seen."""
    if reason is not None:
        return TailError(refused(options.bootstrap, reason))
    return TailError(
        f"cannot reach Kafka at {options.bootstrap} within {options.connect_timeout_s:g}s "
        "(start it: deploy/kafka/kafka-local start)"
    )


def topic_partitions(
    consumer: Consumer,
    options: TailOptions,
    timeout_s: float,
    errors: SecurityErrors | None = None,
) -> dict[str, list[int]]:
    """The partitions of the topics to read, as the cluster lists them now; `errors` (the
    consumer's error callback) tells a refused login from a broker that is not there."""
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
    except KafkaException:
        raise unreachable(options, errors.reason(consumer) if errors else None) from None
    found = {
        name: sorted(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None and not name.startswith("__")
    }
    if options.topic_pattern is not None:
        return {n: p for n, p in found.items() if options.topic_pattern.fullmatch(n)}
    for name in options.topics:
        if name not in found:
            raise TailError(
                f"topic {name} does not exist on {options.bootstrap}: create the topics with "
                "`anomstream topics create`, or start the worker"
            )
    return {name: found[name] for name in options.topics}


def start_offsets(
    consumer: Consumer,
    partitions: dict[str, list[int]],
    start: StartPosition,
    timeout_s: float,
    now: datetime,
) -> list[TopicPartition]:
    if start.kind != "ago":
        offset = OFFSET_BEGINNING if start.kind == "beginning" else OFFSET_END
        return [TopicPartition(t, p, offset) for t, ps in partitions.items() for p in ps]
    assert start.ago is not None  # noqa: S101 - parse_start always sets it for "ago"
    since_ms = int((now - start.ago).timestamp() * 1000)
    wanted = [TopicPartition(t, p, since_ms) for t, ps in partitions.items() for p in ps]
    if not wanted:
        return []
    try:
        found = consumer.offsets_for_times(wanted, timeout=timeout_s)
    except KafkaException as exc:
        raise TailError(f"cannot look up offsets by time: {exc.args[0]}") from None
    # -1 means no message at or after that time: start at the end of that partition.
    return [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in found]


def tail(
    options: TailOptions,
    printer: Printer,
    out: IO[bytes],
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TailCounts:
    """Print matching messages until the limit, the idle timeout, `stop` or Ctrl-C.

    `stop` is checked between messages, so a signal handler that sets it ends the tail at a
    clean point, with every printed line counted; a KeyboardInterrupt still ends it too.
    """
    counts = TailCounts()
    stop = stop if stop is not None else threading.Event()
    errors = SecurityErrors()
    consumer = _consumer(options, errors)
    try:
        partitions = topic_partitions(consumer, options, options.connect_timeout_s, errors)
        if not partitions:
            log.warning("no topic matches %s yet; waiting", _pattern_text(options))
        consumer.assign(
            start_offsets(
                consumer, partitions, options.start, options.connect_timeout_s, datetime.now(UTC)
            )
        )
        _loop(consumer, options, printer, out, counts, set(partitions), stop, clock)
    except KeyboardInterrupt:
        counts.stopped_by = "interrupted"
    finally:
        consumer.close()
    return counts


def _pattern_text(options: TailOptions) -> str:
    return options.topic_pattern.pattern if options.topic_pattern is not None else ""


def _loop(
    consumer: Consumer,
    options: TailOptions,
    printer: Printer,
    out: IO[bytes],
    counts: TailCounts,
    assigned: set[str],
    stop: threading.Event,
    clock: Callable[[], float],
) -> None:
    last_print = refreshed = clock()
    while True:
        if stop.is_set():
            counts.stopped_by = "interrupted"
            return
        if options.limit is not None and counts.printed >= options.limit:
            counts.stopped_by = "limit"
            return
        now = clock()
        if options.idle_timeout_s is not None and now - last_print >= options.idle_timeout_s:
            counts.stopped_by = "timeout"
            return
        if options.topic_pattern is not None and now - refreshed >= _PATTERN_REFRESH_S:
            refreshed = now
            _assign_new_topics(consumer, options, assigned)
        messages = consumer.consume(500, timeout=_POLL_S)
        printed_before = counts.printed
        for message in messages:
            if stop.is_set():
                break
            _handle(message, options, printer, counts)
            if options.limit is not None and counts.printed >= options.limit:
                break
        if counts.printed != printed_before:
            out.flush()
            last_print = clock()


def _assign_new_topics(consumer: Consumer, options: TailOptions, assigned: set[str]) -> None:
    try:
        partitions = topic_partitions(consumer, options, _POLL_S * 5)
    except TailError:
        return  # A transient metadata failure; the next refresh tries again.
    new = {t: p for t, p in partitions.items() if t not in assigned}
    if new:
        # Everything in a topic that appeared after the tail started is new to the reader.
        consumer.incremental_assign(
            [TopicPartition(t, p, OFFSET_BEGINNING) for t, ps in new.items() for p in ps]
        )
        assigned.update(new)
        log.info("now also reading %s", ", ".join(sorted(new)))


def _handle(message: Message, options: TailOptions, printer: Printer, counts: TailCounts) -> None:
    error = message.error()
    if error is not None:
        if error.str() not in counts.errors:
            counts.errors.add(error.str())
            log.warning("%s: %s", message.topic(), error.str())
        return
    counts.read += 1
    value = message.value() or b""
    try:
        items = decode_items(options.kind, value)
    except SchemaError as exc:
        counts.undecodable += 1
        log.warning(
            "skipping %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), exc
        )
        return
    matching = [item for item in items if options.filter.accepts(item)]
    room = None if options.limit is None else options.limit - counts.printed
    counts.printed += printer.write(value, matching, room)
