"""When to try a notification again, and when to give up: pure rules, no clock, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Failure", "RetryPolicy", "retryable_status"]

_RETRYABLE_4XX = frozenset({408, 425, 429})


def retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth another try: a timeout, too many requests, or any
    5xx. Any other non-2xx (a bad request, a wrong URL or token) answers the same again."""
    return status in _RETRYABLE_4XX or 500 <= status <= 599


@dataclass(frozen=True)
class Failure:
    """Why one attempt failed; `permanent` when trying again cannot help."""

    reason: str
    permanent: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: waits of initial_s, initial_s * multiplier, ..., at most max_s.

    With neither `max_attempts` nor `deadline_s` it never gives up (blocks); with either,
    it gives up at whichever comes first, and at once on a permanent failure.

    >>> policy = RetryPolicy(initial_s=1, max_s=5)
    >>> [policy.delay(n) for n in range(1, 6)]
    [1.0, 2.0, 4.0, 5.0, 5.0]
    >>> RetryPolicy(max_attempts=3).next_wait(failures=3, elapsed_s=0.0) is None
    True
    """

    initial_s: float = 1.0
    max_s: float = 60.0
    multiplier: float = 2.0
    max_attempts: int | None = None
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {self.initial_s}, {self.max_s}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")

    @property
    def blocks(self) -> bool:
        """True when it retries forever."""
        return self.max_attempts is None and self.deadline_s is None

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failed attempt in a row (1 for the first)."""
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        # The exponent is capped so that a receiver down for days cannot overflow a float.
        return float(min(self.max_s, self.initial_s * self.multiplier ** min(failures - 1, 64)))

    def next_wait(self, failures: int, elapsed_s: float, permanent: bool = False) -> float | None:
        """Seconds to wait before the next attempt, after `failures` failures in a row
        `elapsed_s` after the first attempt; None to give up."""
        if self.blocks:
            return self.delay(failures)
        if permanent:
            return None
        if self.max_attempts is not None and failures >= self.max_attempts:
            return None
        wait = self.delay(failures)
        if self.deadline_s is not None:
            if elapsed_s >= self.deadline_s:
                return None
            # The last attempt is made at the deadline rather than skipped.
            wait = min(wait, self.deadline_s - elapsed_s)
        return wait
