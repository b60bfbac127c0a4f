"""The consume-score-publish loop: one Kafka transaction per cycle, offsets included.

Each cycle reads up to `batch_max_messages` records, scores them, and publishes the scores,
alerts, dead letters and the touched entities' snapshots in one transaction together with
the consumed offsets (`stream_app.publisher`). Readers with `isolation.level=read_committed`
therefore see every score exactly once: a worker killed mid-cycle leaves an aborted
transaction, and its successor resumes from the committed offsets with the state committed
alongside them (`stream_app.assignments`).

The loop never waits unboundedly: it beats `Liveness` at every turn, also while it rides out
a broker outage, so that a stall is told apart from an outage and ends the process.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from producers.kafka_config import KafkaSettings
from stream_app.assignments import Assignments
from stream_app.deadletter_log import DeadLetterLog
from stream_app.liveness import Liveness, Stopping
from stream_app.messages import InMessage, OutMessage
from stream_app.metrics import WorkerMetrics
from stream_app.model_store import ModelStore
from stream_app.output_topics import OutputTopics
from stream_app.partition_history import PartitionHistory
from stream_app.processor import CycleResult, Processor
from stream_app.publisher import CycleLost, MissingTopics, Publisher, is_transient
from stream_app.settings import AlertPolicy, WorkerSettings
from stream_app.twin_check import find_twin

__all__ = ["Engine"]

log = logging.getLogger(__name__)

_STALE_SWEEP_S = 5.0


class Engine:
    """Runs the worker loop until `stop` is set; raises if it cannot go on."""

    def __init__(
        self,
        settings: WorkerSettings,
        kafka: KafkaSettings,
        policy: AlertPolicy,
        metrics: WorkerMetrics,
        liveness: Liveness | None = None,
    ) -> None:
        self.settings = settings
        self.kafka = kafka
        self.metrics = metrics
        self._consume_phase = metrics.phase_seconds.labels("consume")
        self._process_phase = metrics.phase_seconds.labels("process")
        self._commit_phase = metrics.phase_seconds.labels("commit")
        self.liveness = liveness or Liveness(settings.stall_timeout_s)
        store = ModelStore(
            settings.models_dir,
            detector=settings.detector,
            device=settings.device,
            dataset_fallback=settings.unknown_entity == "dataset",
            refresh_s=settings.model_refresh_s,
            torch_threads=settings.torch_threads,
            on_load_failure=lambda dataset, detector: metrics.model_load_failures.labels(
                dataset, detector
            ).inc(),
        )
        self.processor = Processor(store, settings, policy)
        self.dead_letters = DeadLetterLog(settings.deadletter_log_interval_s)
        # Set once the first assignment has been restored: a readiness signal for tests.
        self.ready = threading.Event()
        self._last_answer = 0.0  # when the broker last answered (monotonic)

    # -- clients -------------------------------------------------------------------------

    def _producer_config(self) -> dict[str, str | int | bool]:
        config = self.kafka.producer_config(f"anomstream-worker-{self.settings.worker_id}")
        config.update(
            {
                "transactional.id": self.settings.transactional_id(),
                "transaction.timeout.ms": self.settings.transaction_timeout_ms,
                "linger.ms": min(self.kafka.linger_ms, 5),
            }
        )
        return config

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                **self.kafka.client_config(),
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
                "error_cb": self._on_client_error,
                "log_level": 2,
            }
        )

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        settings = self.settings
        self._stop = stop
        self.topics = OutputTopics(self.kafka, settings, self.liveness, stop)
        self.publisher = Publisher(
            self._producer_config(),
            liveness=self.liveness,
            metrics=self.metrics,
            stop=stop,
            twin_check=self._find_twin,
            absent=self.topics.absent,
            on_broker_down=self._on_client_error,
            on_trouble=self._kafka_trouble,
        )
        self._consumer_ref: Consumer | None = None
        consumer: Consumer | None = None
        history: PartitionHistory | None = None
        try:
            self.topics.prepare()
            self.publisher.open()
            consumer = self._consumer_ref = self._consumer()
            history = PartitionHistory(self.kafka.client_config())
            self.assignments = Assignments(
                self.processor, history, self.topics, self.liveness, self.metrics, stop,
                on_answer=self._broker_answered,
            )  # fmt: skip
            consumer.subscribe(
                settings.topic_list(),
                on_assign=self._on_assign,
                on_revoke=self.assignments.on_revoke,
                on_lost=self.assignments.on_revoke,
            )
            self._announce()
            self._loop(consumer)
        except Stopping:
            pass
        finally:
            log.info("worker %s stopping", settings.worker_id)
            if consumer is not None:
                consumer.close()
            if history is not None:
                history.close()
            self.publisher.close()

    def _announce(self) -> None:
        settings = self.settings
        preloaded = self.processor.store.preload(self.topics.subscribed_dataset)
        log.info(
            "worker %s in group %s reading %s, models in %s (%d loaded)",
            settings.worker_id, settings.group_id, settings.topics, settings.models_dir, preloaded,
        )  # fmt: skip
        if preloaded == 0:
            log.warning(
                "no models for the subscribed datasets in %s%s: readings will be dead-lettered "
                "as no_model until one is trained (anomstream train)",
                settings.models_dir,
                f" for detector {settings.detector}" if settings.detector else "",
            )

    def _loop(self, consumer: Consumer) -> None:
        settings = self.settings
        now = time.monotonic()
        next_refresh = next_lag = next_sweep = now
        while not self._stop.is_set():
            self.liveness.beat()
            self.metrics.loop_timestamp.set(time.time())
            waited = time.perf_counter()
            records = consumer.consume(
                num_messages=settings.batch_max_messages,
                timeout=settings.batch_wait_ms / 1000,
            )
            self._consume_phase.inc(time.perf_counter() - waited)
            if records:
                self._cycle(records, consumer)
            now = time.monotonic()
            if now >= next_refresh:
                next_refresh = now + settings.model_refresh_s
                self._refresh_models()
            if now >= next_lag:
                next_lag = now + settings.lag_interval_s
                self._measure_lag(consumer)
            if now >= next_sweep:
                next_sweep = now + _STALE_SWEEP_S
                stale = self.processor.resolve_stale()
                if stale.outputs:
                    self._commit(stale, {}, consumer)
            self.dead_letters.flush()

    def _cycle(self, records: list[Message], consumer: Consumer) -> None:
        started = time.perf_counter()
        messages, offsets = [], {}
        for record in records:
            error = record.error()
            if error is not None:
                self._on_client_error(error)
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
        self.assignments.consumed(messages)
        result = self.processor.process(messages)
        self.dead_letters.add(result)
        processed = time.perf_counter()
        self._process_phase.inc(processed - started)
        committed = self._commit(result, offsets, consumer)
        self._commit_phase.inc(time.perf_counter() - processed)
        if committed:
            self.metrics.cycle_seconds.observe(time.perf_counter() - started)

    def _commit(
        self, result: CycleResult, offsets: dict[tuple[str, int], int], consumer: Consumer
    ) -> bool:
        """Publish a cycle's outputs with its offsets; False if the cycle was given up."""
        outputs: list[OutMessage] = result.outputs
        positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        while True:
            try:
                self.publisher.publish(outputs, positions, consumer, self.topics.state_partitions)
                break
            except MissingTopics as exc:
                log.error("%s", exc)
                if self.topics.ensure(exc.topics):
                    # A new, empty state topic: every entity's snapshot goes into it now,
                    # so that a restart finds them (the cycle's own are among them).
                    outputs = result.outputs + self.assignments.all_snapshots()
                    self.metrics.recoveries.labels("state_rebuilt").inc()
                self.metrics.recoveries.labels("topic_created").inc()
            except CycleLost as exc:
                log.warning("the cycle cannot be committed (%s): rewinding", exc)
                self.assignments.rewind(consumer, list(offsets))
                return False
        committed_ms = time.time() * 1000
        self.assignments.committed(offsets)
        self.liveness.last_commit_wall = committed_ms / 1000
        self._broker_answered()
        self.metrics.last_commit_timestamp.set(committed_ms / 1000)
        self.metrics.transactions.labels("committed").inc()
        self.metrics.record_cycle(result, committed_ms)
        self.metrics.entities.set(len(self.processor.entities))
        self.metrics.learning.set(len(self.processor.probations))
        return True

    # -- rebalances and connectivity -------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignments.on_assign(consumer, partitions)
        self.ready.set()

    def _on_client_error(self, error: KafkaError) -> None:
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code == KafkaError._ALL_BROKERS_DOWN:
            # Also called from inside librdkafka calls: it records, never calls a client.
            # An event queued before the broker came back is older than its last answer.
            if time.monotonic() - self._last_answer >= 2.0:
                self._kafka_trouble(error.str())
            return
        if is_transient(error):
            return  # one broker of several, or a moment: the transaction retries tell
        log.warning("consumer: %s", error)

    def _kafka_trouble(self, reason: str) -> None:
        """Kafka stopped answering (all brokers down, or transactions failing): say so once."""
        if self.liveness.broker_down():
            self.metrics.kafka_connected.set(0)
            log.warning("Kafka does not answer (%s); waiting for it", reason)

    def _probe_fails(self) -> bool:
        consumer = self._consumer_ref
        if consumer is None:
            return True
        try:
            consumer.list_topics(timeout=1)
        except KafkaException:
            return True
        return False

    def _find_twin(self) -> str | None:
        consumer = self._consumer_ref
        own = consumer.memberid() if consumer is not None else None
        return find_twin(
            self.kafka.client_config(),
            self.settings.group_id,
            f"anomstream-worker-{self.settings.worker_id}",
            own,
        )

    def _broker_answered(self) -> None:
        self._last_answer = time.monotonic()
        down = self.liveness.broker_up()
        self.metrics.kafka_connected.set(1)
        if down is not None:
            log.info("Kafka answers again after %.1fs", down)

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
        if self.liveness.broker_down_since is not None:
            if self._probe_fails():
                return
            self._broker_answered()
        partitions = [TopicPartition(t, p) for t, p in self.assignments.assigned]
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
