"""One cycle's outputs and consumed offsets, committed in one Kafka transaction, once.

A cycle's outputs are a pure function of its input and the committed state, so a failed
transaction is simply tried again with the same outputs: readers with read_committed never
see the aborted attempt. The retries ride out what a broker does to a producer:

- a retriable commit error (a timeout): the commit is called again;
- an abortable error: the transaction is aborted and the cycle sent again;
- a fatal producer error (after a broker restart, INVALID_TXN_STATE): a new producer with
  the same transactional id re-initialises, which completes or aborts the old transaction;
  the group's committed offsets then tell whether the cycle made it, and it is sent again
  only if it did not.

What retrying cannot mend is raised: `MissingTopics` (the engine creates them or waits),
`CycleLost` (the group moved on: the engine rewinds to the committed state) and
`CannotGoOn` (fenced by another worker with the same id, or an error that keeps coming):
the worker exits non-zero rather than spin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from stream_app.bounded_call import BoundedCalls, CallHung
from stream_app.liveness import Liveness, Stopping
from stream_app.messages import OutMessage
from stream_app.metrics import WorkerMetrics

__all__ = ["CannotGoOn", "CycleLost", "MissingTopics", "Publisher", "is_transient"]

log = logging.getLogger(__name__)

# Errors of a broker that is away or electing leaders: wait them out, however long.
_TRANSIENT = frozenset(
    getattr(KafkaError, name)
    for name in (
        "_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_MSG_TIMED_OUT", "_RESOLVE",
        "_WAIT_COORD", "_TIMED_OUT_QUEUE", "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION",
        "COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS",
        "NOT_LEADER_OR_FOLLOWER", "LEADER_NOT_AVAILABLE", "NOT_ENOUGH_REPLICAS",
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "CONCURRENT_TRANSACTIONS", "BROKER_NOT_AVAILABLE",
        "KAFKA_STORAGE_ERROR", "_NODE_UPDATE", "_PURGE_QUEUE", "_PURGE_INFLIGHT",
    )
    if hasattr(KafkaError, name)
)  # fmt: skip
# The consumer group moved on (rebalance, session expired): these offsets are not ours.
_GROUP = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.FENCED_INSTANCE_ID,
    }
)
# Another producer took this transactional id: two workers share ANOMSTREAM_WORKER_WORKER_ID.
_FENCED = frozenset({KafkaError.PRODUCER_FENCED, KafkaError._FENCED})
_MISSING = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})
_LOG_EVERY_S = 30.0
# Transactional calls get a short timeout of their own (a timed-out commit is resumed, the
# rest abort and retry); a call still running well past it is taken to hang.
_OWN_S = 5.0
_CALL_S = 8.0


class CycleLost(Exception):
    """The cycle's offsets can no longer be committed by this member: rewind."""


class MissingTopics(Exception):
    """Outputs went to topics the broker does not have."""

    def __init__(self, topics: set[str], detail: str) -> None:
        super().__init__(detail)
        self.topics = topics


class CannotGoOn(RuntimeError):
    """Retrying will not help: the worker must stop (and be restarted or fixed)."""


def is_transient(error: KafkaError) -> bool:
    return error.code() in _TRANSIENT


