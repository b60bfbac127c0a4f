"""`scripts/pipeline` (what `make pipeline` runs) against the session's kafka-local broker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from kafka_helpers import REPO_ROOT, free_port


def test_the_pipeline_trains_scores_and_shows_alerts(
    session_kafka_local_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **session_kafka_local_env,
        "PIPELINE_DIR": str(tmp_path / "run"),
        "PIPELINE_LIMIT": "6000",
        "ANOMSTREAM_WORKER_WEB_PORT": str(free_port()),
    }
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "pipeline"), "synthetic", "pca"],
        env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert list((tmp_path / "run" / "models" / "synthetic").iterdir()), "models trained"
    # 4 sensors x 1500 readings, each but the first window-1 of a sensor scored.
    consumed = re.search(r'readings_consumed_total\{dataset="synthetic"\} (\d+)', out)
    scored = re.search(r'readings_scored_total\{dataset="synthetic"\} (\d+)', out)
    assert consumed and int(float(consumed.group(1))) == 6000, out[-2000:]
    assert scored and 0 < int(float(scored.group(1))) < 6000
    assert '"state":"opened"' in out, "the synthetic anomalies open alerts"
    assert "Traceback" not in (tmp_path / "run" / "worker.log").read_text()
