"""Whether the exporter reaches Kafka: a 1/0 gauge, and one log line per change.

librdkafka retries an unreachable cluster forever and says so only through the client's
error callback, so without this an exporter cut off from Kafka would serve stale /metrics
with no sign of it. librdkafka's `_ALL_BROKERS_DOWN` makes the exporter ask for metadata at
once: no answer is down. (That error also comes for a moment while a client moves from the
bootstrap address to the brokers it learnt, so it is checked, not believed.) Up is a record
read or a metadata answer. While down, the exporter asks for metadata every few seconds,
since an idle cluster sends no records to notice it by.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException
from prometheus_client import Gauge

__all__ = ["PROBE_INTERVAL_S", "KafkaConnection"]

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 5.0
"""While disconnected, metadata is asked for this often."""

_GAUGE = "anomstream_exporter_kafka_connected"


class _MetadataClient(Protocol):
    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> object: ...


class KafkaConnection:
    """Connected or not (None until the first answer or failure); sets `gauge` to 1 or 0."""

    def __init__(
        self, gauge: Gauge, bootstrap: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gauge = gauge
        self.bootstrap = bootstrap
        self.connected: bool | None = None
        self._ever_up = False
        self._clock = clock
        self._next_probe = 0.0
        # librdkafka's word that every broker is down, until a probe confirms or denies it.
        self._suspect: str | None = None

    def on_error(self, error: KafkaError) -> None:
        """For the consumer's `error_cb`: every broker down calls for a probe now."""
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._suspect = error.str()
            self._next_probe = 0.0

    def up(self) -> None:
        if self.connected is not True:
            if self._ever_up:
                log.info("Kafka at %s answers again; %s is 1", self.bootstrap, _GAUGE)
            else:
                log.info("connected to Kafka at %s", self.bootstrap)
        self.connected = self._ever_up = True
        self.gauge.set(1)

    def down(self, reason: str) -> None:
        if self.connected is None:
            log.warning(
                "cannot reach Kafka at %s (%s); serving /metrics with %s 0 and retrying",
                self.bootstrap, reason, _GAUGE,
            )  # fmt: skip
        elif self.connected:
            log.warning(
                "lost Kafka at %s (%s); %s is 0 until it answers again",
                self.bootstrap, reason, _GAUGE,
            )  # fmt: skip
        self.connected = False
        self.gauge.set(0)

    def probe_due(self) -> bool:
        """Whether to ask for metadata now: after `_ALL_BROKERS_DOWN`, and while not
        connected every PROBE_INTERVAL_S."""
        unsure = self.connected is not True or self._suspect is not None
        return unsure and self._clock() >= self._next_probe

    def probe(self, client: _MetadataClient, timeout_s: float) -> bool:
        """Ask the cluster for metadata; an answer within `timeout_s` is up, none is down."""
        self._next_probe = self._clock() + PROBE_INTERVAL_S
        suspect, self._suspect = self._suspect, None
        try:
            client.list_topics(timeout=timeout_s)
        except KafkaException:
            no_answer = f"no answer within {timeout_s:g}s"
            self.down(f"{suspect}, {no_answer}" if suspect else no_answer)
            return False
        self.up()
        return True
