"""One benchmark case: pre-fill a readings topic, let a fresh worker drain it, then (if asked)
measure reader-visible latency at paced rates with the same, warmed-up worker."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench_data import WINDOW, entities, save_dataset_model, save_for
from bench_kafka import (
    bare_consume,
    create_topics,
    delete_topics,
    publish,
    read_all,
    score_times,
)
from bench_latency import Latency, reader_latency
from bench_worker import Worker

from detectors.pipeline import TrainedModel
from producers.kafka_config import KafkaSettings

# Seconds of paced replay per latency rate.
LATENCY_SECONDS = 6.0


@dataclass(frozen=True)
class CaseSpec:
    detector: str
    batch_rows: int
    readings: int
    entities: int = 10
    processes: int = 1
    batch_max_messages: int | None = None  # None: the worker's default
    # Paced rates (readings/s) for reader-visible latency; a value in (0, 1] is that
    # fraction of this case's own drain rate ("80% of max").
    latency_rates: tuple[float, ...] = ()
    # One `_default` model for all entities (as thousands of entities are served), instead
    # of one model per entity.
    dataset_model: bool = False
    bare: bool = False

    @property
    def label(self) -> str:
        mode = "single-row" if self.batch_rows == 1 else f"batched ({self.batch_rows} rows)"
        extra = [f"{self.entities:,} entities"]
        if self.processes > 1:
            extra.append(f"{self.processes} processes")
        if self.batch_max_messages is not None:
            extra.append(f"{self.batch_max_messages} msg/cycle")
        if self.dataset_model:
            extra.append("one model")
        return f"{mode}, {self.detector}, {', '.join(extra)}"


@dataclass
class CaseResult:
    spec: CaseSpec
    readings: int = 0
    # Readings/s from the worker's own count, between 20% and 80% of the drain.
    steady: float = 0.0
    scored: int = 0
    scored_after_first: int = 0
    cycle_s: float = 0.0  # the worker's cycle_seconds sum over the drain
    cycles: int = 0
    drain_s: float = 0.0
    dead_letters: str = ""
    bare_s: float | None = None
    bare_messages: int = 0
    # The engine thread's time in the drain: waiting in consume(), processing, committing.
    phases: dict[str, float] = field(default_factory=dict)
    rss_idle: int = 0  # the worker, started, before any reading
    rss_loaded: int = 0  # after the drain: every entity's state held
    latencies: list[Latency] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.scored_after_first / self.drain_s if self.drain_s > 0 else 0.0

    @property
    def busy_rate(self) -> float:
        return self.scored / self.cycle_s if self.cycle_s > 0 else 0.0

    @property
    def bare_rate(self) -> float:
        """The bare consumer's readings/s on the same topic (0 when not measured)."""
        return self.readings / self.bare_s if self.bare_s else 0.0


