"""`anomstream notify`'s loop: committed alert events in, one notification per event out.

Reads the alerts topic with `read_committed` (a worker's aborted transactions never reach
people) in its own consumer group, one record at a time, and commits a record's offset only
once every receiver answered 2xx or was given up on (the event then written to the
dead-letter topic first). A restart, clean or not, resumes after the last committed event,
so every event is delivered and none twice; the one exception is a crash in the instant
between a receiver's answer and the commit, which sends that event again (same
`Idempotency-Key`). While it waits to retry, the partitions are paused and the consumer
keeps polling, so that the group does not evict it however long a receiver stays down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from consumers.notify_delivery import Wait, deliver
from consumers.notify_payload import AlertEvent
from consumers.notify_settings import NotifySettings
from consumers.notify_targets import AlertmanagerTarget, Target, WebhookTarget
from producers.kafka_config import KafkaSettings
from producers.kafka_errors import RecordErrors, SecurityErrors, refused
from schemas import Alert, DeadLetter, SchemaError, decode, encode

__all__ = ["NotifyCounts", "NotifyError", "Notifier", "build_targets"]

log = logging.getLogger(__name__)

_COMMIT_ATTEMPTS = 5


class NotifyError(RuntimeError):
    """The notifier cannot start: unreachable broker, missing topic."""


@dataclass
class NotifyCounts:
    delivered: int = 0
    dead_lettered: int = 0

    def line(self) -> str:
        return f"{self.delivered} alert events delivered, {self.dead_lettered} dead-lettered"


def build_targets(settings: NotifySettings, client: httpx.Client) -> list[Target]:
    targets: list[Target] = []
    if settings.alertmanager_url is not None:
        targets.append(
            AlertmanagerTarget(
                str(settings.alertmanager_url),
                client,
                alert_name=settings.alert_name,
                severity=settings.severity,
                open_ttl_s=settings.open_alert_ttl_s,
            )  # fmt: skip
        )
    if settings.webhook_url is not None:
        targets.append(WebhookTarget(str(settings.webhook_url), client))
    return targets


class Notifier:
    """Delivers the alerts topic's events to `targets` until stopped."""

    def __init__(
        self, settings: NotifySettings, kafka: KafkaSettings, targets: Sequence[Target]
    ) -> None:
        self.settings = settings
        self.kafka = kafka
        self.targets = list(targets)
        self.policy = settings.retry_policy()
        self.counts = NotifyCounts()
        self._assigned: set[tuple[str, int]] = set()
        self._security = SecurityErrors(log)
        self._record_errors = RecordErrors(log)
        self._producer: Producer | None = None
        self._stop = threading.Event()

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                **self.kafka.client_config(),
                "group.id": self.settings.group_id,
                "client.id": "anomstream-notify",
                "auto.offset.reset": self.settings.start_from,
                "session.timeout.ms": round(self.settings.session_timeout_s * 1000),
                # The worker writes in transactions: aborted attempts must stay invisible.
                "isolation.level": "read_committed",
                # Offsets are committed by hand, each after its event was delivered.
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "log_level": 2,
                "error_cb": self._security,
            }
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((p.topic, p.partition) for p in partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.difference_update((p.topic, p.partition) for p in partitions)

    def _check_topic(self, consumer: Consumer) -> None:
        topic = self.settings.topic
        try:
            metadata = consumer.list_topics(topic, timeout=self.kafka.connect_timeout_s)
        except KafkaException:
            reason = self._security.reason(consumer)
            if reason is not None:
                raise NotifyError(refused(self.kafka.bootstrap, reason)) from None
            raise NotifyError(
                f"cannot reach Kafka at {self.kafka.bootstrap} within "
                f"{self.kafka.connect_timeout_s:g}s (start it: deploy/kafka/kafka-local start)"
            ) from None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise NotifyError(
                f"topic {topic} does not exist on {self.kafka.bootstrap}: create the topics "
                "with `anomstream topics create`, or start the worker"
            )

    def run(self, stop: threading.Event) -> NotifyCounts:
        """Deliver events until `stop` is set; an event in its retries is left uncommitted
        (it is delivered after the restart)."""
        self._stop = stop
        consumer = self._consumer()
        try:
            self._check_topic(consumer)
            consumer.subscribe(
                [self.settings.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )  # fmt: skip
            log.info(
                "notify in group %s reading %s from %s; sending to %s; on failure: %s",
                self.settings.group_id, self.settings.topic, self.kafka.bootstrap,
                ", ".join(t.name for t in self.targets), self.settings.on_failure,
            )  # fmt: skip
            while not stop.is_set():
                record = consumer.poll(self.settings.poll_timeout_s)
                if record is None:
                    continue
                if record.error() is not None:
                    self._record_errors.on_error(record)
                    continue
                self._handle(consumer, record)
        finally:
            consumer.close()
            if self._producer is not None:
                self._producer.flush(self.kafka.connect_timeout_s)
            log.info("notify stopped: %s", self.counts.line())
        return self.counts

    def _handle(self, consumer: Consumer, record: Message) -> None:
        topic, partition, offset = record.topic() or "", record.partition() or 0, record.offset()
        raw = record.value() or b""
        try:
            alert = decode(raw, Alert)
        except SchemaError as exc:
            log.warning("%s/%s/%s is no Alert: %s", topic, partition, offset, exc)
            if self._dead_letter(record, f"notify: not an Alert: {exc}"):
                self.counts.dead_lettered += 1
                self._commit(consumer, record)
            return
        event = AlertEvent(alert, raw, record.key(), topic, partition, offset or 0)
        paused: list[TopicPartition] = []
        delivery = deliver(event, self.targets, self.policy, self._waiter(consumer, event, paused))
        if paused:
            try:
                consumer.resume(paused)
            except KafkaException:  # some were revoked meanwhile: nothing to resume there
                pass
        if not delivery.settled:
            return  # stopping, or the partition went to another member: it delivers it
        if delivery.given_up:
            if not self._dead_letter(record, "; ".join(delivery.given_up.values())):
                return
            self.counts.dead_lettered += 1
        else:
            self.counts.delivered += 1
            log.info(
                "delivered %s (%s %s) to %s", event.event_id, alert.alert_id,
                alert.state.value, ", ".join(delivery.delivered),
            )  # fmt: skip
        self._commit(consumer, record)

    def _waiter(self, consumer: Consumer, event: AlertEvent, paused: list[TopicPartition]) -> Wait:
        """A wait that keeps the consumer in its group: partitions paused, polls going on."""

        def wait(seconds: float) -> bool:
            if not paused:
                paused.extend(consumer.assignment())
                consumer.pause(paused)
            deadline = time.monotonic() + seconds
            while not self._stop.is_set():
                if (event.topic, event.partition) not in self._assigned:
                    log.warning("%s: partition reassigned; not retrying here", event.event_id)
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                record = consumer.poll(min(left, self.settings.poll_timeout_s))
                if record is not None and record.error() is None:
                    # From a partition assigned while waiting: read it again later.
                    again = TopicPartition(
                        record.topic() or "", record.partition() or 0, record.offset() or 0
                    )
                    consumer.pause([again])
                    consumer.seek(again)
                    paused.append(again)
            return False

        return wait

    def _dead_letter(self, record: Message, reason: str) -> bool:
        """Write the record to the dead-letter topic, retrying until Kafka takes it; False
        if stopped first."""
        letter = DeadLetter(
            raw=record.value() or b"", key=record.key(), source_topic=record.topic() or "",
            partition=record.partition() or 0, offset=record.offset() or 0,
            reason=reason[:2000], failed_at=datetime.now(UTC),
        )  # fmt: skip
        if self._producer is None:
            # Failures surface after 30s rather than librdkafka's default of 5 minutes.
            config = self.kafka.producer_config("anomstream-notify")
            self._producer = Producer({**config, "message.timeout.ms": 30_000})
        failures = 0
        outcome: list[str | None] = []  # the delivery report: None, or the error
        while not self._stop.is_set():
            outcome.clear()
            self._producer.produce(
                self.settings.deadletter_topic, encode(letter), record.key(),
                on_delivery=lambda err, _msg: outcome.append(err.str() if err else None),
            )  # fmt: skip
            # Until its delivery report: a second copy while the first is queued would be a
            # duplicate dead letter.
            while not outcome and not self._stop.is_set():
                self._producer.flush(1.0)
            if outcome and outcome[0] is None:
                return True
            if not outcome:
                return False
            failures += 1
            delay = self.policy.delay(failures)
            log.error(
                "cannot write a dead letter to %s (%s); retrying in %.0fs",
                self.settings.deadletter_topic, outcome[0], delay,
            )  # fmt: skip
            self._stop.wait(delay)
        return False

    def _commit(self, consumer: Consumer, record: Message) -> None:
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                consumer.commit(message=record, asynchronous=False)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if attempt == _COMMIT_ATTEMPTS or not error.retriable():
                    # Delivered but not recorded: whoever reads the partition next sends it
                    # again (same Idempotency-Key).
                    log.error(
                        "cannot commit %s/%s/%s: %s", record.topic(), record.partition(),
                        record.offset(), error.str(),
                    )  # fmt: skip
                    return
                self._stop.wait(self.policy.delay(attempt))
