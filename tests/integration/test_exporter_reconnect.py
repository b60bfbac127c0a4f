"""`anomstream exporter` while its broker is away: a 0/1 gauge and one log line per change.

The broker is this test's own kafka-local node, so that it can be missing at the start,
started, and stopped again under a running exporter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_helpers import KAFKA_LOCAL, REPO_ROOT, free_port, kafka_local_env

GAUGE = "anomstream_exporter_kafka_connected"
DEADLINE_S = 60.0


def gauge(port: int) -> float | None:
    """The gauge as /metrics serves it now; None while the exporter does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:  # noqa: S310 - loopback http
            text = response.read().decode()
    except OSError:
        return None
    values = [float(line.split()[1]) for line in text.splitlines() if line.startswith(GAUGE + " ")]
    return values[0] if values else None


def wait_for(port: int, value: float, log: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if gauge(port) == value:
            return
        time.sleep(0.25)
    raise AssertionError(f"{GAUGE} never became {value}; log:\n{log.read_text()[-3000:]}")


@pytest.fixture
def broker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """kafka-local settings for a node not started yet; stopped after the test if it runs."""
    env = kafka_local_env(tmp_path / "kafka", free_port(), free_port())
    yield env
    subprocess.run([str(KAFKA_LOCAL), "stop"], env=env, capture_output=True, check=False)


def kafka_local(command: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(KAFKA_LOCAL), command], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr


def test_exporter_reports_losing_and_regaining_kafka(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    bootstrap = f"127.0.0.1:{broker_env['KAFKA_LOCAL_PORT']}"
    port = free_port()
    env = {
        **os.environ,
        "ANOMSTREAM_EXPORTER_BOOTSTRAP": bootstrap,
        "ANOMSTREAM_EXPORTER_HOST": "127.0.0.1",
        "ANOMSTREAM_EXPORTER_PORT": str(port),
        "ANOMSTREAM_EXPORTER_GROUP_ID": f"test-exporter-{port}",
        "ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "2",
    }
    log = tmp_path / "exporter.log"
    with log.open("wb") as out:
        exporter = subprocess.Popen(
            [sys.executable, "-m", "anomstream", "exporter"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # No broker yet: /metrics is served, says so, and the log says it in one line.
            wait_for(port, 0.0, log)
            deadline = time.monotonic() + DEADLINE_S
            while "cannot reach Kafka" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.25)
            [warning] = [line for line in log.read_text().splitlines() if "Kafka at" in line]
            expected = f"WARNING consumers.exporter_connection: cannot reach Kafka at {bootstrap}"
            assert expected in warning
            assert "Traceback" not in log.read_text()

            kafka_local("start", broker_env)
            wait_for(port, 1.0, log)
            assert f"connected to Kafka at {bootstrap}" in log.read_text()

            kafka_local("stop", broker_env)
            wait_for(port, 0.0, log)
            assert f"lost Kafka at {bootstrap} (" in log.read_text()

            kafka_local("start", broker_env)
            wait_for(port, 1.0, log)
            assert f"Kafka at {bootstrap} answers again; {GAUGE} is 1" in log.read_text()
        finally:
            if exporter.poll() is None:
                exporter.send_signal(signal.SIGTERM)
            status = exporter.wait(timeout=30)
    assert status == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text
    # One line per change, not one per retry.
    assert text.count("cannot reach Kafka") == 1
    assert text.count("lost Kafka") == 1
    assert text.count(f"Kafka at {bootstrap} answers again") == 1