def run_case(
    spec: CaseSpec,
    settings: KafkaSettings,
    model: TrainedModel,
    work: Path,
    keep_topics: bool = False,
    profile_to: Path | None = None,
) -> CaseResult:
    slug = f"bench{spec.detector.replace('_', '')[:4]}{spec.batch_rows}x{uuid.uuid4().hex[:6]}"
    readings_topic, scores_topic = f"readings.{slug}", f"scores.{slug}"
    bootstrap = settings.bootstrap
    result = CaseResult(spec)
    drain = entities(slug, "machine-", spec.entities, spec.readings // spec.entities, seed=0)
    result.readings = sum(len(e.test) for e in drain)
    models_dir = work / f"models-{slug}"
    fixed = [r for r in spec.latency_rates if r > 1]
    paced = {
        rate: entities(slug, f"paced{i}-", spec.entities, _rows(rate, spec.entities), seed=2 + i)
        for i, rate in enumerate(spec.latency_rates)
    }
    if spec.dataset_model:
        save_dataset_model(models_dir, model, slug)
    else:
        names = [e.entity for e in drain] + [e.entity for ps in paced.values() for e in ps]
        save_for(models_dir, model, slug, names)
    create_topics(bootstrap, [readings_topic, scores_topic])
    print(f"  {spec.label}: topics {readings_topic}, {scores_topic}", file=sys.stderr)
    try:
        fill_s = publish(settings, readings_topic, drain, spec.batch_rows)
        print(f"    pre-filled {result.readings:,} readings in {fill_s:.1f}s", file=sys.stderr)
        if spec.bare:
            result.bare_messages = sum(-(-len(e.test) // spec.batch_rows) for e in drain)
            result.bare_s = bare_consume(bootstrap, readings_topic, result.bare_messages)
        expected = sum(max(0, len(e.test) - (WINDOW - 1)) for e in drain)
        worker = Worker.start(
            bootstrap, readings_topic, slug, models_dir, work, spec.batch_max_messages,
            profile_to, spec.processes,
        )  # fmt: skip
        try:
            time.sleep(1.0)  # settled: models preloaded, partitions assigned
            result.rss_idle = worker.rss_bytes()
            started = time.monotonic()
            result.steady = worker.wait_scored(
                slug, expected, timeout_s=max(300.0, result.readings / 200)
            )
            print(f"    drained in {time.monotonic() - started:.1f}s wall", file=sys.stderr)
            result.rss_loaded = worker.rss_bytes()
            metrics = worker.metrics()
            result.cycle_s = _metric(metrics, "anomstream_worker_cycle_seconds_sum")
            result.cycles = int(_metric(metrics, "anomstream_worker_cycle_seconds_count"))
            result.phases = _phases(metrics)
            _drain_rate(result, bootstrap, scores_topic)
            for rate, data in paced.items():
                asked = rate if rate in fixed else rate * result.rate
                if rate not in fixed:
                    data = entities(
                        slug, f"paced{len(fixed)}-", spec.entities, _rows(asked, spec.entities), 9
                    )
                latency = reader_latency(
                    settings, readings_topic, scores_topic, data, spec.batch_rows, asked
                )
                print(
                    f"    {asked:,.0f}/s: p50 {latency.p50_ms:.0f} ms, p99 {latency.p99_ms:.0f} ms",
                    file=sys.stderr,
                )
                result.latencies.append(latency)
            result.dead_letters = _dead_letters(worker.metrics())
        finally:
            worker.stop()
    finally:
        if not keep_topics:
            group = f"bench-{slug}"  # the worker's group: its state topic
            delete_topics(bootstrap, [readings_topic, scores_topic, f"{group}-state"])
        shutil.rmtree(Path(tempfile.gettempdir()) / f"anomstream-faust-bench-{slug}", True)
    return result


def _rows(rate: float, count: int) -> int:
    """Rows per entity for LATENCY_SECONDS at `rate` (rate <= 1: sized later, at the max)."""
    if rate <= 1:
        return WINDOW
    return max(2 * WINDOW, int(rate * LATENCY_SECONDS / count))


def _drain_rate(result: CaseResult, bootstrap: str, scores_topic: str) -> None:
    scores = score_times(read_all(bootstrap, scores_topic))
    drain_ts = [ts for entity, _, ts in scores if entity.startswith("machine-")]
    result.scored = len(drain_ts)
    if drain_ts:
        # The first cycle's scores share its timestamp: count what came after it.
        first = min(drain_ts)
        result.scored_after_first = sum(1 for ts in drain_ts if ts > first)
        result.drain_s = (max(drain_ts) - first) / 1000
    duplicates = len(scores) - len({(e, s) for e, s, _ in scores})
    if duplicates:
        print(f"    WARNING: {duplicates} duplicate scores", file=sys.stderr)


def _metric(metrics: str, name: str) -> float:
    """The sum of an unlabelled metric over every process's exposition."""
    return sum(
        float(line.split()[1]) for line in metrics.splitlines() if line.startswith(name + " ")
    )


def _dead_letters(metrics: str) -> str:
    counts: dict[str, float] = {}
    prefix = 'anomstream_worker_dead_letters_total{reason="'
    for line in metrics.splitlines():
        if line.startswith(prefix):
            reason, _, value = line.removeprefix(prefix).partition('"} ')
            counts[reason] = counts.get(reason, 0.0) + float(value)
    return ", ".join(f"{r}={v:.0f}" for r, v in counts.items() if v)


def _phases(metrics: str) -> dict[str, float]:
    prefix = 'anomstream_worker_phase_seconds_total{phase="'
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith(prefix):
            phase, _, value = line.removeprefix(prefix).partition('"} ')
            out[phase] = out.get(phase, 0.0) + float(value)
    return out
