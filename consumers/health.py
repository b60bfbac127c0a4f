"""Health of the pipeline, per dataset: recent rates, anomaly ratio, lag, alerts, models.

Everything is read, nothing is written: the worker group's committed offsets are looked up
with a consumer that never subscribes nor commits, and the topics are read with a consumer
of its own throwaway group that assigns partitions itself (`read_committed`, so scores of
aborted transactions are not counted).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumers.tail_filter import decode_items
from detectors.artifacts import META_FILE, latest_version
from producers.kafka_config import KafkaSettings
from producers.kafka_errors import SecurityErrors, refused
from schemas import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    Alert,
    AlertState,
    SchemaError,
    decode,
    readings_topic,
    scores_topic,
)
from schemas.topics import check_dataset

__all__ = [
    "DEFAULT_MAX_LAG",
    "DatasetHealth",
    "HealthError",
    "HealthOptions",
    "HealthReport",
    "ModelSummary",
    "gather",
    "group_lag",
    "model_summary",
    "open_alert_ids",
    "reading_rows",
    "status_reasons",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_LAG = 1000
_POLL_S = 0.2
_READINGS_PREFIX = "readings."
_VERSION_DIR = re.compile(r"v(\d+)")


class HealthError(RuntimeError):
    """The check cannot run: unreachable broker, a dataset without its readings topic."""


@dataclass(frozen=True)
class ModelSummary:
    """The trained models of one dataset: how many entities, and the newest model saved."""

    entities: int = 0
    newest_version: str | None = None
    newest_entity: str | None = None
    newest_detector: str | None = None
    trained_at: str | None = None


@dataclass(frozen=True)
class DatasetHealth:
    """What one dataset looked like over the last `window_s` seconds."""

    dataset: str
    window_s: float
    # Rows: a ReadingBatch message counts its rows, as a ScoreBatch counts its scores.
    readings: int
    scores: int
    anomalies: int
    # Messages (a ReadingBatch is one) not yet consumed by the worker's group; None when the
    # topic has no partitions.
    lag: int | None
    open_alerts: tuple[str, ...] = ()
    dead_letters: int = 0
    models: ModelSummary = field(default_factory=ModelSummary)

    @property
    def readings_rate(self) -> float:
        return self.readings / self.window_s

    @property
    def scores_rate(self) -> float:
        return self.scores / self.window_s

    @property
    def anomaly_ratio(self) -> float | None:
        """Anomalous fraction of the scores in the window; None without scores."""
        return self.anomalies / self.scores if self.scores else None


@dataclass(frozen=True)
class HealthReport:
    """The datasets checked, and those left out of a check that named none."""

    datasets: tuple[DatasetHealth, ...]
    # With a readings topic but neither a trained model nor a message in the window.
    idle: tuple[str, ...] = ()


def status_reasons(health: DatasetHealth, max_lag: int = DEFAULT_MAX_LAG) -> list[str]:
    """Why the dataset is not healthy; empty when it is `ok`."""
    reasons = []
    if health.scores == 0:
        reasons.append("no scores in window")
    if health.lag is not None and health.lag > max_lag:
        reasons.append(f"lag {health.lag}")
    if health.dead_letters:
        reasons.append("dead letters")
    return reasons


def open_alert_ids(alerts: Sequence[Alert], dataset: str) -> tuple[str, ...]:
    """Ids of the dataset's alerts whose last event (in the order given) is not `resolved`."""
    last: dict[str, AlertState] = {}
    for alert in alerts:
        if alert.dataset == dataset:
            last[alert.alert_id] = alert.state
    return tuple(sorted(i for i, state in last.items() if state is not AlertState.RESOLVED))


