"""Each real benchmark replayed by the CLI onto the broker, then read back and checked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from producers.datasets import loader_class
from schemas import Reading, ReadingBatch, decode

# dataset, its folder under the data root, entity globs (None = all), rows per message.
CASES = [
    ("skab", "skab", None, 1),
    ("smd", "ServerMachineDataset", "machine-1-*", 200),
    ("smap", "smap_msl", None, 500),
    ("msl", "smap_msl", None, 500),
]


def read_back(bootstrap: str, topic: str, readings: int) -> list[Reading]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[Reading] = []
    idle = 0
    try:
        while idle < 5 and len(out) <= readings:
            batch = consumer.consume(500, timeout=1.0)
            idle = 0 if batch else idle + 1
            for message in batch:
                value = message.value() or b""
                if b'"first_seq"' in value:
                    out += decode(value, ReadingBatch).readings()
                else:
                    out.append(decode(value, Reading))
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize(("dataset", "folder", "glob", "batch_rows"), CASES)
def test_real_dataset_replays_completely_in_order(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    real_data_dir: Callable[[str], Path],
    dataset: str,
    folder: str,
    glob: str | None,
    batch_rows: int,
) -> None:
    data_dir = real_data_dir(folder)
    loader = loader_class(dataset)(data_dir)
    names = [n for n in loader.entities() if glob is None or Path(n).match(glob)]
    expected = {n: loader.load(n).test for n in names}
    topic = new_topic(partitions=3)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "anomstream",
            "replay",
            dataset,
            "--max",
            "--no-progress",
            "--batch-rows",
            str(batch_rows),
            "--topic",
            topic,
            "--bootstrap",
            kafka_bootstrap,
            "--data-dir",
            str(data_dir),
            *(["--entity", glob] if glob else []),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANOMSTREAM_LOG_LEVEL": "WARNING"},
    )
    assert result.returncode == 0, result.stderr
    total = sum(len(split) for split in expected.values())
    assert f"done: {total} readings" in result.stderr

    readings = read_back(kafka_bootstrap, topic, total)

    assert len(readings) == total, "every reading exactly once"
    by_entity: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        by_entity[reading.entity].append(reading)
    assert by_entity.keys() == expected.keys()
    for name, split in expected.items():
        got = by_entity[name]
        assert [r.seq for r in got] == list(range(len(split))), f"{name}: seqs out of order"
        assert split.labels is not None
        assert sum(r.label or 0 for r in got) == int(split.labels.sum()), f"{name}: labels"
        first = [got[0].values[c] for c in loader.load(name).channels]
        assert first == pytest.approx(split.values[0].tolist(), nan_ok=True)