class Publisher:
    """Owns the transactional producer; `publish` returns once the cycle is committed."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        liveness: Liveness,
        metrics: WorkerMetrics,
        stop: threading.Event,
        twin_check: Callable[[], str | None] = lambda: None,
        absent: Callable[[set[str]], set[str]] = lambda topics: set(),
        on_broker_down: Callable[[KafkaError], None] | None = None,
        on_trouble: Callable[[str], None] = lambda reason: None,
        max_attempts: int = 30,
    ) -> None:
        self._twin_check = twin_check
        # Which of these topics the cluster does not have (asked only after a failure).
        self._absent = absent
        self._on_broker_down = on_broker_down
        # Told when a transaction fails for a reason an outage gives (not a twin, not data).
        self._on_trouble = on_trouble
        self._fenced_at: list[float] = []
        self._config = config
        self._liveness = liveness
        self._metrics = metrics
        self._stop = stop
        self._max_attempts = max_attempts
        self._failures: list[tuple[str, KafkaError]] = []
        self._producer: Producer | None = None
        # Each producer's callbacks carry its generation: a given-up producer's late
        # reports must not be taken for the current one's.
        self._generation = 0
        self._given_up: list[Producer] = []  # still inside a hung call: not destroyed
        self._calls = BoundedCalls(liveness.beat, stop)

    # -- the producer ----------------------------------------------------------------

    def open(self) -> None:
        """A new producer, its transactions initialised (waits for the broker)."""
        delay = 0.2
        while True:
            self._check_stop()
            self._generation += 1
            generation = self._generation
            producer = self._producer = Producer(
                {
                    **self._config,
                    # Only failures are reported: they name the topic an output missed.
                    "delivery.report.only.error": True,
                    "on_delivery": partial(self._on_delivery, generation),
                    "error_cb": partial(self._on_error, generation),
                }
            )
            try:
                while True:
                    try:
                        self._calls.run(
                            partial(producer.init_transactions, 2 * _OWN_S),
                            2 * _CALL_S,
                            "init_transactions",
                        )
                        return
                    except KafkaException as exc:
                        error = exc.args[0]
                        if error.fatal():
                            raise
                        self._waiting("initialising transactions", error)
                        self._check_stop()
            except CallHung as exc:
                log.warning("%s; giving that producer up", exc)
                self._give_up()
            except KafkaException as exc:
                log.warning("new transactional producer failed (%s); trying again", exc)
                self._discard()
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            self._generation += 1  # its last reports are no one's business now
            try:
                producer.purge()
                producer.flush(1)
            # A fenced or fatal producer raises even here; it is dropped all the same,
            # and the error that ended the worker is the one to report.
            except Exception:  # noqa: BLE001, S110
                pass

    def _recover_fatal(self, error: KafkaError) -> None:
        """A fatal producer error: a new producer, unless a twin worker fenced this one."""
        if error.code() in _FENCED or self._failed_with(_FENCED):
            twin = self._twin_check()
            if twin is not None:
                raise CannotGoOn(f"{_fenced_message(self._config, error)} ({twin})")
            now = time.monotonic()
            self._fenced_at = [t for t in self._fenced_at if now - t < 300] + [now]
            if len(self._fenced_at) >= 5:
                raise CannotGoOn(
                    f"{_fenced_message(self._config, error)} (fenced 5 times in 5 minutes)"
                )
        self._restart(error)

    def _restart(self, reason: KafkaError) -> None:
        log.warning(
            "the transactional producer cannot go on (%s); starting a new one with the same "
            "transactional id, which completes or aborts the open transaction",
            reason.str(),
        )
        self._metrics.recoveries.labels("producer_restart").inc()
        self._liveness.recovering = "producer restart"
        self._discard()
        self.open()

    def _give_up(self) -> None:
        """Drop a producer stuck in a call without touching it (that would block too)."""
        if self._producer is not None:
            self._given_up.append(self._producer)
        self._producer = None

    def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            self._generation += 1
            try:
                producer.purge()
                producer.flush(0)
            except Exception:  # noqa: BLE001, S110 - fatal producers refuse even this
                pass

    # -- one cycle -------------------------------------------------------------------

    def publish(
        self,
        outputs: Sequence[OutMessage],
        offsets: list[TopicPartition],
        consumer: Consumer,
        state_partitions: int,
    ) -> int:
        """Commit the outputs with the offsets; returns the attempts it took."""
        started = time.monotonic()
        attempt = 0
        delay = 0.1
        while True:
            attempt += 1
            self._check_stop()
            self._failures.clear()
            try:
                self._transaction(outputs, offsets, consumer, state_partitions)
                if attempt > 1:
                    log.info(
                        "transaction committed after %d attempts in %.1fs",
                        attempt, time.monotonic() - started,
                    )  # fmt: skip
                self._liveness.recovering = None
                return attempt
            except CallHung as exc:
                # The producer's state is unknown: a new one completes or aborts what it
                # left open, and the group's offsets tell whether the cycle got through.
                log.warning("%s; starting a new transactional producer", exc)
                self._on_trouble(str(exc))
                self._metrics.transactions.labels("aborted").inc()
                self._metrics.recoveries.labels("producer_restart").inc()
                self._give_up()
                self.open()
                if offsets and self._committed(consumer, offsets):
                    return attempt
                self._sleep(delay)
                continue
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                self._metrics.transactions.labels("aborted").inc()
                detail = self._describe(error)
                if error.fatal() or error.code() in _FENCED:
                    self._recover_fatal(error)
                    if offsets and self._committed(consumer, offsets):
                        return attempt  # the old producer's commit went through
                else:
                    self._abort()
                missing = self._missing_topics()
                if missing:
                    names = ", ".join(sorted(missing))
                    raise MissingTopics(missing, f"{detail}; missing: {names}") from None
                if error.code() in _GROUP:
                    raise CycleLost(detail) from None
                transient = is_transient(error) or error.fatal() or self._failed_with(_TRANSIENT)
                if transient:
                    self._on_trouble(detail)
                if not transient and attempt >= self._max_attempts:
                    raise CannotGoOn(
                        f"a transaction failed {attempt} times in a row: {detail}"
                    ) from None
                self._metrics.recoveries.labels("retry").inc()
                self._liveness.recovering = "transaction retry"
                if attempt == 1 or attempt % 20 == 0:
                    log.warning(
                        "transaction of %d outputs aborted (%s); sending the cycle again "
                        "(attempt %d, %.1fs so far)",
                        len(outputs), detail, attempt + 1, time.monotonic() - started,
                    )  # fmt: skip
                self._sleep(delay)
                delay = min(delay * 2, 2.0)

    def _transaction(
        self,
        outputs: Sequence[OutMessage],
        offsets: list[TopicPartition],
        consumer: Consumer,
        state_partitions: int,
    ) -> None:
        producer = self._require()
        producer.begin_transaction()
        for out in outputs:
            # -1 (librdkafka's "unassigned") lets the partitioner choose from the key.
            chosen = -1 if out.partition is None else out.partition % state_partitions
            self._produce(producer, out, chosen)
        if offsets:
            # Not resumed after a timeout: a resumed call can block past any timeout while
            # the group coordinator is away (librdkafka #5456); abort and send again instead.
            group = consumer.consumer_group_metadata()
            self._calls.run(
                lambda: producer.send_offsets_to_transaction(offsets, group, _OWN_S),
                _CALL_S,
                "send_offsets_to_transaction",
            )
        self._retrying(
            lambda: self._calls.run(
                lambda: producer.commit_transaction(_OWN_S), _CALL_S, "commit_transaction"
            ),
            "committing",
        )

    def _produce(self, producer: Producer, out: OutMessage, partition: int) -> None:
        while True:
            try:
                producer.produce(out.topic, out.value, out.key, partition=partition)
                return
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain it
                self._liveness.beat()
                self._check_stop()

    def _retrying(self, call: Callable[[], object], what: str) -> None:
        """`call`, again while it fails with a retriable error (librdkafka allows that)."""
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or error.txn_requires_abort() or error.fatal():
                    raise
                self._waiting(what, error)
                self._liveness.beat()
                self._check_stop()

    def _abort(self) -> None:
        # An abort that keeps timing out (its coordinator failing over) is left to a new
        # producer: initialising one aborts the open transaction on the new coordinator.
        deadline = time.monotonic() + _CALL_S
        while True:
            producer = self._require()
            if time.monotonic() > deadline:
                log.warning("the abort did not finish in %.0fs; starting a new producer", _CALL_S)
                self._metrics.recoveries.labels("producer_restart").inc()
                self._discard()
                self.open()
                return
            try:
                self._calls.run(
                    partial(producer.abort_transaction, _OWN_S), _CALL_S, "abort_transaction"
                )
                return
            except CallHung as exc:
                log.warning("%s; starting a new transactional producer", exc)
                self._give_up()
                self.open()  # initialising it aborts the open transaction
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal():
                    self._recover_fatal(error)  # a new producer aborts the old transaction
                    return
                # Aborting purges the queued outputs; their (failed) delivery reports must
                # be served before the abort can finish.
                producer.poll(0.5)
                self._waiting("aborting", error)
                self._liveness.beat()
                self._check_stop()

    def _committed(self, consumer: Consumer, offsets: list[TopicPartition]) -> bool:
        """Whether the group's committed offsets are the cycle's (its commit went through)."""
        wanted = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        while True:
            self._check_stop()
            try:
                found = consumer.committed([TopicPartition(t, p) for t, p in wanted], timeout=10)
            except KafkaException as exc:
                self._waiting("reading the committed offsets", exc.args[0])
                self._liveness.beat()
                continue
            return all(wanted.get((tp.topic, tp.partition)) == tp.offset for tp in found)

    # -- callbacks and helpers -------------------------------------------------------

    # Callbacks run inside librdkafka calls: they only record, never call a client.

    def _on_delivery(self, generation: int, error: KafkaError | None, message: Message) -> None:
        if error is not None and generation == self._generation:
            self._failures.append((message.topic() or "?", error))

    def _on_error(self, generation: int, error: KafkaError) -> None:
        if error.code() != KafkaError._ALL_BROKERS_DOWN or generation != self._generation:
            return
        if self._on_broker_down is not None:
            self._on_broker_down(error)

    def _missing_topics(self) -> set[str]:
        """Topics deliveries failed for that the cluster does not have. A deleted topic
        often shows as deliveries timing out, not as an unknown topic, so ask."""
        named = {topic for topic, e in self._failures if e.code() in _MISSING}
        failed = {topic for topic, _ in self._failures} - named
        return named | (self._absent(failed) if failed else set())

    def _failed_with(self, codes: frozenset[int]) -> bool:
        return any(e.code() in codes for _, e in self._failures)

    def _describe(self, error: KafkaError) -> str:
        """The error, and which topics the failed deliveries were for and why."""
        if not self._failures:
            return error.str()
        by_topic: dict[tuple[str, str], int] = {}
        for topic, failure in self._failures:
            key = (topic, failure.str())
            by_topic[key] = by_topic.get(key, 0) + 1
        parts = [f"{n} to {topic!r}: {why}" for (topic, why), n in sorted(by_topic.items())]
        return f"{error.str()}; failed deliveries: {'; '.join(parts)}"

    _last_wait_log: float = 0.0

    def _waiting(self, what: str, error: KafkaError) -> None:
        now = time.monotonic()
        if now - self._last_wait_log >= _LOG_EVERY_S:
            self._last_wait_log = now
            log.warning("%s: %s; retrying", what, error.str())

    def _require(self) -> Producer:
        if self._producer is None:
            self.open()
        assert self._producer is not None  # noqa: S101 - open() either sets it or raises
        return self._producer

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < end:
            self._liveness.beat()
            self._stop.wait(min(0.25, max(0.0, end - time.monotonic())))
        self._check_stop()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise Stopping()


def _fenced_message(config: dict[str, Any], error: KafkaError) -> str:
    tid = config.get("transactional.id", "?")
    return (
        f"transactional producer {tid} was fenced ({error.str()}): another worker runs with "
        "the same ANOMSTREAM_WORKER_WORKER_ID and took over; give each worker its own id"
    )