def model_summary(models_dir: Path, dataset: str) -> ModelSummary:
    """Entities with a model under models/<dataset>/<entity>/<detector>/v<N>, and the newest
    (latest `trained_at`) of their latest versions."""
    root = models_dir / dataset
    if not root.is_dir():
        return ModelSummary()
    model_dirs = {
        meta.parent.parent
        for meta in root.rglob(META_FILE)
        if _VERSION_DIR.fullmatch(meta.parent.name)
    }
    entities: set[str] = set()
    newest: tuple[str, str, str, str] | None = None  # trained_at, version, entity, detector
    for model_dir in sorted(model_dirs):
        relative = model_dir.relative_to(root)
        entity, detector = relative.parent.as_posix(), relative.name
        if entity == ".":
            continue  # a detector folder directly under the dataset: not this layout
        path = latest_version(models_dir, dataset, entity, detector)
        if path is None or not (path / META_FILE).is_file():
            continue
        try:
            meta: dict[str, Any] = json.loads((path / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable %s: %s", path / META_FILE, exc)
            continue
        entities.add(entity)
        candidate = (str(meta.get("trained_at", "")), path.name, entity, detector)
        if newest is None or candidate > newest:
            newest = candidate
    if newest is None:
        return ModelSummary()
    trained_at, version, entity, detector = newest
    return ModelSummary(len(entities), version, entity, detector, trained_at or None)


@dataclass(frozen=True)
class HealthOptions:
    """Where and what to check; `datasets` empty = every dataset with a readings topic and
    a model or traffic in the window."""

    # The cluster and how to log in to it (ANOMSTREAM_KAFKA_*).
    kafka: KafkaSettings
    group: str
    models_dir: Path
    datasets: tuple[str, ...] = ()
    window: timedelta = timedelta(seconds=60)
    alerts_window: timedelta = timedelta(hours=24)
    connect_timeout_s: float = 10.0
    # How long reading the window's records may take in all before the check gives up.
    read_timeout_s: float = 30.0

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap


def _consumer(kafka: KafkaSettings, group: str, errors: SecurityErrors) -> Consumer:
    return Consumer(
        {
            **kafka.client_config(),
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "client.id": "anomstream-health",
            # An unreachable broker is reported once, by the metadata request below.
            "log_level": 2,
            "error_cb": errors,
        }
    )


class _Reader:
    """Offsets and records of a time window, with a consumer that joins no group."""

    def __init__(self, consumer: Consumer, partitions: dict[str, list[int]], timeout_s: float):
        self.consumer = consumer
        self.partitions = partitions
        self.timeout_s = timeout_s

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args, timeout=self.timeout_s)
        except KafkaException as exc:
            raise HealthError(f"cannot {what}: {exc.args[0]}") from None

    def ranges(self, topic: str, since: datetime) -> dict[int, tuple[int, int]]:
        """Per partition: the first offset at or after `since`, and the end offset."""
        parts = self.partitions.get(topic, [])
        if not parts:
            return {}
        since_ms = int(since.timestamp() * 1000)
        found = self._call(
            "look up offsets by time",
            self.consumer.offsets_for_times,
            [TopicPartition(topic, p, since_ms) for p in parts],
        )
        result = {}
        for tp in found:
            _low, high = self._call(
                "read end offsets",
                self.consumer.get_watermark_offsets,
                TopicPartition(topic, tp.partition),
            )
            # -1: no record at or after `since` in that partition.
            start = tp.offset if tp.offset >= 0 else high
            result[tp.partition] = (start, high)
        return result

    def records(self, topic: str, since: datetime) -> Iterator[bytes]:
        """Values of the committed records timestamped from `since` on, up to the end offsets
        read now."""
        since_ms = int(since.timestamp() * 1000)
        ranges = {p: r for p, r in self.ranges(topic, since).items() if r[0] < r[1]}
        if not ranges:
            return
        self.consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ranges.items()])
        pending = set(ranges)
        deadline = time.monotonic() + self.timeout_s
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise HealthError(
                        f"reading {topic} took longer than {self.timeout_s:g}s "
                        f"({len(pending)} partitions unfinished)"
                    )
                message: Message | None = self.consumer.poll(_POLL_S)
                if message is None:
                    continue
                partition = message.partition()
                if partition not in pending:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(partition)
                    continue
                offset, end = message.offset(), ranges[partition][1]
                if offset is None or offset >= end:
                    pending.discard(partition)
                    continue
                if offset + 1 >= end:
                    pending.discard(partition)
                # Out-of-order timestamps (a late producer) may follow the first offset of
                # the window; a record older than the window is not counted.
                _kind, timestamp_ms = message.timestamp()
                value = message.value()
                if value is not None and timestamp_ms >= since_ms:
                    yield value
        finally:
            self.consumer.unassign()


def _unreachable(options: HealthOptions, reason: str | None) -> HealthError:
    if reason is not None:  # a refused login or an untrusted certificate
        return HealthError(refused(options.bootstrap, reason))
    return HealthError(
        f"cannot reach Kafka at {options.bootstrap} within {options.connect_timeout_s:g}s "
        "(start it: deploy/kafka/kafka-local start)"
    )


def group_lag(
    group_consumer: Consumer, topic: str, parts: list[int], timeout_s: float
) -> int | None:
    """End offsets minus the group's committed offsets over the topic's partitions; a
    partition without a committed offset counts from its first retained record."""
    if not parts:
        return None
    try:
        committed = group_consumer.committed(
            [TopicPartition(topic, p) for p in parts], timeout=timeout_s
        )
        total = 0
        for tp in committed:
            low, high = group_consumer.get_watermark_offsets(
                TopicPartition(topic, tp.partition), timeout=timeout_s
            )
            position = tp.offset if tp.offset >= 0 else low
            total += max(high - position, 0)
    except KafkaException as exc:
        raise HealthError(
            f"cannot read the committed offsets of the group: {exc.args[0]}"
        ) from None
    return total


