"""The consume-score-publish loop: one Kafka transaction per cycle, offsets included.

Each cycle reads up to `batch_max_messages` records, scores them, and publishes the scores,
alerts, dead letters and the touched entities' snapshots in one transaction together with
the consumed offsets (`send_offsets_to_transaction`). Readers with
`isolation.level=read_committed` therefore see every score exactly once: a worker killed
mid-cycle leaves an aborted transaction, and its successor resumes from the committed
offsets with the state committed alongside them. On assignment, a partition's entities are
rebuilt from their last snapshot plus the readings that filled their windows.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from producers.kafka_config import KafkaSettings
from stream_app.metrics import WorkerMetrics
from stream_app.model_store import ModelStore
from stream_app.partition_history import PartitionHistory
from stream_app.processor import InMessage, Processor
from stream_app.settings import AlertPolicy, WorkerSettings
from stream_app.state_topic import ensure_state_topic

__all__ = ["Engine"]

log = logging.getLogger(__name__)


class Engine:
    """Runs the worker loop until `stop` is set; raises if it cannot go on."""

    def __init__(
        self,
        settings: WorkerSettings,
        kafka: KafkaSettings,
        policy: AlertPolicy,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.kafka = kafka
        self.metrics = metrics
        store = ModelStore(
            settings.models_dir,
            detector=settings.detector,
            device=settings.device,
            dataset_fallback=settings.unknown_entity == "dataset",
            refresh_s=settings.model_refresh_s,
            torch_threads=settings.torch_threads,
        )
        self.processor = Processor(store, settings, policy)
        self._assigned: set[tuple[str, int]] = set()
        self._state_partitions = 1
        # Set once the first assignment has been restored: a readiness signal for tests.
        self.ready = threading.Event()

    # -- clients -------------------------------------------------------------------------

    def _producer(self) -> Producer:
        config = self.kafka.producer_config(f"anomstream-worker-{self.settings.worker_id}")
        config.update(
            {
                "transactional.id": self.settings.transactional_id(),
                "transaction.timeout.ms": self.settings.transaction_timeout_ms,
                "linger.ms": min(self.kafka.linger_ms, 5),
            }
        )
        return Producer(config)

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.kafka.bootstrap,
                "group.id": self.settings.group_id,
                "client.id": f"anomstream-worker-{self.settings.worker_id}",
                "enable.auto.commit": False,
                "auto.offset.reset": self.settings.start_from,
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": self.settings.session_timeout_ms,
                # A cycle of slow deep scoring must not get the worker thrown out of the group.
                "max.poll.interval.ms": 900_000,
                "heartbeat.interval.ms": max(1000, self.settings.session_timeout_ms // 4),
                "topic.metadata.refresh.interval.ms": 10_000,
                "log_level": 2,
            }
        )

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        settings = self.settings
        self._state_partitions = ensure_state_topic(self.kafka.bootstrap, settings)
        producer = self._producer()
        producer.init_transactions(30)
        consumer = self._consumer()
        history = PartitionHistory(self.kafka.bootstrap)
        self._consumer_ref = consumer
        self._history = history
        consumer.subscribe(
            settings.topic_list(),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        preloaded = self.processor.store.preload(self._subscribed_dataset)
        log.info(
            "worker %s in group %s reading %s, models in %s (%d loaded)",
            settings.worker_id, settings.group_id, settings.topics, settings.models_dir, preloaded,
        )  # fmt: skip
        next_refresh = next_lag = time.monotonic()
        try:
            while not stop.is_set():
                records = consumer.consume(
                    num_messages=settings.batch_max_messages,
                    timeout=settings.batch_wait_ms / 1000,
                )
                if records:
                    self._cycle(records, producer, consumer)
                now = time.monotonic()
                if now >= next_refresh:
                    next_refresh = now + settings.model_refresh_s
                    self._refresh_models()
                if now >= next_lag:
                    next_lag = now + settings.lag_interval_s
                    self._measure_lag(consumer)
        finally:
            log.info("worker %s stopping", settings.worker_id)
            consumer.close()
            history.close()
            producer.flush(10)

    def _subscribed_dataset(self, dataset: str) -> bool:
        topic = f"readings.{dataset}"
        for entry in self.settings.topic_list():
            if entry == topic or (entry.startswith("^") and re.match(entry, topic)):
                return True
        return False

    def _cycle(self, records: list[Message], producer: Producer, consumer: Consumer) -> None:
        started = time.perf_counter()
        messages, offsets = [], {}
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer: %s", error)
                continue
            topic, partition, offset = (
                record.topic() or "",
                record.partition() or 0,
                record.offset() or 0,
            )
            offsets[(topic, partition)] = offset + 1
            messages.append(
                InMessage(
                    topic, partition, offset, record.key(), record.value(), record.timestamp()[1]
                )
            )
        if not messages:
            return
        result = self.processor.process(messages)
        try:
            producer.begin_transaction()
            for out in result.outputs:
                _produce(
                    producer, out.topic, out.key, out.value, out.partition, self._state_partitions
                )
            producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                consumer.consumer_group_metadata(),
            )
            producer.commit_transaction()
        except KafkaException as exc:
            self.metrics.transactions.labels("aborted").inc()
            self._recover(exc, producer, consumer)
            return
        committed_ms = time.time() * 1000
        self.metrics.transactions.labels("committed").inc()
        self.metrics.record_cycle(result, committed_ms)
        self.metrics.cycle_seconds.observe(time.perf_counter() - started)
        self.metrics.entities.set(len(self.processor.entities))

    def _recover(self, exc: KafkaException, producer: Producer, consumer: Consumer) -> None:
        """A cycle's transaction failed: abort it and rebuild from the committed offsets."""
        error = exc.args[0]
        if isinstance(error, KafkaError) and error.fatal():
            raise RuntimeError(
                f"transactional producer {self.settings.transactional_id()} cannot go on "
                f"({error.str()}); is another worker using ANOMSTREAM_WORKER_WORKER_ID="
                f"{self.settings.worker_id}?"
            ) from exc
        log.warning("transaction aborted (%s); resuming from the committed offsets", exc)
        producer.abort_transaction(30)
        for topic, partition in list(self._assigned):
            self.processor.drop_partition(topic, partition)
        partitions = [TopicPartition(t, p) for t, p in self._assigned]
        for tp in consumer.committed(partitions, timeout=30):
            consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
        self._restore(partitions, consumer)

    # -- rebalances ----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(partitions, consumer)
        self.ready.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
            dropped = self.processor.drop_partition(tp.topic, tp.partition)
            try:
                self.metrics.lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass  # never measured
            log.info(
                "partition %s/%d revoked (%d entities dropped)", tp.topic, tp.partition, dropped
            )

    def _restore(self, partitions: list[TopicPartition], consumer: Consumer) -> None:
        if not partitions:
            return
        committed = consumer.committed(partitions, timeout=30)
        state_topic = self.settings.state_topic_name()
        for tp in committed:
            started = time.perf_counter()
            self._assigned.add((tp.topic, tp.partition))
            if tp.offset < 0:
                log.info(
                    "partition %s/%d: nothing committed, starting fresh", tp.topic, tp.partition
                )
                continue
            snaps = self._history.snapshots(
                state_topic, tp.partition % self._state_partitions, tp.topic, tp.partition
            )
            starts = [
                s["window_start_offset"]
                for s in snaps.values()
                if s["window_start_offset"] is not None
            ]
            history = self._history.readings(
                tp.topic, tp.partition, min(starts, default=tp.offset), tp.offset
            )
            restored = self.processor.restore(tp.topic, tp.partition, snaps, history)
            seconds = time.perf_counter() - started
            self.metrics.restores.inc()
            self.metrics.restore_seconds.observe(seconds)
            log.info(
                "partition %s/%d: resumed at offset %d with %d entities restored in %.2fs",
                tp.topic, tp.partition, tp.offset, restored, seconds,
            )  # fmt: skip

    # -- housekeeping --------------------------------------------------------------------

    def _refresh_models(self) -> None:
        for swap in self.processor.apply_model_swaps():
            log.info("model swapped without a restart: %s", swap)
            self.metrics.model_reloads.inc()
        self.metrics.model_info.clear()
        for model in self.processor.store.in_use():
            self.metrics.model_info.labels(
                model.dataset, model.owner, model.detector, model.version
            ).set(1)

    def _measure_lag(self, consumer: Consumer) -> None:
        partitions = [TopicPartition(t, p) for t, p in self._assigned]
        if not partitions:
            return
        try:
            positions = consumer.position(partitions)
        except KafkaException:
            return
        for tp in positions:
            low, high = consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            position = tp.offset if tp.offset >= 0 else low
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))


def _produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes,
    partition: int | None,
    state_partitions: int,
) -> None:
    # -1 (librdkafka's "unassigned") lets the partitioner choose from the key.
    chosen = -1 if partition is None else partition % state_partitions
    while True:
        try:
            producer.produce(topic, value, key, partition=chosen)
            return
        except BufferError:
            producer.poll(0.05)  # the local queue is full: let deliveries drain it
