"""The exporter's Prometheus metrics: scores and alerts in, metric values out; no Kafka here.

Throughput needs no gauge of its own: `rate(anomstream_scores_total[1m])` is scores per
second (one score per scored reading), by dataset and verdict, and
`rate(anomstream_exporter_messages_consumed_total[1m])` is Kafka messages per second.

Every counter starts from 0 when the exporter process starts, as Prometheus counters do;
`rate()` and `increase()` treat the drop as a counter reset. Gauges of the latest score and
the open alerts start empty and fill as new scores and alert events arrive (an open incident
is re-published as `updated` by the worker, so it reappears without its `opened` event).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas import ALERTS_TOPIC, Alert, AlertState, SchemaError, Score, ScoreBatch, decode

__all__ = ["OTHER_ENTITY", "ExporterMetrics"]

OTHER_ENTITY = "_other"
"""The entity label shared by every entity beyond `max_entities`."""

_SCORING_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_AGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


def _outcome(is_anomaly: bool, label: int) -> str:
    if is_anomaly:
        return "tp" if label == 1 else "fp"
    return "fn" if label == 1 else "tn"


def _decode_score(value: bytes) -> Score | ScoreBatch:
    """A Score or a ScoreBatch, told apart by `first_seq`, the other model tried on failure."""
    if b'"first_seq"' in value:
        try:
            return decode(value, ScoreBatch)
        except SchemaError:
            return decode(value, Score)
    try:
        return decode(value, Score)
    except SchemaError:
        return decode(value, ScoreBatch)


class ExporterMetrics:
    """Metrics of the worker's scores and alerts, in their own registry.

    `ExporterMetrics()` with no arguments gives the full set of metric families (a dashboard
    test lists them from `.registry`).
    """

    def __init__(self, max_entities: int = 1000, registry: CollectorRegistry | None = None) -> None:
        if max_entities < 1:
            raise ValueError(f"max_entities must be at least 1, got {max_entities}")
        self.max_entities = max_entities
        self.registry = registry if registry is not None else CollectorRegistry()
        self._labelled: set[tuple[str, str]] = set()
        self._aggregated: set[tuple[str, str]] = set()
        self._open: dict[str, set[str]] = {}
        r, ns = self.registry, "anomstream"
        per_entity = ["dataset", "entity"]
        self.score = Gauge(
            f"{ns}_entity_score", "Latest score of the entity.", per_entity, registry=r
        )
        self.threshold = Gauge(
            f"{ns}_entity_threshold", "Threshold of the entity's latest score.", per_entity,
            registry=r,
        )  # fmt: skip
        self.is_anomaly = Gauge(
            f"{ns}_entity_is_anomaly", "Verdict of the entity's latest score (1 = anomalous).",
            per_entity, registry=r,
        )  # fmt: skip
        self.last_scored = Gauge(
            f"{ns}_entity_last_scored_timestamp_seconds",
            "When the entity's latest score was computed (Unix time).", per_entity, registry=r,
        )  # fmt: skip
        self.scores = Counter(
            f"{ns}_scores", "Scores read, one per scored reading.", ["dataset", "verdict"],
            registry=r,
        )  # fmt: skip
        self.alerts = Counter(
            f"{ns}_alerts", "Alert lifecycle events (opened, updated, resolved).",
            ["dataset", "entity", "state"], registry=r,
        )  # fmt: skip
        self.open_alerts = Gauge(
            f"{ns}_open_alerts", "Incidents opened or updated and not yet resolved.", ["dataset"],
            registry=r,
        )  # fmt: skip
        self.label_outcomes = Counter(
            f"{ns}_label_outcomes",
            "Verdicts of labelled scores against their label: tp, fp, fn, tn.",
            ["dataset", "outcome"], registry=r,
        )  # fmt: skip
        self.scoring_latency = Histogram(
            f"{ns}_scoring_latency_seconds",
            "Worker time per score: scored_at minus ingested_at.", ["dataset"],
            buckets=_SCORING_BUCKETS, registry=r,
        )  # fmt: skip
        self.score_age = Histogram(
            f"{ns}_score_age_seconds", "Exporter's read time minus the score's scored_at.",
            ["dataset"], buckets=_AGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.consumed = Counter(
            f"{ns}_exporter_messages_consumed", "Kafka messages read by the exporter.", ["topic"],
            registry=r,
        )  # fmt: skip
        self.undecodable = Counter(
            f"{ns}_exporter_undecodable_messages",
            "Messages that are no Score, ScoreBatch or Alert; skipped.", ["topic"], registry=r,
        )  # fmt: skip
        self.aggregated = Counter(
            f"{ns}_exporter_entities_aggregated",
            f'Entities beyond max_entities, labelled entity="{OTHER_ENTITY}".', ["dataset"],
            registry=r,
        )  # fmt: skip
        self.kafka_connected = Gauge(
            f"{ns}_exporter_kafka_connected",
            "1 while the exporter reaches Kafka, 0 while no broker answers (its other metrics "
            "are then stale).", registry=r,
        )  # fmt: skip

    def entity_label(self, dataset: str, entity: str) -> str:
        """The entity's label value: its name for the first `max_entities` (dataset, entity)
        pairs seen, `_other` for any later one (each counted once as aggregated)."""
        key = (dataset, entity)
        if key in self._labelled:
            return entity
        if len(self._labelled) < self.max_entities:
            self._labelled.add(key)
            return entity
        if key not in self._aggregated:
            self._aggregated.add(key)
            self.aggregated.labels(dataset).inc()
        return OTHER_ENTITY

    def observe_score(self, score: Score, now: datetime | None = None) -> None:
        """Count one score and make it its entity's latest; `now` is the read time."""
        dataset = score.dataset
        entity = self.entity_label(dataset, score.entity)
        self.score.labels(dataset, entity).set(score.score)
        self.threshold.labels(dataset, entity).set(score.threshold)
        self.is_anomaly.labels(dataset, entity).set(1 if score.is_anomaly else 0)
        self.last_scored.labels(dataset, entity).set(score.scored_at.timestamp())
        self.scores.labels(dataset, "anomaly" if score.is_anomaly else "normal").inc()
        if score.label is not None:
            self.label_outcomes.labels(dataset, _outcome(score.is_anomaly, score.label)).inc()
        if score.ingested_at is not None:
            worker_s = (score.scored_at - score.ingested_at).total_seconds()
            self.scoring_latency.labels(dataset).observe(max(0.0, worker_s))
        read_at = now if now is not None else datetime.now(UTC)
        age_s = (read_at - score.scored_at).total_seconds()
        self.score_age.labels(dataset).observe(max(0.0, age_s))

    def observe_score_batch(self, batch: ScoreBatch, now: datetime | None = None) -> None:
        """Each score of the batch in seq order, so the last one is the entity's latest."""
        for score in batch.expand():
            self.observe_score(score, now)

    def observe_alert(self, alert: Alert) -> None:
        """Count one lifecycle event and track whether its incident is open."""
        entity = self.entity_label(alert.dataset, alert.entity)
        self.alerts.labels(alert.dataset, entity, alert.state.value).inc()
        open_ids = self._open.setdefault(alert.dataset, set())
        if alert.state is AlertState.RESOLVED:
            open_ids.discard(alert.alert_id)
        else:
            open_ids.add(alert.alert_id)
        self.open_alerts.labels(alert.dataset).set(len(open_ids))

    def observe_record(self, topic: str, value: bytes | None, now: datetime | None = None) -> bool:
        """Decode one Kafka record's value and observe it; False (and counted) if undecodable.

        Records of the `alerts` topic are Alerts; any other topic carries a Score or a
        ScoreBatch (told apart by `first_seq`, with the other model tried as a fallback).
        """
        self.consumed.labels(topic).inc()
        if value is not None:
            try:
                if topic == ALERTS_TOPIC:
                    self.observe_alert(decode(value, Alert))
                    return True
                message = _decode_score(value)
            except SchemaError:
                pass
            else:
                if isinstance(message, ScoreBatch):
                    self.observe_score_batch(message, now)
                else:
                    self.observe_score(message, now)
                return True
        self.undecodable.labels(topic).inc()
        return False
