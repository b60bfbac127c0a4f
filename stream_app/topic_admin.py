"""Idempotent creation of the project's topics through Kafka's admin API."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from producers.kafka_config import KafkaSettings
from producers.kafka_errors import SecurityErrors, refused
from schemas import TopicSpec

__all__ = ["KafkaUnavailableError", "TopicOutcome", "ensure_topics", "list_topics"]

log = logging.getLogger(__name__)


class KafkaUnavailableError(RuntimeError):
    """The cluster did not answer, or refused the request as a whole."""


@dataclass(frozen=True)
class TopicOutcome:
    """What `ensure_topics` did with one topic."""

    name: str
    status: Literal["created", "exists"]
    partitions: int
    note: str = ""


class _Admin:
    """An admin client and what its error callback saw."""

    def __init__(self, kafka: KafkaSettings | str) -> None:
        # A plain address is a cluster without login or TLS, as before KafkaSettings had any.
        if isinstance(kafka, KafkaSettings):
            self.bootstrap, base = kafka.bootstrap, kafka.client_config()
        else:
            self.bootstrap, base = kafka, {"bootstrap.servers": kafka}
        self.errors = SecurityErrors()
        # librdkafka would print a line per failed connection attempt; the caller reports
        # an unreachable cluster once, so only critical client logs get through.
        config: dict[str, Any] = {
            **base,
            "client.id": "anomstream-admin",
            "log_level": 2,
            "error_cb": self.errors,
        }
        self.client = AdminClient(config)


def list_topics(kafka: KafkaSettings | str, timeout_s: float) -> dict[str, int]:
    """Partition count per topic on the cluster now; KafkaUnavailableError if it does not
    answer or refuses the login."""
    return _existing_partitions(_Admin(kafka), timeout_s)


def _existing_partitions(admin: _Admin, timeout_s: float) -> dict[str, int]:
    try:
        metadata = admin.client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        if reason := admin.errors.reason(admin.client):
            raise KafkaUnavailableError(refused(admin.bootstrap, reason)) from None
        raise KafkaUnavailableError(
            f"no answer from Kafka at {admin.bootstrap} within {timeout_s:g}s ({exc.args[0]})"
        ) from None
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def ensure_topics(
    kafka: KafkaSettings | str, specs: Sequence[TopicSpec], timeout_s: float = 30.0
) -> list[TopicOutcome]:
    """Create every topic of `specs` that is missing; existing topics are left as they are.

    `kafka` is the shared settings (address, login, TLS) or, as before, a plaintext address.
    """
    admin = _Admin(kafka)
    existing = _existing_partitions(admin, timeout_s)
    outcomes: dict[str, TopicOutcome] = {}
    missing = []
    for spec in specs:
        if spec.name in existing:
            have = existing[spec.name]
            note = f"has {have} partitions, settings ask {spec.partitions}" * (
                have != spec.partitions
            )
            outcomes[spec.name] = TopicOutcome(spec.name, "exists", have, note)
        else:
            missing.append(spec)
    if missing:
        new_topics = [
            NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config))
            for s in missing
        ]
        futures = admin.client.create_topics(new_topics, operation_timeout=timeout_s)
        for spec in missing:
            outcomes[spec.name] = _creation_outcome(spec, futures[spec.name], timeout_s)
    return [outcomes[spec.name] for spec in specs]


def _creation_outcome(spec: TopicSpec, future: Future[None], timeout_s: float) -> TopicOutcome:
    try:
        future.result(timeout=timeout_s)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        # Another process created it between our metadata read and the request.
        if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return TopicOutcome(spec.name, "exists", spec.partitions)
        raise KafkaUnavailableError(f"cannot create topic {spec.name}: {error.str()}") from None
    log.debug("created topic %s (%d partitions)", spec.name, spec.partitions)
    return TopicOutcome(spec.name, "created", spec.partitions)
