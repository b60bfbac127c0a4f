"""When to send the next message: event-time speed, a fixed rate, or as fast as possible."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["Pacer"]

# Sleeping for less than this costs more than it keeps; being this far behind is fine.
_MIN_SLEEP_S = 0.002


@dataclass
class Pacer:
    """Blocks until a message is due.

    `speed` replays event time scaled (2.0 = twice as fast as recorded), `rate` sends a fixed
    number of readings per second, and neither means as fast as the broker takes it.
    """

    speed: float | None = None
    rate: float | None = None
    _wall_start: float | None = field(default=None, init=False)
    _event_start_ns: int = field(default=0, init=False)
    _sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.speed is not None and self.rate is not None:
            raise ValueError("choose one of speed and rate")
        if (self.speed is not None and self.speed <= 0) or (
            self.rate is not None and self.rate <= 0
        ):
            raise ValueError("speed and rate must be positive")

    def wait(self, event_time_ns: int, readings: int, stop: threading.Event | None = None) -> None:
        """Block until a message of `readings` readings, first at `event_time_ns`, is due,
        or until `stop` is set."""
        now = time.perf_counter()
        if self._wall_start is None:
            self._wall_start, self._event_start_ns = now, event_time_ns
        if self.speed is not None:
            due = self._wall_start + (event_time_ns - self._event_start_ns) / 1e9 / self.speed
        elif self.rate is not None:
            due = self._wall_start + self._sent / self.rate
        else:
            due = now
        self._sent += readings
        if due - now > _MIN_SLEEP_S:
            if stop is not None:
                stop.wait(due - now)
            else:
                time.sleep(due - now)
