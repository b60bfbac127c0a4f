"""The stream worker's consumer lag per readings topic, for the models page and /api/v1/worker."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException

from consumers.health import HealthError, group_lag
from producers.kafka_config import KafkaSettings

__all__ = ["WorkerLag"]


class WorkerLag:
    """Reads the worker group's committed offsets; never joins the group or commits."""

    def __init__(self, kafka: KafkaSettings, group: str) -> None:
        self.group = group
        self._lock = threading.Lock()
        self._consumer = Consumer(
            {
                **kafka.client_config(),
                # committed() asks the coordinator of this group; the consumer never subscribes.
                "group.id": group,
                "enable.auto.commit": False,
                "client.id": f"anomstream-ui-lag-{uuid.uuid4().hex[:8]}",
                "log_level": 2,
            }
        )

    def lags(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """{"group", "topics": {readings topic: messages behind or None}} or an error."""
        with self._lock:
            try:
                metadata = self._consumer.list_topics(timeout=timeout_s)
                topics = {
                    name: sorted(t.partitions)
                    for name, t in metadata.topics.items()
                    if name.startswith("readings.") and t.error is None
                }
                lags = {
                    name: group_lag(self._consumer, name, parts, timeout_s)
                    for name, parts in sorted(topics.items())
                }
            except (KafkaException, HealthError) as exc:
                return {"group": self.group, "error": str(exc.args[0]), "topics": {}}
        return {"group": self.group, "topics": lags}

    def close(self) -> None:
        with self._lock:
            self._consumer.close()
