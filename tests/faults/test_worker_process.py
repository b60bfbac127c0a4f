"""The worker as a process: what it listens on, how it ends, what an operator is told."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from confluent_kafka.admin import AdminClient
from kafka_helpers import free_port
from stream_checks import (
    PacedPublisher,
    drop_dataset,
    interleave,
    make_worker,
    new_dataset,
    readings_of,
)
from stream_fixtures import series, train_model
from worker_process import WorkerProcess, count_scores, read_all

from schemas import readings_topic, scores_topic


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port` (from /proc/net/tcp)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            out.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return out


def test_the_worker_serves_only_its_endpoints_on_loopback_and_says_it_has_no_models(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path: Path
) -> None:
    slug = new_dataset(kafka_bootstrap, kafka_admin)
    train_model(tmp_path / "models", slug, "e0", seed=1)
    state_home = tmp_path / "state"
    # Only a pca model exists: a worker told to serve raw has none, and says so.
    worker = make_worker(
        kafka_bootstrap, tmp_path / "models", slug, tmp_path,
        XDG_STATE_HOME=str(state_home), ANOMSTREAM_WORKER_DETECTOR="raw",
    )  # fmt: skip
    worker.start()
    try:
        worker.wait_assigned()
        base = f"http://127.0.0.1:{worker.port}"
        assert [_status(f"{base}/{p}") for p in ("metrics", "healthz", "readyz")] == [200] * 3
        # faust's own pages are not served.
        assert [_status(f"{base}/{p}") for p in ("", "router/", "table/", "stats/")] == [404] * 4
        assert _listening_addresses(worker.port) == {"127.0.0.1"}
        data_dir = state_home / "anomstream" / f"worker-{worker.worker_id}"
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert "no models for the subscribed datasets" in worker.log()
        assert "readings will be dead-lettered as no_model" in worker.log()
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        drop_dataset(kafka_admin, slug)


def test_a_twin_worker_with_the_same_id_makes_one_of_them_exit_non_zero(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path: Path
) -> None:
    slug, models = new_dataset(kafka_bootstrap, kafka_admin), tmp_path / "models"
    data = {f"e{i}": series(3000, seed=i) for i in range(3)}
    for i, entity in enumerate(data):
        train_model(models, slug, entity, seed=20 + i)
    first = make_worker(kafka_bootstrap, models, slug, tmp_path / "a")
    twin = make_worker(kafka_bootstrap, models, slug, tmp_path / "b")  # the same worker id
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    messages = interleave(
        [readings_of(slug, e, d, seed=1, single_only=True) for e, d in data.items()]
    )
    feed = PacedPublisher(kafka_bootstrap, readings_topic(slug), messages, per_second=300)
    first.start()
    try:
        first.wait_assigned()
        feed.start()
        twin.start()
        deadline = time.monotonic() + 120
        exited: list[WorkerProcess] = []
        while not exited and time.monotonic() < deadline:
            exited = [w for w in (first, twin) if w.process and w.process.poll() is not None]
            time.sleep(0.5)
        assert len(exited) == 1, f"{first.log()[-2000:]}\n---\n{twin.log()[-2000:]}"
        (gone,) = exited
        assert gone.process is not None and gone.process.returncode == 3
        assert "same ANOMSTREAM_WORKER_WORKER_ID" in gone.log()
        assert "Traceback" not in gone.log()
        survivor = twin if gone is first else first
        before = count_scores(read_all(kafka_bootstrap, scores_topic(slug), lambda v: False, 2))
        time.sleep(5)
        after = count_scores(read_all(kafka_bootstrap, scores_topic(slug), lambda v: False, 2))
        assert after > before, "the remaining worker does not score"
        assert survivor.process is not None and survivor.process.poll() is None
    finally:
        first.stop()
        twin.stop()
        feed.join(timeout=60)
        drop_dataset(kafka_admin, slug)


def test_an_unreachable_broker_is_one_line_from_the_cli_and_a_wait_under_faust(
    tmp_path: Path,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "ANOMSTREAM_KAFKA_BOOTSTRAP": nowhere,
        "ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "2",
        "ANOMSTREAM_MODELS_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "anomstream", "worker"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and f"no answer from Kafka at {nowhere}" in done.stderr
    worker = WorkerProcess(
        bootstrap=nowhere, models_dir=tmp_path, topics="readings.x", group_id="g",
        worker_id="lonely", log_dir=tmp_path, extra_env={"ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "1"},
    )  # fmt: skip
    worker.start(via_cli=False)
    try:
        deadline = time.monotonic() + 60
        while "waiting for it" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.5)
        base = f"http://127.0.0.1:{worker.port}"
        assert _status(f"{base}/healthz") == 200
        assert _status(f"{base}/readyz") == 503
        time.sleep(3)
        assert worker.process is not None and worker.process.poll() is None
        assert worker.log().count("waiting for it") == 1, "the wait is said once, not per try"
        assert "Traceback" not in worker.log()
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
