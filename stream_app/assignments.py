"""The partitions a worker owns, and their state rebuilt from Kafka when it gets them.

On assignment, the committed offsets say where to resume; the state topic's snapshots and
the readings before the committed offset rebuild each entity's window and alert state
(`stream_app.restore`). A rewind (a cycle that could not be committed) drops the
partitions' state and does the same, seeking back to the committed offsets; a partition with
nothing committed goes back to where this worker started reading it, never to the topic's
beginning. Reads that fail while the broker is away are retried until it answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition

from stream_app.liveness import Liveness, Stopping
from stream_app.messages import InMessage, OutMessage
from stream_app.metrics import WorkerMetrics
from stream_app.output_topics import OutputTopics
from stream_app.partition_history import PartitionHistory, TopicMissingError
from stream_app.processor import Processor
from stream_app.restore import rebuild_without_snapshots, restore_from_snapshots

__all__ = ["Assignments"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, int]


class Assignments:
    """Tracks assigned partitions; restores, drops and rewinds their entities."""

    def __init__(
        self,
        processor: Processor,
        history: PartitionHistory,
        topics: OutputTopics,
        liveness: Liveness,
        metrics: WorkerMetrics,
        stop: threading.Event,
        on_answer: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_answer = on_answer  # the broker answered a read
        self._processor = processor
        self._history = history
        self._topics = topics
        self._liveness = liveness
        self._metrics = metrics
        self._stop = stop
        self.assigned: set[Key] = set()
        # Partitions with no committed offset: the first offset read since assignment
        # (None until one is read), which is where a rewind must go back to.
        self._fresh: dict[Key, int | None] = {}

    # -- bookkeeping from the loop -------------------------------------------------------

    def consumed(self, messages: Iterable[InMessage]) -> None:
        if not self._fresh:
            return
        for message in messages:
            key = (message.topic, message.partition)
            if key in self._fresh and self._fresh[key] is None:
                self._fresh[key] = message.offset

    def committed(self, offsets: Iterable[Key]) -> None:
        for key in offsets:
            self._fresh.pop(key, None)

    def all_snapshots(self) -> list[OutMessage]:
        return [s for t, p in sorted(self.assigned) for s in self._processor.snapshots_of(t, p)]

    # -- rebalance callbacks ---------------------------------------------------------------

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(consumer, partitions)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self.assigned.discard(key)
            self._fresh.pop(key, None)
            dropped = self._processor.drop_partition(tp.topic, tp.partition)
            try:
                self._metrics.lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass  # never measured
            log.info(
                "partition %s/%d revoked (%d entities dropped)", tp.topic, tp.partition, dropped
            )

    def rewind(self, consumer: Consumer, keys: list[Key]) -> None:
        """Back to the committed state of these partitions (those still assigned)."""
        keys = [k for k in keys if k in self.assigned]
        self._metrics.recoveries.labels("rewind").inc()
        for topic, partition in keys:
            self._processor.drop_partition(topic, partition)
        partitions = [TopicPartition(t, p) for t, p in keys]
        for tp in self._committed(consumer, partitions):
            key = (tp.topic, tp.partition)
            target = tp.offset if tp.offset >= 0 else self._fresh.get(key)
            if target is None:
                continue  # nothing read yet: the position has not moved
            try:
                consumer.seek(TopicPartition(tp.topic, tp.partition, target))
            except KafkaException as exc:
                log.warning("cannot seek %s/%d back to %d: %s", *key, target, exc)
        self._restore(consumer, partitions)

    # -- restoring -------------------------------------------------------------------------

    def _restore(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        self._liveness.recovering = "restoring partitions"
        for tp in self._committed(consumer, partitions):
            started = time.perf_counter()
            key = (tp.topic, tp.partition)
            self.assigned.add(key)
            if tp.offset < 0:
                self._fresh.setdefault(key, None)
                log.info(
                    "partition %s/%d: nothing committed, starting fresh", tp.topic, tp.partition
                )
                continue
            self._fresh.pop(key, None)
            restored, how = self._restore_partition(consumer, tp)
            seconds = time.perf_counter() - started
            self._metrics.restores.inc()
            self._metrics.restore_seconds.observe(seconds)
            log.info(
                "partition %s/%d: resumed at offset %d with %d entities restored %s in %.2fs",
                tp.topic, tp.partition, tp.offset, restored, how, seconds,
            )  # fmt: skip
        self._liveness.recovering = None

    def _restore_partition(self, consumer: Consumer, tp: TopicPartition) -> tuple[int, str]:
        topic, partition, committed = tp.topic, tp.partition, tp.offset
        state_partition = partition % self._topics.state_partitions
        snaps = self._read(
            lambda: self._history.snapshots(
                self._topics.state_topic, state_partition, topic, partition
            )
        )
        if snaps:
            starts = [
                s["window_start_offset"]
                for s in snaps.values()
                if s["window_start_offset"] is not None
            ]
            begin = min(starts, default=committed)
            readings = self._read(
                lambda: list(self._history.readings(topic, partition, begin, committed))
            )
            restored = restore_from_snapshots(self._processor, topic, partition, snaps, readings)
            return restored, "from snapshots"
        # Offsets were committed but no snapshot is left: the state topic was deleted (or
        # emptied). Rebuild windows as a first start would fill them, and say so.
        low = self._read(lambda: consumer.get_watermark_offsets(tp, timeout=10))[0]
        begin = max(low, committed - self._processor.settings.state_rebuild_messages)
        readings = self._read(
            lambda: list(self._history.readings(topic, partition, begin, committed))
        )
        rebuilt = rebuild_without_snapshots(self._processor, topic, partition, readings)
        if rebuilt or readings:
            self._metrics.recoveries.labels("state_rebuilt").inc()
            log.warning(
                "partition %s/%d: offsets are committed up to %d but %s holds no state for it "
                "(deleted?): rebuilt the windows of %d entities from the %d readings before "
                "the committed offset; their alert state starts closed",
                topic, partition, committed, self._topics.state_topic, rebuilt, len(readings),
            )  # fmt: skip
        return rebuilt, "from readings (state lost)"

    def _committed(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        return self._read(lambda: consumer.committed(partitions, timeout=10))

    def _read(self, read: Callable[[], T]) -> T:
        """`read()`, retried while the broker is away or the state topic is missing."""
        delay, last_log = 0.5, 0.0
        while True:
            if self._stop.is_set():
                raise Stopping()
            self._liveness.beat()
            try:
                result = read()
            except TopicMissingError as exc:
                if exc.topic != self._topics.state_topic:
                    raise
                self._topics.ensure({exc.topic})
            except (KafkaException, TimeoutError) as exc:
                if time.monotonic() - last_log > 30:
                    last_log = time.monotonic()
                    log.warning("restoring state: %s; retrying", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
            else:
                self._on_answer()
                return result
