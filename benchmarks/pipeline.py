"""End-to-end pipeline benchmark: replay -> broker -> `anomstream worker` -> scores.

Start a broker first (`deploy/kafka/kafka-local start`), then:

    python benchmarks/pipeline.py [--bootstrap 127.0.0.1:9092] [--readings 200000]
        [--cases single-pca,batched-pca,single-lstm_ed,batched-lstm_ed,bare] [--skip-profile]

Every case gets fresh topics `readings.<slug>` and `scores.<slug>` (3 partitions; the slug
is a unique dataset name, since the worker publishes to `scores.<dataset>`), a fresh
consumer group and one model per entity (38 channels, window 100) in a temporary models
directory. The readings topic is pre-filled at full speed, then a worker subprocess is
started and drains it: throughput is scored readings over first-to-last score, by the score
records' Kafka timestamps. The latency of that drain (reading record's Kafka timestamp ->
score record's Kafka timestamp, matched by (entity, seq)) mostly measures queueing in the
topic. The same worker then scores other entities replayed at a paced `--rate` (5k
readings/s by default): their p50/p99 is the end-to-end latency of a worker that keeps up.

The "bare consumer" rows read the same pre-filled readings topics with a plain
confluent-kafka consumer (assigned partitions, no group, no parsing): the ceiling.

Unless --skip-profile, the single-row PCA drain is run once more under py-spy (`pip install
py-spy` into the venv) and the top functions of the worker's engine thread are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from detectors.pipeline import TrainConfig, TrainedModel, save_trained, train
from producers.datasets import EntityData, Split
from producers.kafka_config import KafkaSettings
from producers.replay import ReplayOptions, replay
from producers.sinks import KafkaSink

CHANNELS = 38  # SMD's width
WINDOW = 100
PARTITIONS = 3
REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ALL_CASES = ("single-pca", "batched-pca", "single-lstm_ed", "batched-lstm_ed", "bare")
FloatArray = npt.NDArray[np.float64]
# Extra environment for the worker subprocesses (--worker-env).
WORKER_ENV: dict[str, str] = {}
# PCA models with adaptive scoring, as `anomstream train` makes them by default (--adaptive).
ADAPTIVE: dict[str, bool] = {"pca": False}


# -- data and models -------------------------------------------------------------------------


def channel_names() -> tuple[str, ...]:
    return tuple(f"ch{i:02d}" for i in range(1, CHANNELS + 1))


def entities(dataset: str, prefix: str, count: int, rows: int, seed: int) -> list[EntityData]:
    """`count` synthetic SMD-like entities of `rows` readings each (uniform noise)."""
    rng = np.random.default_rng(seed)
    times = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(rows) * np.timedelta64(60, "s")
    out = []
    for i in range(count):
        split = Split(rng.random((rows, CHANNELS)), times, np.zeros(rows, dtype=np.int8))
        out.append(EntityData(dataset, f"{prefix}{i}", channel_names(), train=split, test=split))
    return out


def train_detector(detector: str, lstm_epochs: int) -> TrainedModel:
    values = np.random.default_rng(1).random((2000, CHANNELS))
    params: dict[str, object] = (
        {"epochs": lstm_epochs, "device": "cpu"} if detector != "pca" else {}
    )
    adaptive: dict[str, Any] | None = {} if detector == "pca" and ADAPTIVE["pca"] else None
    config = TrainConfig(
        detector=detector, params=params, window=WINDOW, train_stride=2, adaptive=adaptive
    )
    return train(values, config)


def save_for(models_dir: Path, model: TrainedModel, dataset: str, names: Sequence[str]) -> None:
    """The same trained model saved once per entity: the worker loads one per entity."""
    for name in names:
        save_trained(models_dir, model, dataset=dataset, entity=name, channels=channel_names())


def create_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    for future in futures.values():
        future.result(timeout=30)
    time.sleep(1)  # leaders elected


def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001 - cleanup only; a leftover topic is harmless
            print(f"  (could not delete a topic: {exc})", file=sys.stderr)


def publish(
    settings: KafkaSettings,
    topic: str,
    data: list[EntityData],
    batch_rows: int,
    rate: float | None = None,
) -> float:
    """Replay `data` onto `topic`; returns the seconds it took."""
    sink = KafkaSink(settings, topic)
    options = ReplayOptions(batch_rows=batch_rows, rate=rate, progress=False)
    summary = replay(data, sink, options)
    if summary.counts.failed:
        raise RuntimeError(f"replay to {topic}: {summary.line()}")
    return summary.elapsed_s


def assigned_consumer(bootstrap: str, topic: str, assign: bool = True) -> Consumer:
    """A group-less consumer of every partition of `topic` from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "log_level": 2,
        }
    )
    if assign:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer


