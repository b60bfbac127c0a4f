"""Runs `anomstream worker` as a subprocess for integration tests, and reads its outputs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition
from kafka_helpers import free_port

from schemas import Score, ScoreBatch, decode


@dataclass
class WorkerProcess:
    """One worker: started with its own web port and log file; killable and restartable."""

    bootstrap: str
    models_dir: Path
    topics: str
    group_id: str
    worker_id: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # Arguments after `anomstream worker` (the CLI start only), e.g. ["--processes", "2"].
    cli_args: list[str] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"worker-{self.worker_id}-{self.starts}.log"

    def start(self, via_cli: bool = True) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "ANOMSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "ANOMSTREAM_MODELS_DIR": str(self.models_dir),
            "ANOMSTREAM_WORKER_TOPICS": self.topics,
            "ANOMSTREAM_WORKER_GROUP_ID": self.group_id,
            "ANOMSTREAM_WORKER_WORKER_ID": self.worker_id,
            "ANOMSTREAM_WORKER_WEB_PORT": str(self.port),
            "ANOMSTREAM_WORKER_DEVICE": "cpu",
            **self.extra_env,
        }
        command = (
            [sys.executable, "-m", "anomstream", "worker", *self.cli_args]
            if via_cli
            else [sys.executable, "-m", "faust", "-A", "stream_app.app", "worker", "-l", "info"]
        )
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_assigned(self, timeout_s: float = 60.0) -> None:
        """Until the worker reports its first assigned partition (fresh or restored)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()[-3000:]}")
            if re.search(r"partition \S+: (resumed|nothing committed)", self.log()):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker got no partition in {timeout_s}s:\n{self.log()[-3000:]}")

    def metrics(self, port: int | None = None) -> str:
        url = f"http://127.0.0.1:{port or self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
            return str(response.read().decode())

    def metric(self, name: str, labels: str = "", port: int | None = None) -> float:
        """Sum of a metric's samples whose label text contains `labels`."""
        total = 0.0
        for line in self.metrics(port).splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if labels in line:
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def kill(self) -> None:
        """kill -9: no goodbye, no commit, no leaving the group."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, as `docker stop` or Ctrl-C would; returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"worker ignored SIGTERM:\n{self.log()[-3000:]}") from None


def read_all(
    bootstrap: str,
    topic: str,
    done: Callable[[list[bytes]], bool],
    timeout_s: float = 120.0,
) -> list[bytes]:
    """Committed values of `topic` from the start, until `done(values)` or the timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "log_level": 2,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done(values):
            for record in consumer.consume(num_messages=5000, timeout=0.5):
                error = record.error()
                if error is None:
                    values.append(record.value() or b"")
                elif error.code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(f"reading {topic}: {error}")
    finally:
        consumer.close()
    return values


def expand_scores(values: list[bytes]) -> list[Score]:
    out: list[Score] = []
    for value in values:
        if b'"first_seq"' in value:
            out.extend(decode(value, ScoreBatch).expand())
        else:
            out.append(decode(value, Score))
    return out


def count_scores(values: list[bytes]) -> int:
    return len(expand_scores(values))


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The high watermark of each partition of `topic` now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets", "log_level": 2})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def read_from(
    bootstrap: str,
    topic: str,
    start: dict[int, int],
    done: Callable[[list[bytes]], bool],
    timeout_s: float = 120.0,
) -> list[bytes]:
    """Committed values of `topic` from the offsets in `start`, until `done` or timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "log_level": 2,
        }
    )
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in start.items()])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done(values):
            for record in consumer.consume(num_messages=5000, timeout=0.5):
                if record.error() is None:
                    values.append(record.value() or b"")
        time.sleep(1.0)  # anything beyond `done` (a duplicate) must show up too
        for record in consumer.consume(num_messages=100_000, timeout=2.0):
            if record.error() is None:
                values.append(record.value() or b"")
    finally:
        consumer.close()
    return values
