"""The worker under benchmark: `anomstream worker` as a subprocess (optionally under py-spy,
optionally as N processes), its /metrics, and its resident memory."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The checkout whose worker runs: this one, or another (an A/B comparison of two commits:
# ANOMSTREAM_BENCH_WORKER_REPO=/path/to/worktree, with PYTHONPATH pointing there too).
REPO = Path(os.environ.get("ANOMSTREAM_BENCH_WORKER_REPO") or Path(__file__).resolve().parents[1])
VENV_BIN = Path(sys.executable).parent
# Extra environment for the worker subprocesses (--worker-env).
WORKER_ENV: dict[str, str] = {}


def free_ports(count: int = 1) -> int:
    """A loopback port p with p .. p + count - 1 all free (below the ephemeral range)."""
    for _ in range(500):
        first = int.from_bytes(os.urandom(2), "big") % 12000 + 20000
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} free adjacent loopback ports")


@dataclass
class Worker:
    """A worker subprocess (optionally under py-spy) and its /metrics endpoint."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    profiled: bool = False

    processes: int = 1

    @classmethod
    def start(
        cls, bootstrap: str, topic: str, slug: str, models_dir: Path, log_dir: Path,
        batch_max_messages: int | None = None, profile_to: Path | None = None,
        processes: int = 1,
    ) -> Worker:  # fmt: skip
        port = free_ports(processes)
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
            argv += ["--processes", str(processes)] if processes > 1 else []
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
        worker = cls(process, port, log_path, profiled=profile_to is not None, processes=processes)
        worker.wait_metrics()
        return worker

    def metrics(self) -> str:
        """Every process's /metrics, one after another (sum a counter over them)."""
        bodies = []
        for port in range(self.port, self.port + self.processes):
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - localhost
                bodies.append(response.read().decode())
        return "\n".join(bodies)

    def rss_bytes(self) -> int:
        """Resident memory of the worker process(es), from /proc."""
        pids = _children(self.process.pid) if self.processes > 1 or self.profiled else []
        return sum(_rss(pid) for pid in pids or [self.process.pid])

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
        return sum(float(v) for v in re.findall(pattern, self.metrics(), re.MULTILINE))

    def wait_scored(self, dataset: str, expected: int, timeout_s: float) -> float:
        """Wait until `expected` readings are scored; returns the steady rate: readings/s
        between 20% and 80% of them (start-up, rebalances and the last cycle left out)."""
        deadline = time.monotonic() + timeout_s
        samples: list[tuple[float, float]] = []
        while time.monotonic() < deadline:
            self.check_alive()
            scored = self.scored(dataset)
            samples.append((time.monotonic(), scored))
            if scored >= expected:
                return _steady(samples, expected)
            time.sleep(0.1)
        got = self.scored(dataset)
        raise RuntimeError(f"worker scored {got:.0f} of {expected} in {timeout_s:g}s")

    def stop(self) -> None:
        target = _children(self.process.pid)[0] if self.profiled else self.process.pid
        os.kill(target, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (py-spy's worker, or --processes' workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _steady(samples: list[tuple[float, float]], expected: int) -> float:
    low = next((t, n) for t, n in samples if n >= 0.2 * expected)
    high = next((t, n) for t, n in samples if n >= 0.8 * expected)
    return (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0