def read_all(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[tuple[bytes, int]]:
    """Every committed (value, Kafka timestamp ms) of `topic`, up to its end now."""
    consumer = assigned_consumer(bootstrap, topic)
    out: list[tuple[bytes, int]] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(at_end) < PARTITIONS and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=10_000, timeout=0.5):
                error = record.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(record.partition() or 0)
                        continue
                    raise RuntimeError(f"reading {topic}: {error}")
                at_end.discard(record.partition() or 0)
                out.append((record.value() or b"", record.timestamp()[1]))
    finally:
        consumer.close()
    return out


def bare_consume(bootstrap: str, topic: str, messages: int) -> float:
    """Seconds a plain batch consumer, already connected, takes to read `messages`."""
    consumer = assigned_consumer(bootstrap, topic, assign=False)
    seen = 0
    try:
        consumer.list_topics(topic, timeout=10)  # connected, metadata known: not timed
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 300
        while seen < messages and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=5000, timeout=0.5):
                if record.error() is not None:
                    continue
                record.value()
                seen += 1
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    if seen < messages:
        raise RuntimeError(f"bare consumer read {seen} of {messages} messages of {topic}")
    return elapsed


# -- the worker ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Worker:
    """A worker subprocess (optionally under py-spy) and its /metrics endpoint."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    profiled: bool = False

    @classmethod
    def start(
        cls, bootstrap: str, topic: str, slug: str, models_dir: Path, log_dir: Path,
        batch_max_messages: int | None = None, profile_to: Path | None = None,
    ) -> Worker:  # fmt: skip
        port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "ANOMSTREAM_KAFKA_BOOTSTRAP": bootstrap,
                "ANOMSTREAM_WORKER_TOPICS": topic,
                "ANOMSTREAM_WORKER_GROUP_ID": f"bench-{slug}",
                "ANOMSTREAM_WORKER_WORKER_ID": f"bench-{slug}",
                "ANOMSTREAM_MODELS_DIR": str(models_dir),
                "ANOMSTREAM_WORKER_WEB_PORT": str(port),
                "ANOMSTREAM_WORKER_DEVICE": "cpu",
            }
        )
        env.update(WORKER_ENV)
        if batch_max_messages is not None:
            env["ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES"] = str(batch_max_messages)
        if profile_to is None:
            argv = [str(VENV_BIN / "anomstream"), "worker", "--loglevel", "warning"]
        else:
            argv = [
                str(VENV_BIN / "py-spy"), "record", "--nonblocking", "--rate", "100",
                "--format", "raw", "--output", str(profile_to), "--",
                str(VENV_BIN / "python"), "-m", "faust", "-A", "stream_app.app", "worker",
                "--loglevel", "warn",
            ]  # fmt: skip
        log_path = log_dir / f"worker-{slug}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own venv's executables
                argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        worker = cls(process, port, log_path, profiled=profile_to is not None)
        worker.wait_metrics()
        return worker

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - localhost
            body: bytes = response.read()
            return body.decode()

    def wait_metrics(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                self.metrics()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.25)
        raise RuntimeError(f"worker /metrics did not answer in {timeout_s:g}s; see {self.log_path}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker exited ({self.process.returncode}):\n{tail}")

    def scored(self, dataset: str) -> float:
        pattern = rf'^anomstream_worker_readings_scored_total\{{dataset="{dataset}"\}} (\S+)$'
        found = re.search(pattern, self.metrics(), re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def wait_scored(self, dataset: str, expected: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if self.scored(dataset) >= expected:
                return
            time.sleep(0.25)
        got = self.scored(dataset)
        raise RuntimeError(f"worker scored {got:.0f} of {expected} in {timeout_s:g}s")

    def stop(self) -> None:
        target = self._python_pid() if self.profiled else self.process.pid
        os.kill(target, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _python_pid(self) -> int:
        """The worker under py-spy: the child of the py-spy process."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                return int(stat.parent.name)
        return self.process.pid


