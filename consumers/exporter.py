"""The exporter's consume loop: the worker's scores and alerts in, Prometheus /metrics out.

The exporter is a view, not a processor. It reads in its own consumer group with
`read_committed` (so a worker's aborted transactions are never counted) and commits its
offsets the ordinary way (auto-commit of what it has read). After a restart it resumes from
the last commit, so the few seconds read before a crash may be read again; its counters
restart from 0 in any case, as Prometheus counters do on a process restart, and `rate()` /
`increase()` account for that reset.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, Message
from prometheus_client import start_http_server

from consumers.exporter_metrics import ExporterMetrics
from consumers.exporter_settings import ExporterSettings

__all__ = ["Exporter"]

log = logging.getLogger(__name__)


class Exporter:
    """Serves `metrics.registry` on /metrics and feeds it from Kafka until stopped."""

    def __init__(
        self, settings: ExporterSettings, bootstrap: str, metrics: ExporterMetrics | None = None
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.metrics = metrics or ExporterMetrics(max_entities=settings.max_entities)
        self._errors_logged: set[str] = set()

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.settings.group_id,
                "client.id": "anomstream-exporter",
                "auto.offset.reset": self.settings.start_from,
                "isolation.level": "read_committed",
                "enable.auto.commit": True,
                # New scores.<dataset> topics matching the pattern are picked up this often.
                "topic.metadata.refresh.interval.ms": 10_000,
                "log_level": 2,
            }
        )

    def _on_error(self, record: Message) -> None:
        error = record.error()
        if error is None or error.code() == KafkaError._PARTITION_EOF:
            return
        text = f"{record.topic()}: {error.str()}"
        if text not in self._errors_logged:  # the same error would repeat on every poll
            self._errors_logged.add(text)
            log.warning("consumer error on %s", text)

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
                settings.group_id, settings.topics, self.bootstrap,
                settings.host, server.server_port,
            )  # fmt: skip
            while not stop.is_set():
                records = consumer.consume(
                    num_messages=settings.batch_max_messages, timeout=settings.poll_timeout_s
                )
                now = datetime.now(UTC)
                for record in records:
                    if record.error() is not None:
                        self._on_error(record)
                        continue
                    topic = record.topic() or ""
                    if not self.metrics.observe_record(topic, record.value(), now):
                        log.debug("undecodable message on %s at %s", topic, record.offset())
        finally:
            consumer.close()
            server.shutdown()
            server.server_close()
            log.info("exporter stopped")
