"""Latency as a reader sees it: a reading's produce time to its score becoming visible to a
read_committed consumer (bench_arrivals.py, a process of its own), at a given replay rate.

Unlike the score record's own timestamp, this includes the worker's transaction commit, which
every documented reader (read_committed) waits for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_data import WINDOW
from bench_kafka import publish, read_all, reading_times

from producers.datasets import EntityData
from producers.kafka_config import KafkaSettings

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Latency:
    rate: float  # readings/s asked for
    achieved: float  # readings/s the replay managed
    scores: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def reader_latency(
    settings: KafkaSettings,
    readings_topic: str,
    scores_topic: str,
    data: list[EntityData],
    batch_rows: int,
    rate: float,
) -> Latency:
    """Replay `data` (entities the worker has models for) at `rate`; p50/p99 of produce ->
    visible to a read_committed reader, over every score of it."""
    expected = sum(max(0, len(e.test) - (WINDOW - 1)) for e in data)
    names = {e.entity for e in data}
    with tempfile.TemporaryDirectory(prefix="bench-arrivals-") as tmp:
        out, ready = Path(tmp) / "arrivals.json", Path(tmp) / "ready"
        reader = subprocess.Popen(  # noqa: S603 - our own script
            [
                sys.executable, str(HERE / "bench_arrivals.py"),
                "--bootstrap", settings.bootstrap, "--topic", scores_topic,
                "--expect", str(expected), "--out", str(out), "--ready", str(ready),
            ],
            cwd=HERE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not ready.exists():
            if reader.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the arrivals reader did not start")
            time.sleep(0.05)
        elapsed = publish(settings, readings_topic, data, batch_rows, rate=rate)
        reader.wait(timeout=360)
        arrived: dict[str, int] = json.loads(out.read_text())
    sent = reading_times(read_all(settings.bootstrap, readings_topic))
    delays = [
        float(ms - sent[(entity, int(seq))])
        for key, ms in arrived.items()
        for entity, seq in [key.rsplit(" ", 1)]
        if entity in names and (entity, int(seq)) in sent
    ]
    if not delays:
        raise RuntimeError(f"no score of the {rate:,.0f}/s run arrived")
    readings = sum(len(e.test) for e in data)
    return Latency(
        rate,
        readings / elapsed if elapsed else 0.0,
        len(delays),
        float(np.percentile(delays, 50)),
        float(np.percentile(delays, 99)),
        max(delays),
    )