# -- one case --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    name: str  # "single-pca"
    detector: str
    batch_rows: int
    readings: int
    paced_readings: int
    batch_max_messages: int | None = None  # None: the worker's default

    @property
    def label(self) -> str:
        mode = "single-row" if self.batch_rows == 1 else f"batched ({self.batch_rows} rows)"
        cycle = "" if self.batch_max_messages is None else f", {self.batch_max_messages} msg/cycle"
        return f"{mode}, {self.detector}{cycle}"


@dataclass
class CaseResult:
    spec: CaseSpec
    readings: int = 0
    scored: int = 0
    scored_after_first: int = 0
    cycle_s: float = 0.0  # the worker's cycle_seconds sum over the drain
    cycles: int = 0
    drain_s: float = 0.0
    drain_latencies_ms: list[float] = field(default_factory=list)
    paced_readings: int = 0
    paced_publish_s: float = 0.0
    paced_latencies_ms: list[float] = field(default_factory=list)
    dead_letters: str = ""
    bare_s: float | None = None
    bare_messages: int = 0

    @property
    def rate(self) -> float:
        return self.scored_after_first / self.drain_s if self.drain_s > 0 else 0.0

    @property
    def busy_rate(self) -> float:
        return self.scored / self.cycle_s if self.cycle_s > 0 else 0.0


def reading_times(records: list[tuple[bytes, int]]) -> dict[tuple[str, int], int]:
    """(entity, seq) -> the reading record's Kafka timestamp (ms)."""
    out: dict[tuple[str, int], int] = {}
    for value, ts in records:
        doc = orjson.loads(value)
        entity = doc["entity"]
        if "rows" in doc:
            first = doc["first_seq"]
            for seq in range(first, first + len(doc["rows"])):
                out[(entity, seq)] = ts
        else:
            out[(entity, doc["seq"])] = ts
    return out


def score_times(records: list[tuple[bytes, int]]) -> list[tuple[str, int, int]]:
    """(entity, seq, score record's Kafka timestamp) of every score, batches expanded."""
    out: list[tuple[str, int, int]] = []
    for value, ts in records:
        doc = orjson.loads(value)
        entity = doc["entity"]
        if "scores" in doc:
            first = doc["first_seq"]
            out.extend((entity, seq, ts) for seq in range(first, first + len(doc["scores"])))
        else:
            out.append((entity, doc["seq"], ts))
    return out


