"""The compacted topic that keeps each entity's snapshot beside the committed offsets."""

from __future__ import annotations

import re

from confluent_kafka.admin import AdminClient

from schemas import TopicSettings, TopicSpec
from stream_app.settings import WorkerSettings
from stream_app.topic_admin import KafkaUnavailableError, ensure_topics

__all__ = ["ensure_state_topic"]


def _input_partitions(admin: AdminClient, settings: WorkerSettings, timeout_s: float) -> int:
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - librdkafka raises KafkaException subclasses
        raise KafkaUnavailableError(f"no answer from Kafka ({exc})") from None
    counts = []
    for entry in settings.topic_list():
        pattern = re.compile(entry) if entry.startswith("^") else None
        for name, topic in metadata.topics.items():
            if (pattern is not None and pattern.match(name)) or name == entry:
                counts.append(len(topic.partitions))
    return max(counts, default=0)


def ensure_state_topic(bootstrap: str, settings: WorkerSettings, timeout_s: float = 30.0) -> int:
    """Create the state topic if missing (compacted, as many partitions as the widest input
    topic); return its partition count. Snapshots of input partition p go to p mod that."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    topics = TopicSettings()
    partitions = max(_input_partitions(admin, settings, timeout_s), topics.partitions)
    spec = TopicSpec(
        settings.state_topic_name(),
        partitions,
        topics.replication_factor,
        {"cleanup.policy": "compact"},
    )
    (outcome,) = ensure_topics(bootstrap, [spec], timeout_s)
    return outcome.partitions
