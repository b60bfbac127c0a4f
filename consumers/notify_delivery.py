"""One alert event to every receiver, each retried on its own schedule until it answers 2xx
or the policy gives up on it. No Kafka here: waiting is a function the caller passes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from consumers.notify_payload import AlertEvent
from consumers.notify_retry import RetryPolicy
from consumers.notify_targets import Target

__all__ = ["Delivery", "Wait", "deliver"]

log = logging.getLogger(__name__)

Wait = Callable[[float], bool]
"""Waits up to the given seconds; False when the delivery must stop (nothing committed)."""


@dataclass
class Delivery:
    """What became of one event: receivers that took it, ones given up on (with why),
    and whether it was interrupted before every receiver was settled."""

    delivered: list[str] = field(default_factory=list)
    given_up: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    interrupted: bool = False

    @property
    def settled(self) -> bool:
        """Every receiver took it or was given up on: its offset may be committed."""
        return not self.interrupted


@dataclass
class _Pending:
    target: Target
    failures: int = 0
    due: float = 0.0


def deliver(
    event: AlertEvent,
    targets: Sequence[Target],
    policy: RetryPolicy,
    wait: Wait,
    clock: Callable[[], float] = time.monotonic,
) -> Delivery:
    """Send `event` to each target once it answers 2xx, retrying failures with `policy`'s
    backoff (per target: one that answered is never sent the event again)."""
    result = Delivery()
    started = clock()
    pending = [_Pending(target, due=started) for target in targets]
    while pending:
        now = clock()
        for item in [p for p in pending if p.due <= now]:
            result.attempts += 1
            failure = item.target.send(event)
            if failure is None:
                result.delivered.append(item.target.name)
                pending.remove(item)
                if item.failures:
                    log.info(
                        "%s took %s after %d failed attempts",
                        item.target.name, event.event_id, item.failures,
                    )  # fmt: skip
                continue
            item.failures += 1
            elapsed = clock() - started
            delay = policy.next_wait(item.failures, elapsed, failure.permanent)
            if delay is None:
                why = "at once" if failure.permanent else f"after {elapsed:.0f}s"
                reason = (
                    f"notify: {item.target.name} gave up {why} "
                    f"({item.failures} attempts): {failure.reason}"
                )
                log.error("%s for %s (%s)", reason, event.event_id, event.alert.alert_id)
                result.given_up[item.target.name] = reason
                pending.remove(item)
                continue
            log.warning(
                "%s failed %s (attempt %d): %s; retrying in %.1fs",
                item.target.name, event.event_id, item.failures, failure.reason, delay,
            )  # fmt: skip
            item.due = clock() + delay
        if pending:
            next_due = min(p.due for p in pending)
            if not wait(max(0.0, next_due - clock())):
                result.interrupted = True
                return result
    return result