def metric_value(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def dead_letter_summary(metrics: str) -> str:
    found = re.findall(r'^anomstream_worker_dead_letters_total\{reason="([^"]+)"\} (\S+)$',
                       metrics, re.MULTILINE)  # fmt: skip
    return ", ".join(f"{r}={float(v):.0f}" for r, v in found if float(v))


def run_case(
    spec: CaseSpec,
    settings: KafkaSettings,
    model: TrainedModel,
    work: Path,
    n_entities: int,
    rate: float,
    with_bare: bool,
    keep_topics: bool,
    profile_to: Path | None = None,
) -> CaseResult:
    slug = f"bench{spec.detector.replace('_', '')[:4]}{spec.batch_rows}x{uuid.uuid4().hex[:6]}"
    readings_topic, scores_topic = f"readings.{slug}", f"scores.{slug}"
    bootstrap = settings.bootstrap
    result = CaseResult(spec)
    drain = entities(slug, "machine-", n_entities, spec.readings // n_entities, seed=0)
    paced_rows = spec.paced_readings // n_entities
    paced = entities(slug, "paced-", n_entities, paced_rows, seed=2) if paced_rows else []
    result.readings = sum(len(e.test) for e in drain)
    result.paced_readings = sum(len(e.test) for e in paced)
    models_dir = work / f"models-{slug}"
    save_for(models_dir, model, slug, [e.entity for e in drain + paced])
    create_topics(bootstrap, [readings_topic, scores_topic])
    print(f"  {spec.label}: topics {readings_topic}, {scores_topic}", file=sys.stderr)
    try:
        fill_s = publish(settings, readings_topic, drain, spec.batch_rows)
        print(f"    pre-filled {result.readings:,} readings in {fill_s:.1f}s", file=sys.stderr)
        if with_bare:
            result.bare_messages = sum(-(-len(e.test) // spec.batch_rows) for e in drain)
            result.bare_s = bare_consume(bootstrap, readings_topic, result.bare_messages)
        expected_drain = sum(max(0, len(e.test) - (WINDOW - 1)) for e in drain)
        expected_paced = sum(max(0, len(e.test) - (WINDOW - 1)) for e in paced)
        worker = Worker.start(
            bootstrap, readings_topic, slug, models_dir, work, spec.batch_max_messages, profile_to
        )
        try:
            started = time.monotonic()
            worker.wait_scored(slug, expected_drain, timeout_s=max(300.0, result.readings / 200))
            print(f"    drained in {time.monotonic() - started:.1f}s wall", file=sys.stderr)
            metrics = worker.metrics()
            result.cycle_s = metric_value(metrics, "anomstream_worker_cycle_seconds_sum")
            result.cycles = int(metric_value(metrics, "anomstream_worker_cycle_seconds_count"))
            if paced:
                result.paced_publish_s = publish(
                    settings, readings_topic, paced, spec.batch_rows, rate=rate
                )
                worker.wait_scored(slug, expected_drain + expected_paced, timeout_s=300)
            result.dead_letters = dead_letter_summary(worker.metrics())
        finally:
            worker.stop()
        sent = reading_times(read_all(bootstrap, readings_topic))
        scores = score_times(read_all(bootstrap, scores_topic))
        drain_ts = [ts for entity, _, ts in scores if entity.startswith("machine-")]
        result.scored = len(drain_ts)
        if drain_ts:
            # The first cycle's scores share its timestamp: count what came after it.
            first = min(drain_ts)
            result.scored_after_first = sum(1 for ts in drain_ts if ts > first)
            result.drain_s = (max(drain_ts) - first) / 1000
        for entity, seq, ts in scores:
            arrived = sent.get((entity, seq))
            if arrived is None:
                continue
            latencies = (
                result.paced_latencies_ms
                if entity.startswith("paced-")
                else result.drain_latencies_ms
            )
            latencies.append(float(ts - arrived))
        duplicates = len(scores) - len({(e, s) for e, s, _ in scores})
        if duplicates:
            print(f"    WARNING: {duplicates} duplicate scores", file=sys.stderr)
    finally:
        if not keep_topics:
            group = f"bench-{slug}"  # the worker's group: its state and faust's leader topic
            delete_topics(
                bootstrap,
                [
                    readings_topic,
                    scores_topic,
                    f"{group}-state",
                    f"{group}-faust-__assignor-__leader",
                ],
            )
        shutil.rmtree(Path(tempfile.gettempdir()) / f"anomstream-faust-bench-{slug}", True)
    return result


# -- the profile -----------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(path: str) -> str:
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_summary(raw: Path, top: int = 15) -> str:
    """Own and cumulative samples per function, in the worker's engine thread only."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = engine_total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            frames.append(f"{match['func']} ({_short(match['file'])})" if match else frame.strip())
        if not any(f.startswith("Engine.run (stream_app/engine.py") for f in frames):
            continue
        engine_total += count
        own[frames[-1]] += count
        for name in set(frames):
            cumulative[name] += count
    if not engine_total:
        return f"no engine-thread samples among {total} (py-spy output: {raw})"
    lines = [
        f"py-spy, 100 Hz, on-CPU samples: {total} in all, {engine_total} in the engine thread "
        f"(the rest: startup imports, faust's event loop); % of engine-thread samples",
        "",
        "| own % | cum % | function (file) |",
        "|---:|---:|---|",
    ]
    for name, count in own.most_common(top):
        lines.append(
            f"| {100 * count / engine_total:.1f} | {100 * cumulative[name] / engine_total:.1f} "
            f"| `{name}` |"
        )
    lines += ["", "| cum % | function (file), by cumulative |", "|---:|---|"]
    for name, count in cumulative.most_common(top + 5)[:top]:
        lines.append(f"| {100 * count / engine_total:.1f} | `{name}` |")
    return "\n".join(lines)


# -- report ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):,.0f}" if values else "-"


def table(results: list[CaseResult], rate: float) -> str:
    lines = [
        "| case | readings | scored | readings/s (worker) | cycles | readings/s (busy) "
        "| drain p50 ms | drain p99 ms | paced readings | paced p50 ms | paced p99 ms "
        "| dead letters |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        paced_rate = r.paced_readings / r.paced_publish_s if r.paced_publish_s else 0.0
        # Fewer than 3 cycles: first-to-last score timestamps measure (almost) nothing.
        rate_text = f"{r.rate:,.0f}" if r.cycles >= 3 else "(too few cycles)"
        lines.append(
            f"| {r.spec.label} | {r.readings:,} | {r.scored:,} | {rate_text} | {r.cycles} "
            f"| {r.busy_rate:,.0f} "
            f"| {pct(r.drain_latencies_ms, 50)} | {pct(r.drain_latencies_ms, 99)} "
            f"| {r.paced_readings:,} @ {paced_rate:,.0f}/s "
            f"| {pct(r.paced_latencies_ms, 50)} | {pct(r.paced_latencies_ms, 99)} "
            f"| {r.dead_letters or '-'} |"
        )
    for r in results:
        if r.bare_s is None:
            continue
        mode = "single-row" if r.spec.batch_rows == 1 else f"batched ({r.spec.batch_rows} rows)"
        lines.append(
            f"| bare confluent-kafka consumer, {mode} ({r.bare_messages:,} messages, "
            f"{r.bare_messages / r.bare_s:,.0f} msg/s) | {r.readings:,} | - "
            f"| {r.readings / r.bare_s:,.0f} | - | - | - | - | - | - | - | - |"
        )
    lines += [
        "",
        "readings/s (worker): scores after the first score record's timestamp over first-to-last "
        "score record timestamp, in the drain of the pre-filled topic; scored < readings as "
        f"each entity's first {WINDOW - 1} readings only fill its window.",
        "cycles / readings/s (busy): the worker's consume-score-publish cycles in the drain and "
        "scored readings over their summed duration (anomstream_worker_cycle_seconds; the "
        "time inside consume() is not counted; the first cycle's model loading is). "
        "msg/cycle: ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES for that case (default 5000).",
        "drain p50/p99: the max-rate run on a pre-filled topic (filled before the worker "
        "started), so this latency is queueing: the worker's start-up plus the wait behind the "
        "readings before it.",
        f"paced: other entities replayed at {rate:,.0f} readings/s to the same worker once it "
        "had drained; latency is reading record timestamp -> score record timestamp "
        "(includes queueing only where the worker is slower than the rate). Both timestamps are "
        "set at produce() time, so the worker's transaction commit after it is not included.",
    ]
    return "\n".join(lines)


def parse_cases(text: str) -> list[str]:
    cases = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cases if c not in ALL_CASES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown cases {unknown}; choose from {ALL_CASES}")
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bootstrap", default=KafkaSettings().bootstrap)
    parser.add_argument(
        "--readings", type=int, default=200_000, help="single-row PCA drain (default 200000)"
    )
    parser.add_argument("--batched-readings", type=int, help="batched PCA (default 2x readings)")
    parser.add_argument("--lstm-readings", type=int, default=20_000, help="lstm_ed drains")
    parser.add_argument(
        "--paced-readings", type=int, default=30_000, help="paced run (capped at the drain's)"
    )
    parser.add_argument("--lstm-paced-readings", type=int, default=5000)
    parser.add_argument(
        "--lstm-cycle-readings",
        type=int,
        default=2000,
        help="lstm_ed cases: ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES = this / rows per message, "
        "so that the drain has enough cycles to time (default 2000)",
    )
    parser.add_argument("--rate", type=float, default=5000.0, help="paced readings/s")
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument(
        "--adaptive", action="store_true", help="PCA models with adaptive scoring (train's default)"
    )
    parser.add_argument("--batch-rows", type=int, default=100)
    parser.add_argument("--lstm-epochs", type=int, default=1)
    parser.add_argument(
        "--cases", type=parse_cases, default=list(ALL_CASES),
        help=f"comma-separated subset of {','.join(ALL_CASES)}; 'bare' adds the bare consumer "
        "rows to the PCA cases",
    )  # fmt: skip
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the workers, e.g. OMP_NUM_THREADS=1 (repeatable)",
    )
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--profile-readings", type=int, default=100_000)
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's raw samples here")
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args()
    ADAPTIVE["pca"] = args.adaptive
    settings = KafkaSettings(bootstrap=args.bootstrap)
    for item in args.worker_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--worker-env takes KEY=VALUE, got {item!r}")
        WORKER_ENV[key] = value
    batched_readings = args.batched_readings or 2 * args.readings
    with_bare = "bare" in args.cases

    specs = []
    cycle: int | None
    for name in args.cases:
        if name == "bare":
            continue
        mode, detector = name.split("-", 1)
        batch_rows = 1 if mode == "single" else args.batch_rows
        if detector == "pca":
            readings = args.readings if batch_rows == 1 else batched_readings
            paced = args.paced_readings
            cycle = None
        else:
            readings = args.lstm_readings
            paced = args.lstm_paced_readings
            cycle = max(1, args.lstm_cycle_readings // batch_rows)
        specs.append(CaseSpec(name, detector, batch_rows, readings, min(paced, readings), cycle))
    models: dict[str, TrainedModel] = {}
    for detector in sorted(
        {s.detector for s in specs} | ({"pca"} if not args.skip_profile else set())
    ):
        started = time.perf_counter()
        models[detector] = train_detector(detector, args.lstm_epochs)
        print(f"trained {detector} in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    results = []
    with tempfile.TemporaryDirectory(prefix="anomstream-bench-") as tmp:
        work = Path(tmp)
        for spec in specs:
            results.append(
                run_case(
                    spec,
                    settings,
                    models[spec.detector],
                    work,
                    args.entities,
                    args.rate,
                    with_bare and spec.detector == "pca",
                    args.keep_topics,
                )  # fmt: skip
            )
        profile = ""
        if not args.skip_profile:
            if not (VENV_BIN / "py-spy").exists():
                profile = "py-spy is not installed in the venv: `pip install py-spy`"
            else:
                spec = CaseSpec("single-pca", "pca", 1, args.profile_readings, 0)
                raw = work / "profile.txt"
                run_case(
                    spec, settings, models["pca"], work, args.entities, args.rate, False,
                    args.keep_topics, profile_to=raw,
                )  # fmt: skip
                profile = profile_summary(raw)
                if args.profile_out:
                    args.profile_out.write_bytes(raw.read_bytes())

    print(f"\n{CHANNELS} channels, window {WINDOW}, {args.entities} entities per phase, "
          f"{PARTITIONS} partitions; worker env: {WORKER_ENV or 'defaults'}\n")  # fmt: skip
    print(table(results, args.rate))
    if profile:
        print(f"\nWhere the worker's time goes (single-row PCA drain, {args.profile_readings:,} "
              "readings):\n")  # fmt: skip
        print(profile)


if __name__ == "__main__":
    main()
