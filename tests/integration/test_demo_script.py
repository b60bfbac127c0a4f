"""`scripts/demo` (what `make demo` runs) against the session's kafka-local broker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from kafka_helpers import KAFKA_LOCAL, REPO_ROOT, free_port, kafka_local_env


def test_the_demo_trains_scores_shows_live_alerts_and_a_summary(
    session_kafka_local_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **session_kafka_local_env,
        "PIPELINE_DIR": str(tmp_path / "run"),
        "PIPELINE_LIMIT": "6000",
        "ANOMSTREAM_WORKER_WEB_PORT": str(free_port()),
        "ANOMSTREAM_EXPORTER_PORT": str(free_port()),
        "ANOMSTREAM_UI_PORT": str(free_port()),
        "PIPELINE_NO_DOCKER": "1",  # the session broker is kafka-local's
    }
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "demo"), "synthetic", "pca"],
        env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "broker: deploy/kafka/kafka-local (PIPELINE_NO_DOCKER is set)" in out
    assert f"web:     http://127.0.0.1:{env['ANOMSTREAM_UI_PORT']}/" in out
    assert list((tmp_path / "run" / "models" / "synthetic").iterdir()), "models trained"
    # 4 sensors x 1500 readings, each but the first window-1 of a sensor scored.
    summary = dict(
        re.findall(
            r"^(readings consumed|scores published|alerts opened|precision)\s+(.+)$", out, re.M
        )
    )
    assert summary["readings consumed"].strip() == "6,000", out[-2000:]
    assert 0 < int(summary["scores published"].replace(",", "")) < 6000
    opened = int(summary["alerts opened"].split()[0].replace(",", ""))
    assert opened > 0, "the synthetic anomalies open alerts"
    # The live tail printed alerts as they opened (its human lines name the entity).
    assert any("OPENED" in line and "sensor-" in line for line in out.splitlines()), out[-3000:]
    precision = float(summary["precision"].split()[0])
    assert 0.0 < precision <= 1.0
    assert "Traceback" not in (tmp_path / "run" / "worker.log").read_text()
    # The closing report: a page and a PNG per replayed sensor.
    report = tmp_path / "run" / "report"
    assert "plots:" in out and (report / "index.html").is_file(), out[-2000:]
    assert len(list(report.glob("*.png"))) == 4
    # The session's broker was running before the demo: it is left running.
    status = subprocess.run([str(KAFKA_LOCAL), "status"], env=env, capture_output=True, check=False)
    assert status.returncode == 0


def test_a_docker_without_compose_v2_gets_kafka_local_and_its_broker_is_stopped(
    tmp_path: Path,
) -> None:
    # A Docker daemon that answers, with a docker CLI that has no compose v2 plugin: the
    # demo once died here with `unknown shorthand flag: 'd' in -d` (exit 125).
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in info) exit 0 ;; esac\n'
        "echo \"unknown shorthand flag: 'd' in -d\" >&2\n"
        "exit 125\n"
    )
    fake.chmod(0o755)
    env = {
        **kafka_local_env(tmp_path / "kafka", free_port(), free_port()),
        "PIPELINE_DIR": str(tmp_path / "run"),
        "PIPELINE_LIMIT": "1000",
        "ANOMSTREAM_WORKER_WEB_PORT": str(free_port()),
        "ANOMSTREAM_EXPORTER_PORT": str(free_port()),
        "ANOMSTREAM_UI_PORT": str(free_port()),
    }
    env["PATH"] = f"{fake.parent}:{env['PATH']}"
    try:
        done = subprocess.run(
            [str(REPO_ROOT / "scripts" / "demo"), "synthetic", "pca"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "broker: deploy/kafka/kafka-local (docker has no compose v2 plugin)" in done.stdout
        assert "stopping the broker this demo started" in done.stdout
        status = subprocess.run(
            [str(KAFKA_LOCAL), "status"], env=env, capture_output=True, check=False
        )
        assert status.returncode != 0, "the demo's own broker is stopped"
    finally:
        subprocess.run([str(KAFKA_LOCAL), "stop"], env=env, capture_output=True, check=False)
