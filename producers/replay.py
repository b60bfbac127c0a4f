"""Replay a dataset onto its readings topic: select, order, pace, send, count, summarise."""

from __future__ import annotations

import fnmatch
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tqdm import tqdm

from producers.datasets import DatasetError, DatasetLoader, EntityData
from producers.pacing import Pacer
from producers.replay_plan import ReplayPlan
from producers.sinks import DeliveryCounts, Sink

__all__ = ["ReplayOptions", "ReplaySummary", "load_entities", "replay", "select_entities"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and how fast; `speed` and `rate` both None means as fast as possible."""

    entity_globs: Sequence[str] = ()
    split: Literal["train", "test"] = "test"
    limit: int | None = None
    loop: bool = False
    speed: float | None = None
    rate: float | None = None
    batch_rows: int = 1
    progress: bool = True
    flush_timeout_s: float = 60.0


@dataclass
class ReplaySummary:
    """What a replay did: readings and messages sent, deliveries, time taken."""

    readings: int = 0
    counts: DeliveryCounts = field(default_factory=DeliveryCounts)
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Readings per second over the whole replay, flush included."""
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        c = self.counts
        state = "interrupted" if self.interrupted else "done"
        failed = f" (first error: {c.first_error})" if c.failed else ""
        return (
            f"{state}: {self.readings} readings in {c.sent} messages, {c.delivered} delivered, "
            f"{c.failed} failed{failed}, {self.elapsed_s:.1f}s, {self.rate:,.0f} readings/s"
        )


def select_entities(available: Sequence[str], globs: Sequence[str]) -> list[str]:
    """Entities matching any glob (all without globs), in the dataset's order."""
    if not globs:
        return list(available)
    unmatched = [g for g in globs if not fnmatch.filter(available, g)]
    if unmatched:
        sample = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
        raise DatasetError(f"no entity matches {', '.join(unmatched)}; entities: {sample}")
    return [e for e in available if any(fnmatch.fnmatchcase(e, g) for g in globs)]


def load_entities(
    loader: DatasetLoader, globs: Sequence[str], progress: bool = True
) -> list[EntityData]:
    """Load the selected entities, with a progress bar when there are many."""
    names = select_entities(loader.entities(), globs)
    bar = tqdm(
        names, desc=f"loading {loader.name}", unit="entity", disable=not progress or len(names) < 4
    )
    return [loader.load(name) for name in bar]


def replay(
    entities: Sequence[EntityData],
    sink: Sink,
    options: ReplayOptions,
    clock: Callable[[], float] = time.perf_counter,
) -> ReplaySummary:
    """Send the entities' readings in event-time order; Ctrl-C stops cleanly after a flush."""
    plan = ReplayPlan(entities, options.split, options.batch_rows)
    plan.validate_first_messages()
    pacer = Pacer(speed=options.speed, rate=options.rate)
    loops = None if options.loop else 1
    total = None if options.loop else plan.readings_per_loop
    if options.limit is not None:
        total = options.limit if total is None else min(total, options.limit)
    summary = ReplaySummary(counts=sink.counts)
    started = clock()
    bar = tqdm(total=total, unit="reading", unit_scale=True, disable=not options.progress)
    # Ctrl-C sets a flag that the loop checks between messages: a KeyboardInterrupt could
    # land between a send and its count, and the summary would be off by one message.
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        for message in plan.messages(loops, limit=options.limit):
            pacer.wait(message.event_time_ns, message.readings, stop)
            if stop.is_set():
                break
            sink.send(message.key, message.value)
            summary.readings += message.readings
            bar.update(message.readings)
    except KeyboardInterrupt:  # off the main thread, where no handler could be installed
        stop.set()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if stop.is_set():
            summary.interrupted = True
            log.warning("interrupted: flushing what was sent")
        bar.close()
        sink.close(options.flush_timeout_s)
        summary.elapsed_s = clock() - started
    return summary