def reading_rows(value: bytes) -> int:
    """The readings one message carries: a ReadingBatch's rows, 1 for a Reading, 0 for a
    message that is neither (the worker dead-letters it)."""
    if b'"first_seq"' not in value:  # only a ReadingBatch has it
        return 1 if b'"values"' in value else 0
    try:
        rows = json.loads(value).get("rows")
    except (ValueError, AttributeError):
        return 0
    return len(rows) if isinstance(rows, list) else 0


def _scores(reader: _Reader, dataset: str, since: datetime) -> tuple[int, int]:
    scores = anomalies = 0
    for value in reader.records(scores_topic(dataset), since):
        try:
            items = decode_items("scores", value)
        except SchemaError:
            continue
        for item in items:
            scores += 1
            anomalies += bool(getattr(item, "is_anomaly", False))
    return scores, anomalies


def _alerts(reader: _Reader, since: datetime) -> list[Alert]:
    alerts = []
    for value in reader.records(ALERTS_TOPIC, since):
        try:
            alerts.append(decode(value, Alert))
        except SchemaError:
            continue
    return alerts


def _dead_letter_sources(reader: _Reader, since: datetime) -> list[str]:
    sources = []
    for value in reader.records(DEADLETTER_TOPIC, since):
        try:
            source = json.loads(value).get("source_topic")
        except (ValueError, AttributeError):
            continue
        if isinstance(source, str):
            sources.append(source)
    return sources


def _active(
    reader: _Reader, models_dir: Path, since: datetime, models: dict[str, ModelSummary]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The datasets with a readings topic, split into those with a trained model or a message
    on readings.<dataset> or scores.<dataset> since `since`, and the rest. Fills `models`."""
    active: list[str] = []
    idle: list[str] = []
    for topic in sorted(reader.partitions):
        dataset = topic.removeprefix(_READINGS_PREFIX)
        if dataset == topic:
            continue
        try:
            check_dataset(dataset)
        except ValueError:
            continue  # a topic named like ours that no dataset could have
        models[dataset] = model_summary(models_dir, dataset)
        traffic = any(
            start < end
            for name in (topic, scores_topic(dataset))
            for start, end in reader.ranges(name, since).values()
        )
        (active if traffic or models[dataset].entities else idle).append(dataset)
    return tuple(active), tuple(idle)


def gather(options: HealthOptions, now: datetime | None = None) -> HealthReport:
    """The health of the datasets of `options`, measured now; without any named, of those
    with a trained model or traffic in the window (the others are `idle`)."""
    now = now if now is not None else datetime.now(UTC)
    errors = SecurityErrors()
    reader_consumer = _consumer(options.kafka, f"anomstream-health-{uuid.uuid4().hex}", errors)
    # Only asked for committed offsets: it never subscribes, so it never joins the group.
    group_consumer = _consumer(options.kafka, options.group, errors)
    try:
        try:
            metadata = reader_consumer.list_topics(timeout=options.connect_timeout_s)
        except KafkaException:
            raise _unreachable(options, errors.reason(reader_consumer)) from None
        partitions = {
            name: sorted(topic.partitions)
            for name, topic in metadata.topics.items()
            if topic.error is None and not name.startswith("__")
        }
        reader = _Reader(reader_consumer, partitions, options.read_timeout_s)
        since = now - options.window
        models: dict[str, ModelSummary] = {}
        idle: tuple[str, ...] = ()
        if options.datasets:
            datasets = options.datasets
            for dataset in datasets:
                check_dataset(dataset)
                if readings_topic(dataset) not in partitions:
                    raise HealthError(
                        f"topic {readings_topic(dataset)} does not exist on {options.bootstrap}"
                    )
        else:
            datasets, idle = _active(reader, options.models_dir, since, models)
        alerts = _alerts(reader, now - options.alerts_window)
        dead_sources = _dead_letter_sources(reader, since)
        result = []
        for dataset in datasets:
            topic = readings_topic(dataset)
            readings = sum(map(reading_rows, reader.records(topic, since)))
            scores, anomalies = _scores(reader, dataset, since)
            if dataset not in models:
                models[dataset] = model_summary(options.models_dir, dataset)
            result.append(
                DatasetHealth(
                    dataset=dataset,
                    window_s=options.window.total_seconds(),
                    readings=readings,
                    scores=scores,
                    anomalies=anomalies,
                    lag=group_lag(
                        group_consumer, topic, partitions[topic], options.connect_timeout_s
                    ),
                    open_alerts=open_alert_ids(alerts, dataset),
                    dead_letters=dead_sources.count(topic),
                    models=models[dataset],
                )
            )
        return HealthReport(tuple(result), idle)
    finally:
        reader_consumer.close()
        group_consumer.close()
