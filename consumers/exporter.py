"""The exporter's consume loop: the worker's scores and alerts in, Prometheus /metrics out.

The exporter is a view, not a processor. It reads in its own consumer group with
`read_committed` (so a worker's aborted transactions are never counted) and commits its
offsets the ordinary way (auto-commit of what it has read). After a restart it resumes from
the last commit, so the few seconds read before a crash may be read again; its counters
restart from 0 in any case, as Prometheus counters do on a process restart, and `rate()` /
`increase()` account for that reset. Whether it reaches Kafka at all is the gauge
`anomstream_exporter_kafka_connected` (see `consumers.exporter_connection`).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError
from prometheus_client import start_http_server

from consumers.exporter_connection import KafkaConnection
from consumers.exporter_metrics import ExporterMetrics
from consumers.exporter_settings import ExporterSettings
from producers.kafka_config import KafkaSettings
from producers.kafka_errors import RecordErrors, SecurityErrors

__all__ = ["Exporter"]

log = logging.getLogger(__name__)

# A metadata request while disconnected waits this long; a stop request may wait as long.
_PROBE_TIMEOUT_S = 2.0


class Exporter:
    """Serves `metrics.registry` on /metrics and feeds it from Kafka until stopped."""

    def __init__(
        self,
        settings: ExporterSettings,
        kafka: KafkaSettings,
        metrics: ExporterMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.kafka = kafka
        self.metrics = metrics or ExporterMetrics(max_entities=settings.max_entities)
        self.connection = KafkaConnection(self.metrics.kafka_connected, kafka.bootstrap)
        # The exporter keeps retrying a broker that refuses its login; said once.
        self._security_errors = SecurityErrors(log)
        self._record_errors = RecordErrors(log)

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                **self.kafka.client_config(),
                "group.id": self.settings.group_id,
                "client.id": "anomstream-exporter",
                "auto.offset.reset": self.settings.start_from,
                "isolation.level": "read_committed",
                "enable.auto.commit": True,
                # New scores.<dataset> topics matching the pattern are picked up this often.
                "topic.metadata.refresh.interval.ms": 10_000,
                "log_level": 2,
                "error_cb": self._on_client_error,
            }
        )

    def _on_client_error(self, error: KafkaError) -> None:
        self._security_errors(error)
        self.connection.on_error(error)

    def run(self, stop: threading.Event) -> None:
        """Serve /metrics and consume until `stop` is set; then close the consumer, which
        commits the offsets read, and stop the HTTP server."""
        settings = self.settings
        server, _thread = start_http_server(
            settings.port, settings.host, registry=self.metrics.registry
        )
        consumer = self._consumer()
        try:
            consumer.subscribe(settings.topic_list())
            log.info(
                "exporter in group %s reading %s from %s; /metrics on http://%s:%d/metrics",
                settings.group_id, settings.topics, self.kafka.bootstrap,
                settings.host, server.server_port,
            )  # fmt: skip
            # An unreachable cluster is one warning here, not a silent wait.
            self.connection.probe(consumer, self.kafka.connect_timeout_s)
            while not stop.is_set():
                records = consumer.consume(
                    num_messages=settings.batch_max_messages, timeout=settings.poll_timeout_s
                )
                now = datetime.now(UTC)
                for record in records:
                    if record.error() is not None:
                        self._record_errors.on_error(record)
                        continue
                    if not self.connection.connected:  # a record read: Kafka answers
                        self.connection.up()
                    topic = record.topic() or ""
                    if not self.metrics.observe_record(topic, record.value(), now):
                        log.debug("undecodable message on %s at %s", topic, record.offset())
                if self.connection.probe_due():
                    self.connection.probe(consumer, _PROBE_TIMEOUT_S)
        finally:
            consumer.close()
            server.shutdown()
            server.server_close()
            log.info("exporter stopped")
