"""The topics the worker writes: scores per dataset, alerts, dead letters and its state topic.

They are checked when the worker starts and again whenever a delivery says one is gone. A
missing topic is created with the project's topic settings (and logged), or, with
ANOMSTREAM_WORKER_CREATE_TOPICS=false, named in an error while the worker waits for it.
The state topic is compacted and has as many partitions as the widest input topic:
snapshots of input partition p go to partition p mod that.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from producers.kafka_config import KafkaSettings
from schemas import ALERTS_TOPIC, DEADLETTER_TOPIC, TopicSettings, TopicSpec, topic_specs
from stream_app.liveness import Liveness, Stopping
from stream_app.settings import WorkerSettings
from stream_app.topic_admin import KafkaUnavailableError, ensure_topics, list_topics

__all__ = ["OutputTopics"]

log = logging.getLogger(__name__)

# Compaction keeps one snapshot per entity, but only in closed segments: short segments
# keep the state topic (read from the start on every assignment) small.
_STATE_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.1",
}


class OutputTopics:
    """Knows which output topics exist; creates the missing ones or waits for them."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: WorkerSettings,
        liveness: Liveness,
        stop: threading.Event,
    ) -> None:
        self._kafka = kafka
        self._settings = settings
        self._liveness = liveness
        self._stop = stop
        self._topics = TopicSettings()
        self.state_topic = settings.state_topic_name()
        self.state_partitions = 1

    def prepare(self) -> int:
        """At start: the state topic and the outputs of the subscribed datasets exist (or
        are named); returns the state topic's partitions. Waits for an unreachable broker."""
        existing = self._existing()
        inputs = [name for name in existing if self._subscribed(name)]
        widest = max((existing[name] for name in inputs), default=0)
        self.state_partitions = max(widest, self._topics.partitions)
        wanted = [ALERTS_TOPIC, DEADLETTER_TOPIC, self.state_topic]
        wanted += [f"scores.{name.split('.', 1)[1]}" for name in inputs if "." in name]
        self.ensure(set(wanted))
        return self.state_partitions

    def ensure(self, topics: set[str]) -> bool:
        """Make `topics` exist (or wait until they do); True if the state topic was made."""
        made_state, last_error = False, 0.0
        while True:
            missing = sorted(topics - self._existing().keys())
            # The state topic is the worker's own: it is always made. The others are the
            # project's, which an operator may want to make alone.
            creatable = [
                m for m in missing if self._settings.create_topics or m == self.state_topic
            ]
            if creatable:
                try:
                    made_state |= self._create(creatable)
                except KafkaUnavailableError as exc:
                    log.warning("creating %s: %s; trying again", ", ".join(creatable), exc)
                    self._wait(2.0)
                continue
            if not missing:
                self._liveness.recovering = None
                return made_state
            if time.monotonic() - last_error > 30:
                last_error = time.monotonic()
                log.error(
                    "output topics missing: %s; create them (anomstream topics create) or set "
                    "ANOMSTREAM_WORKER_CREATE_TOPICS=true; waiting for them",
                    ", ".join(missing),
                )
            self._liveness.recovering = f"missing topics {', '.join(missing)}"
            self._wait(2.0)

    def _create(self, topics: list[str]) -> bool:
        """Create them; True if the state topic was among those made."""
        outcomes = ensure_topics(self._kafka, [self._spec(t) for t in topics])
        made_state = False
        for outcome in outcomes:
            if outcome.status != "created":
                continue  # made meanwhile, or still being deleted: the next look tells
            log.warning(
                "output topic %s did not exist: created it (%s)",
                outcome.name,
                "compacted state topic" if outcome.name == self.state_topic
                else "project topic settings, ANOMSTREAM_TOPIC_*",
            )  # fmt: skip
            if outcome.name == self.state_topic:
                self.state_partitions = outcome.partitions
                made_state = True
        return made_state

    def absent(self, topics: set[str]) -> set[str]:
        """Those of `topics` the cluster does not have."""
        return topics - self._existing().keys()

    def _existing(self) -> dict[str, int]:
        delay, last_log = 1.0, 0.0
        while True:
            try:
                existing = list_topics(self._kafka, self._kafka.connect_timeout_s)
            except KafkaUnavailableError as exc:
                if self._liveness.broker_down() or time.monotonic() - last_log > 30:
                    last_log = time.monotonic()
                    log.warning("%s; waiting for it", exc)
                self._wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._liveness.broker_up()
            return existing

    def subscribed_dataset(self, dataset: str) -> bool:
        return self._subscribed(f"readings.{dataset}")

    def _subscribed(self, topic: str) -> bool:
        for entry in self._settings.topic_list():
            if entry == topic or (entry.startswith("^") and re.match(entry, topic)):
                return True
        return False

    def _spec(self, topic: str) -> TopicSpec:
        if topic == self.state_topic:
            return TopicSpec(
                topic, self.state_partitions, self._topics.replication_factor, _STATE_CONFIG
            )
        dataset = topic.split(".", 1)[1] if topic.startswith("scores.") else None
        settings = self._topics.model_copy(update={"datasets": [dataset] if dataset else []})
        for spec in topic_specs(settings):
            if spec.name == topic:
                return spec
        return TopicSpec(topic, self._topics.partitions, self._topics.replication_factor)

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._stop.is_set():
                raise Stopping()
            self._liveness.beat()
            self._stop.wait(0.25)
