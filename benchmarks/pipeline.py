"""End-to-end pipeline benchmark: replay -> broker -> `anomstream worker` -> scores.

Start a broker first (`deploy/kafka/kafka-local start`), then:

    python benchmarks/pipeline.py [--bootstrap 127.0.0.1:9092] [--readings 200000]
        [--sections throughput,latency,scaling,entities,deep,profile]

Every case gets fresh topics `readings.<slug>` and `scores.<slug>` (3 partitions), a fresh
consumer group and models (38 channels, window 100) in a temporary folder. The readings
topic is pre-filled at full speed, then a worker drains it: throughput is scored readings
over first-to-last score, by the score records' Kafka timestamps. The tables:

- throughput: single-row and batched PCA beside a bare confluent-kafka consumer reading the
  same pre-filled topic in the same run (assigned partitions, no parsing): the ceiling;
- latency: with the worker warm, other entities replayed at paced rates (1k, 5k, 20k
  readings/s and 80% of the drain's max); a reading's produce time to its score becoming
  visible to a read_committed consumer in a process of its own (bench_arrivals.py);
- scaling: one worker process against `anomstream worker --processes 2`;
- entities: 10, 1,000 and 10,000 entities of one `_default` model: readings/s and the
  worker's resident memory per entity against the raw window (100 x 38 float64);
- deep: lstm_ed, single-row and batched, on the CPU;
- profile: the single-row PCA drain once more under py-spy (`pip install py-spy`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_cases import CaseResult, CaseSpec, run_case
from bench_data import CHANNELS, PARTITIONS, WINDOW, train_detector
from bench_profile import profile_summary
from bench_worker import VENV_BIN, WORKER_ENV

from detectors.pipeline import TrainedModel
from producers.kafka_config import KafkaSettings

SECTIONS = ("throughput", "latency", "scaling", "entities", "deep", "profile")
LATENCY_RATES = tuple(
    float(r) for r in os.environ.get("BENCH_RATES", "1000,5000,20000,0.8").split(",")
)
PHASES = ("consume", "process", "commit")
RAW_WINDOW_BYTES = WINDOW * CHANNELS * 8


def _ms(value: float) -> str:
    return f"{value:,.0f}"


def throughput_table(results: list[CaseResult]) -> str:
    lines = [
        "| case | readings | readings/s (worker, steady) | bare consumer, same topic "
        "| worker / bare "
        "| cycles | engine time: consume / process / commit | dead letters |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        bare = (
            f"{r.bare_messages / r.bare_s:,.0f} msg/s = {r.bare_rate:,.0f} readings/s"
            if r.bare_s
            else "-"
        )
        ratio = f"{r.steady / r.bare_rate:.2f}" if r.bare_rate else "-"
        rate = f"{r.steady:,.0f}" if r.cycles >= 3 else "(too few cycles)"
        total = sum(r.phases.values())
        phases = (
            " / ".join(f"{100 * r.phases.get(p, 0) / total:.0f}%" for p in PHASES) if total else "-"
        )
        lines.append(
            f"| {r.spec.label} | {r.readings:,} | {rate} | {bare} | {ratio} | {r.cycles} "
            f"| {phases} | {r.dead_letters or '-'} |"
        )
    return "\n".join(lines)


def latency_table(results: list[CaseResult]) -> str:
    lines = [
        "| case | rate asked (readings/s) | achieved | scores | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for lat in r.latencies:
            lines.append(
                f"| {r.spec.label} | {lat.rate:,.0f} | {lat.achieved:,.0f} | {lat.scores:,} "
                f"| {_ms(lat.p50_ms)} | {_ms(lat.p99_ms)} | {_ms(lat.max_ms)} |"
            )
    return "\n".join(lines)


def scaling_table(one: CaseResult, many: CaseResult) -> str:
    speedup = many.steady / one.steady if one.steady else 0.0
    return "\n".join(
        [
            "| processes | readings | readings/s (steady) | speed-up |",
            "|---:|---:|---:|---:|",
            f"| 1 | {one.readings:,} | {one.steady:,.0f} | 1.00 |",
            f"| {many.spec.processes} | {many.readings:,} | {many.steady:,.0f} | {speedup:.2f} |",
        ]
    )


def entities_table(results: list[CaseResult]) -> str:
    lines = [
        "| entities | readings | readings/s | RSS idle MiB | RSS loaded MiB | per entity KiB "
        f"| per entity / raw window ({RAW_WINDOW_BYTES / 1024:.1f} KiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per = (r.rss_loaded - r.rss_idle) / r.spec.entities
        lines.append(
            f"| {r.spec.entities:,} | {r.readings:,} | {r.steady:,.0f} | {r.rss_idle / 2**20:,.0f} "
            f"| {r.rss_loaded / 2**20:,.0f} | {per / 1024:,.1f} | {per / RAW_WINDOW_BYTES:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bootstrap", default=KafkaSettings().bootstrap)
    parser.add_argument("--readings", type=int, default=200_000, help="single-row PCA drain")
    parser.add_argument("--batched-readings", type=int, help="batched PCA (default 2x readings)")
    parser.add_argument("--scaling-readings", type=int, default=800_000)
    parser.add_argument("--batch-rows", type=int, default=100)
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument(
        "--entity-counts", default="10,1000,10000", help="the entities section's sizes"
    )
    parser.add_argument("--entity-rows", type=int, default=2 * WINDOW, help="rows per entity there")
    parser.add_argument("--lstm-readings", type=int, default=20_000)
    parser.add_argument("--lstm-epochs", type=int, default=1)
    parser.add_argument(
        "--lstm-cycle-readings", type=int, default=2000,
        help="lstm_ed: BATCH_MAX_MESSAGES = this / rows per message (enough cycles to time)",
    )  # fmt: skip
    parser.add_argument(
        "--adaptive", action="store_true", help="PCA with adaptive scoring (train's default)"
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile-readings", type=int, default=100_000)
    parser.add_argument(
        "--profile-batch-rows", type=int, default=1, help="rows per message of the profiled drain"
    )
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's raw samples here")
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    for item in args.worker_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--worker-env takes KEY=VALUE, got {item!r}")
        WORKER_ENV[key] = value
    settings = KafkaSettings(bootstrap=args.bootstrap)
    batched = args.batched_readings or 2 * args.readings
    models: dict[str, TrainedModel] = {}

    def model(detector: str) -> TrainedModel:
        if detector not in models:
            started = time.perf_counter()
            models[detector] = train_detector(detector, args.lstm_epochs, args.adaptive)
            print(f"trained {detector} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return models[detector]

    out: list[str] = [
        f"{CHANNELS} channels, window {WINDOW}, {PARTITIONS} partitions, PCA "
        f"{'with' if args.adaptive else 'without'} adaptive scoring; worker env: "
        f"{WORKER_ENV or 'defaults'}"
    ]
    with tempfile.TemporaryDirectory(prefix="anomstream-bench-") as tmp:
        work = Path(tmp)

        def case(spec: CaseSpec, profile_to: Path | None = None) -> CaseResult:
            return run_case(
                spec, settings, model(spec.detector), work, args.keep_topics, profile_to
            )

        single: CaseResult | None = None
        if "throughput" in sections or "latency" in sections:
            rates = LATENCY_RATES if "latency" in sections else ()
            single = case(CaseSpec("pca", 1, args.readings, args.entities, latency_rates=rates,
                                   bare="throughput" in sections))  # fmt: skip
            batch = case(CaseSpec("pca", args.batch_rows, batched, args.entities,
                                  latency_rates=rates, bare="throughput" in sections))  # fmt: skip
            out += ["", "## Throughput", "", throughput_table([single, batch])]
            if rates:
                out += ["", "## Latency as a read_committed reader sees it", ""]
                out.append(latency_table([single, batch]))
        if "scaling" in sections:
            # Long drains: the second process's join and the rebalance stay outside 20-80%.
            big = args.scaling_readings
            one = case(CaseSpec("pca", 1, big, args.entities))
            two = case(CaseSpec("pca", 1, big, args.entities, processes=2))
            out += ["", "## Scaling out on this machine", "", scaling_table(one, two)]
        if "entities" in sections:
            sizes = [int(n) for n in args.entity_counts.split(",")]
            runs = [
                # At least 200,000 readings, so that even 10 entities' drain has cycles to time.
                case(CaseSpec("pca", 1, max(n * args.entity_rows, 200_000), n, dataset_model=True))
                for n in sizes
            ]
            out += ["", "## Many entities (one `_default` model)", "", entities_table(runs)]
        if "deep" in sections:
            cycle = args.lstm_cycle_readings
            # A model per entity (one detector call per entity and cycle), and one model for
            # the dataset (every entity's windows in one call: batching across entities).
            deep = [
                case(CaseSpec("lstm_ed", 1, args.lstm_readings, args.entities,
                              batch_max_messages=cycle)),
                case(CaseSpec("lstm_ed", 1, args.lstm_readings, args.entities,
                              batch_max_messages=cycle, dataset_model=True)),
                case(CaseSpec("lstm_ed", args.batch_rows, args.lstm_readings, args.entities,
                              batch_max_messages=max(1, cycle // args.batch_rows))),
            ]  # fmt: skip
            out += ["", "## Deep detector on the CPU", "", throughput_table(deep)]
        if "profile" in sections:
            if not (VENV_BIN / "py-spy").exists():
                out += ["", "py-spy is not installed in the venv: `pip install py-spy`"]
            else:
                raw = work / "profile.txt"
                rows = args.profile_batch_rows
                # Many entities share one `_default` model, as they would be served.
                many = args.entities > 100
                spec = CaseSpec(
                    "pca", rows, args.profile_readings, args.entities, dataset_model=many
                )
                case(spec, profile_to=raw)
                out += ["", f"## Where the time goes ({spec.label}, {args.profile_readings:,} "
                        "readings)", "", profile_summary(raw)]  # fmt: skip
                if args.profile_out:
                    args.profile_out.write_bytes(raw.read_bytes())
    print("\n".join(out))


if __name__ == "__main__":
    main()
