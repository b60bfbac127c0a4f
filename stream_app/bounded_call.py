"""Blocking client calls with a deadline of our own, for calls that may ignore theirs.

librdkafka's `send_offsets_to_transaction` can block past its timeout while the group
coordinator is away (librdkafka #5456, #5511). The calls run on a daemon thread; the caller
waits for the deadline, beating its liveness, and on expiry gets `CallHung` and a fresh
thread for the next call, leaving the stuck one (and its client) behind.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from stream_app.liveness import Stopping

__all__ = ["BoundedCalls", "CallHung"]

T = TypeVar("T")


class CallHung(RuntimeError):
    """A call did not return within its deadline; its client must be given up."""


class _Job:
    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class BoundedCalls:
    """Runs calls one at a time on a helper thread and waits at most a deadline for each."""

    def __init__(self, beat: Callable[[], None], stop: threading.Event) -> None:
        self._beat = beat
        self._stop = stop
        self._jobs: queue.SimpleQueue[_Job | None] | None = None

    def run(self, call: Callable[[], T], seconds: float, what: str) -> T:
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(
                target=_serve, args=(self._jobs,), name="anomstream-kafka-call", daemon=True
            ).start()
        job = _Job(call)
        self._jobs.put(job)
        deadline = time.monotonic() + seconds
        while not job.done.wait(0.25):
            self._beat()
            if self._stop.is_set():
                self._abandon()
                raise Stopping()
            if time.monotonic() > deadline:
                self._abandon()
                raise CallHung(f"{what} did not return within {seconds:.0f}s")
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _abandon(self) -> None:
        # The stuck thread ends once its call returns, if ever; the next call gets a new one.
        if self._jobs is not None:
            self._jobs.put(None)
        self._jobs = None


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        try:
            job.result = job.call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            job.error = exc
        job.done.set()
