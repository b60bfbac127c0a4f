"""The worker's Prometheus metrics (served by its own web server at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from stream_app.processor import CycleResult

__all__ = ["WorkerMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)
_DETECTOR_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class WorkerMetrics:
    """Counters, gauges and histograms of one worker, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, ns = self.registry, "anomstream_worker"
        self.consumed = Counter(
            f"{ns}_readings_consumed", "Readings accepted for scoring.", ["dataset"], registry=r
        )
        self.scored = Counter(
            f"{ns}_readings_scored", "Readings scored and published.", ["dataset"], registry=r
        )
        self.dead_letters = Counter(
            f"{ns}_dead_letters", "Messages sent to the dead-letter topic.", ["reason"], registry=r
        )
        self.gaps = Counter(f"{ns}_sequence_gaps", "Jumps in an entity's seq.", registry=r)
        self.batch_windows = Histogram(
            f"{ns}_batch_windows", "Windows per detector call.", buckets=_SIZE_BUCKETS, registry=r
        )
        # Per dataset and detector, not per model: one model per entity would make a label
        # value per entity (unbounded cardinality).
        self.detector_seconds = Histogram(
            f"{ns}_detector_seconds", "Time in one detector call.", ["dataset", "detector"],
            buckets=_DETECTOR_BUCKETS, registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            f"{ns}_end_to_end_latency_seconds",
            "Reading's Kafka timestamp to its score committed to the scores topic.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cycle_seconds = Histogram(
            f"{ns}_cycle_seconds", "One consume-score-publish-commit cycle.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        # Where the engine thread's time goes, summed: waiting in consume() for records,
        # turning them into outputs, and publishing and committing them.
        self.phase_seconds = Counter(
            f"{ns}_phase_seconds", "Engine thread time by phase (consume, process, commit).",
            ["phase"], registry=r,
        )  # fmt: skip
        self.transactions = Counter(
            f"{ns}_transactions", "Kafka transactions by outcome.", ["outcome"], registry=r
        )
        self.lag = Gauge(
            f"{ns}_consumer_lag_messages", "Messages not yet consumed, per partition.",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self.model_info = Gauge(
            f"{ns}_model_info", "Models in use (value 1).",
            ["dataset", "owner", "detector", "version"], registry=r,
        )  # fmt: skip
        self.model_reloads = Counter(
            f"{ns}_model_reloads", "New model versions picked up without a restart.", registry=r
        )
        self.entities = Gauge(f"{ns}_entities", "Entities with live state.", registry=r)
        self.learning = Gauge(
            f"{ns}_entities_learning",
            "Entities without a model learning one from their first readings.", registry=r,
        )  # fmt: skip
        self.models_learned = Counter(
            f"{ns}_models_learned", "Models learnt by entities from their first readings.",
            registry=r,
        )  # fmt: skip
        self.restores = Counter(
            f"{ns}_partition_restores", "Partitions whose state was rebuilt.", registry=r
        )
        self.restore_seconds = Histogram(
            f"{ns}_partition_restore_seconds", "Time to rebuild one partition's state.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        # Liveness: alerting rules and health checks read these.
        self.engine_running = Gauge(
            f"{ns}_engine_running", "1 while the scoring engine thread runs.", registry=r
        )
        self.loop_timestamp = Gauge(
            f"{ns}_loop_timestamp_seconds",
            "When the engine loop last came round (also while it waits out an outage).",
            registry=r,
        )
        self.last_commit_timestamp = Gauge(
            f"{ns}_last_commit_timestamp_seconds",
            "When the last transaction (outputs with offsets) was committed.",
            registry=r,
        )
        self.kafka_connected = Gauge(
            f"{ns}_kafka_connected", "1 while the broker answers, 0 during an outage.", registry=r
        )
        self.recoveries = Counter(
            f"{ns}_recoveries",
            "What the worker did to keep going: retry, producer_restart, rewind, "
            "topic_created, state_rebuilt.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.model_load_failures = Counter(
            f"{ns}_model_load_failures",
            "Model versions that failed to load (each counted once until its files change).",
            ["dataset", "detector"], registry=r,
        )  # fmt: skip
        self.stale_alerts_resolved = Counter(
            f"{ns}_stale_alerts_resolved",
            "Open alerts resolved because their entity sent nothing for ALERT_STALE_AFTER_S.",
            registry=r,
        )

    def record_cycle(self, result: CycleResult, committed_ms: float) -> None:
        for dataset, count in result.readings.items():
            self.consumed.labels(dataset).inc(count)
        for dataset, count in result.scored.items():
            self.scored.labels(dataset).inc(count)
        for reason, count in result.dead_letters.items():
            self.dead_letters.labels(reason).inc(count)
        if result.gaps:
            self.gaps.inc(result.gaps)
        for dataset, detector, seconds, windows in result.detector_calls:
            self.detector_seconds.labels(dataset, detector).observe(seconds)
            self.batch_windows.observe(windows)
        if result.stale_resolved:
            self.stale_alerts_resolved.inc(result.stale_resolved)
        if result.learned:
            self.models_learned.inc(result.learned)
        for timestamp_ms, _ in result.arrivals:
            self.latency.observe(max(0.0, (committed_ms - timestamp_ms) / 1000.0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
