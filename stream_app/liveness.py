"""What the worker tells about itself: is the engine alive, coming round, connected, caught up.

The engine thread beats at every turn of its loop, also while it waits out a broker outage,
so a beat that stops means a stall, not an outage. `/healthz` (restart me) and `/readyz`
(send me work) are computed from here; the watchdog exits the process on a stall.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Liveness", "Stopping"]


class Stopping(Exception):
    """The worker is shutting down: leave what is in flight uncommitted (it is re-read)."""


@dataclass
class Liveness:
    """Shared between the engine thread (writes) and the web server (reads); plain fields,
    each written whole, so no lock is needed for a consistent enough picture."""

    stall_timeout_s: float
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    started_at: float = field(init=False)
    beat_at: float = field(init=False)
    engine_running: bool = False
    engine_error: str | None = None
    # Wall time of the last committed transaction; None before the first.
    last_commit_wall: float | None = None
    # When the broker stopped answering (monotonic); None while it answers.
    broker_down_since: float | None = None
    # What the engine is recovering from now ("broker outage", "producer restart", ...).
    recovering: str | None = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.started_at = self.beat_at = self.clock()

    def beat(self) -> None:
        self.beat_at = self.clock()

    def broker_down(self) -> bool:
        """Mark the broker unreachable; True the first time (for one log line)."""
        if self.broker_down_since is None:
            self.broker_down_since = self.clock()
            return True
        return False

    def broker_up(self) -> float | None:
        """Mark the broker reachable; how long it was down, if it was."""
        since, self.broker_down_since = self.broker_down_since, None
        return None if since is None else self.clock() - since

    def stalled_for(self) -> float:
        """Seconds since the engine loop last came round."""
        return self.clock() - self.beat_at

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Alive: the engine thread runs and its loop comes round (outages included)."""
        alive = self.engine_running and (self.thread is None or self.thread.is_alive())
        stalled = self.stalled_for()
        ok = alive and stalled < self.stall_timeout_s
        detail: dict[str, Any] = {
            "status": "ok" if ok else "failing",
            "engine_running": alive,
            "loop_seconds_ago": round(stalled, 3),
            "stall_timeout_s": self.stall_timeout_s,
        }
        if self.engine_error:
            detail["engine_error"] = self.engine_error
        return ok, detail

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: healthy, connected, and not in the middle of a recovery."""
        healthy, detail = self.health()
        down = self.broker_down_since
        ok = healthy and down is None and self.recovering is None
        detail["status"] = "ok" if ok else "not ready"
        detail["broker_connected"] = down is None
        if down is not None:
            detail["broker_down_seconds"] = round(self.clock() - down, 1)
        if self.recovering:
            detail["recovering"] = self.recovering
        if self.last_commit_wall is not None:
            detail["last_commit_seconds_ago"] = round(self.wall() - self.last_commit_wall, 3)
        return ok, detail
