"""Dead letters in the log: the first of each reason at once, then a summary per interval.

Dead-lettering is how the worker survives bad input, so it must not be silent: an operator
reading the log learns which reason, which entities and how many, without a line per message.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from stream_app.processor import CycleResult

__all__ = ["DeadLetterLog"]

log = logging.getLogger(__name__)

_ENTITIES_SHOWN = 5


class DeadLetterLog:
    """Collects dead letters per (reason, entity) and logs them at most every interval."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last = clock()
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._examples: dict[str, str] = {}
        self._seen: set[str] = set()

    def add(self, result: CycleResult) -> None:
        for (reason, entity), count in result.dead_letter_entities.items():
            self._counts[reason][entity] += count
        for reason, example in result.dead_letter_examples.items():
            self._examples.setdefault(reason, example)
            if reason not in self._seen:
                self._seen.add(reason)
                log.warning(
                    "dead letter (%s): %s; further ones are summarised every %.0fs",
                    reason, example, self._interval_s,
                )  # fmt: skip

    def flush(self, force: bool = False) -> list[str]:
        """Log (and return) the summary lines if the interval is over; then start afresh."""
        now = self._clock()
        if not self._counts or (not force and now - self._last < self._interval_s):
            return []
        seconds, self._last = now - self._last, now
        lines = []
        for reason, entities in sorted(self._counts.items()):
            shown = ", ".join(f"{e} {n}" for e, n in entities.most_common(_ENTITIES_SHOWN))
            more = len(entities) - _ENTITIES_SHOWN
            if more > 0:
                shown += f", {more} more entities"
            line = (
                f"{sum(entities.values())} dead letters ({reason}) in the last {seconds:.0f}s: "
                f"{shown}; e.g. {self._examples.get(reason, '?')}"
            )
            log.warning("%s", line)
            lines.append(line)
        self._counts.clear()
        self._examples.clear()
        return lines
