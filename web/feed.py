"""The web view's Kafka reader: the worker's scores and alerts, read committed, into LiveState.

Partitions are assigned directly (no consumer group, nothing committed), as `anomstream tail`
does, so the view leaves no group behind and moves nobody's offsets. It starts `lookback`
ago in every partition and follows new score topics as they appear. While the broker does
not answer it keeps serving what it holds, says so once in the log and in `/readyz`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from consumers.tail_filter import decode_items
from producers.kafka_config import KafkaSettings
from producers.kafka_errors import SecurityErrors
from schemas import ALERTS_TOPIC, Alert, SchemaError, Score
from web.live import LiveState
from web.settings import UiSettings

__all__ = ["Feed"]

log = logging.getLogger(__name__)

_REFRESH_S = 5.0


class Feed(threading.Thread):
    """Reads until `stop` is set; `connected` and `error` say how it goes."""

    def __init__(self, settings: UiSettings, kafka: KafkaSettings, state: LiveState) -> None:
        super().__init__(name="anomstream-ui-feed", daemon=True)
        self.settings = settings
        self.kafka = kafka
        self.state = state
        self.stop = threading.Event()
        self.connected = False
        self.error: str | None = "not connected yet"
        self.read = 0
        self.undecodable = 0
        self._pattern = re.compile(settings.scores_topics)
        self._assigned: set[str] = set()

    def run(self) -> None:
        errors = SecurityErrors()
        consumer = Consumer(
            {
                **self.kafka.client_config(),
                # Required by the client; never joined: partitions are assigned directly.
                "group.id": f"anomstream-ui-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # The worker writes in transactions: aborted attempts must stay invisible.
                "isolation.level": "read_committed",
                "auto.offset.reset": "latest",
                "client.id": "anomstream-ui",
                "log_level": 2,
                "error_cb": errors,
            }
        )
        try:
            refreshed = 0.0
            while not self.stop.is_set():
                if time.monotonic() - refreshed >= _REFRESH_S:
                    refreshed = time.monotonic()
                    self._assign_new(consumer, errors)
                if not self._assigned:
                    self.stop.wait(0.5)
                    continue
                # One batch of scores per poll: listeners hear of an entity once, not per row.
                scores: list[Score] = []
                for message in consumer.consume(1000, timeout=0.2):
                    scores.extend(self._handle(message))
                if scores:
                    self.state.add_scores(scores)
        finally:
            consumer.close()

    def _assign_new(self, consumer: Consumer, errors: SecurityErrors) -> None:
        try:
            metadata = consumer.list_topics(timeout=5)
        except KafkaException:
            self._down(
                errors.reason(consumer) or f"Kafka at {self.kafka.bootstrap} does not answer"
            )
            return
        if not self.connected:
            log.info("reading scores and alerts from Kafka at %s", self.kafka.bootstrap)
        self.connected, self.error = True, None
        wanted = {
            name: sorted(topic.partitions)
            for name, topic in metadata.topics.items()
            if topic.error is None
            and name not in self._assigned
            and (name == ALERTS_TOPIC or self._pattern.fullmatch(name))
        }
        if not wanted:
            return
        since_ms = int((datetime.now(UTC) - self.settings.lookback_delta()).timestamp() * 1000)
        asked = [TopicPartition(t, p, since_ms) for t, ps in wanted.items() for p in ps]
        try:
            found = consumer.offsets_for_times(asked, timeout=10)
        except KafkaException as exc:
            log.warning("cannot look up offsets by time: %s; trying again", exc.args[0])
            return
        # -1: nothing at or after that time, so start at the end of that partition.
        consumer.incremental_assign(
            [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in found]
        )
        self._assigned.update(wanted)
        log.info("now reading %s (from %s back)", ", ".join(sorted(wanted)), self.settings.lookback)

    def _down(self, reason: str) -> None:
        if self.connected or self.error == "not connected yet":
            log.warning("%s; serving what is held and retrying", reason)
        self.connected, self.error = False, reason

    def _handle(self, message: Message) -> list[Score]:
        """Alerts go to the state at once; scores come back to be added as one batch."""
        error = message.error()
        if error is not None:
            return []
        self.read += 1
        topic = message.topic() or ""
        kind: Any = "alerts" if topic == ALERTS_TOPIC else "scores"
        try:
            items = decode_items(kind, message.value() or b"")
        except SchemaError as exc:
            self.undecodable += 1
            log.debug("skipping %s@%s: %s", topic, message.offset(), exc)
            return []
        for item in items:
            if isinstance(item, Alert):
                self.state.add_alert(item)
        return [item for item in items if isinstance(item, Score)]
