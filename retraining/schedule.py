"""Running a retrain once, or again every so often until told to stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

__all__ = ["run_every", "seconds_until_next"]

log = logging.getLogger(__name__)


def seconds_until_next(started: float, every: timedelta, now: float) -> float:
    """How long to wait for the next run: runs start `every` apart, counted from each start;
    a run that took longer than `every` is followed at once (runs never overlap).

    >>> seconds_until_next(100.0, timedelta(seconds=60), 130.0)
    30.0
    >>> seconds_until_next(100.0, timedelta(seconds=60), 200.0)
    0.0
    """
    return max(0.0, started + every.total_seconds() - now)


def run_every(
    job: Callable[[], object],
    every: timedelta | None,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Run `job` once (`every` None) or every `every` until `stop` is set; returns the runs.

    A failing scheduled run is logged and the schedule goes on: the next run may find the
    broker back. A single run lets its exception through.
    """
    runs = 0
    while not stop.is_set():
        started = clock()
        runs += 1
        if every is None:
            job()
            return runs
        try:
            job()
        except Exception:  # a service keeps its schedule; the traceback is in the log
            log.exception("retrain run %d failed; the next one is due in %s", runs, every)
        wait = seconds_until_next(started, every, clock())
        log.info("next retrain in %.0fs", wait)
        stop.wait(wait)
    return runs
