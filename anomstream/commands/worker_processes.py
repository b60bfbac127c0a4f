"""`anomstream worker --processes N`: N workers of one group, started and stopped together.

One Python process scores on one core; more cores need more processes. Each child is the
ordinary worker with its own WORKER_ID (`<id>-<i>`: its own group member and transactional
id, stable across restarts of the command) and its own /metrics port (WEB_PORT + i - 1).
Ctrl-C and SIGTERM reach every child (and a child whose parent died gets SIGTERM); when one
child exits, the others are stopped and the command exits with that child's status, so that
a supervisor restarts the set as a whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from stream_app.settings import WorkerSettings

__all__ = ["run_processes"]

_STOP_WAIT_S = 30.0


def run_processes(argv: list[str], count: int, settings: WorkerSettings) -> int:
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    for i in range(1, count + 1):
        worker_id = f"{settings.worker_id}-{i}"
        port = settings.web_port + i - 1 if settings.web_port else 0
        env = {
            **os.environ,
            "ANOMSTREAM_WORKER_WORKER_ID": worker_id,
            "ANOMSTREAM_WORKER_WEB_PORT": str(port),
        }
        # A session of its own: a terminal's Ctrl-C reaches a child once, through `forward`.
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        children.append((worker_id, child))
        print(
            f"anomstream worker: started {worker_id} (pid {children[-1][1].pid}, "
            f"/metrics on {settings.web_host}:{port})",
            file=sys.stderr,
            flush=True,
        )

    def forward(signum: int, frame: FrameType | None) -> None:
        for _, child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = _first_exit(children)
    for _, child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + _STOP_WAIT_S
    for _, child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, even by kill -9 (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _first_exit(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    while True:
        for worker_id, child in children:
            status = child.poll()
            if status is not None:
                if len(children) > 1:
                    print(
                        f"anomstream worker: {worker_id} exited with status {status}; "
                        "stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                return status
        time.sleep(0.2)
