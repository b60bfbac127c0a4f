"""The alert lifecycle of one entity: opened, updated while it lasts, resolved when quiet.

Pure state machine over scored readings; its state is a small dict so that it can be
saved with the worker's offsets and restored after a restart or a rebalance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from stream_app.settings import AlertPolicy

__all__ = ["AlertStep", "AlertTracker"]


# Why an alert resolved: enough normal scores, or its entity went silent.
Resolution = Literal["quiet", "stale"]


@dataclass(frozen=True)
class AlertStep:
    """One lifecycle event to publish: state and the incident as it stands."""

    state: str  # opened, updated or resolved
    alert_id: str
    start_seq: int
    start_time: str
    end_seq: int | None
    end_time: str | None
    peak_score: float
    top_channels: list[tuple[str, float]]
    resolved_by: Resolution | None = None


@dataclass
class _State:
    above_run: int = 0
    below_run: int = 0
    # The run of anomalous points that may open an alert: where it started. The peak is
    # that run's until the alert opens, then the incident's.
    run_start_seq: int = -1
    run_start_time: str = ""
    open: bool = False
    start_seq: int = -1
    start_time: str = ""
    last_anomaly_seq: int = -1
    last_anomaly_time: str = ""
    peak_score: float = 0.0
    peak_channels: list[tuple[str, float]] = field(default_factory=list)
    since_update: int = 0


class AlertTracker:
    """Feeds on (seq, time, score, verdict, top channels) and yields lifecycle events.

    An alert opens after `consecutive` anomalous scores in a row, starting at the first of
    them; while open it is re-published every `update_every` scores with its peak; it
    resolves after `quiet` normal scores in a row, ending at the last anomalous one.
    Alert ids are `<dataset>/<entity>/<start seq>`, so reprocessing gives the same ids.

    Readings are ordered by seq, not by event time: a reading whose clock went backwards is
    scored like any other, and an incident's end time is held at or after its start time
    (otherwise the alert could not be written).
    """

    def __init__(self, prefix: str, policy: AlertPolicy, state: dict[str, Any] | None = None):
        self._prefix = prefix
        self._policy = policy
        self._s = _State(**state) if state else _State()
        if state:
            self._s.peak_channels = [(str(c), float(v)) for c, v in self._s.peak_channels]

    @property
    def is_open(self) -> bool:
        return self._s.open

    def state(self) -> dict[str, Any]:
        """JSON-able state; `AlertTracker(prefix, policy, state)` continues from it."""
        # A shallow copy of the fields (every one but the channels is a number or a string):
        # `asdict` deep-copies, and a snapshot of every touched entity is taken each cycle.
        out = dict(vars(self._s))
        out["peak_channels"] = [list(pair) for pair in self._s.peak_channels]
        return out

    def skip_normal(self, count: int) -> None:
        """`count` normal scores while no alert is open: what `step` would do, at once."""
        if self._s.open:
            raise ValueError("skip_normal is only for entities without an open alert")
        self._s.above_run = 0
        self._s.below_run += count

    def step(
        self,
        seq: int,
        time: str,
        score: float,
        anomalous: bool,
        top_channels: list[tuple[str, float]],
        far: bool = False,
    ) -> AlertStep | None:
        """Advance by one score; `far` (an anomalous score far over the threshold) opens
        an alert without waiting for `consecutive` scores."""
        s, policy = self._s, self._policy
        if anomalous:
            if s.above_run == 0 and not s.open:
                s.run_start_seq, s.run_start_time = seq, time
                s.peak_score, s.peak_channels = score, top_channels
            s.above_run += 1
            s.below_run = 0
            start_time = s.start_time if s.open else s.run_start_time
            s.last_anomaly_seq, s.last_anomaly_time = seq, _not_before(time, start_time)
            if score > s.peak_score:
                s.peak_score, s.peak_channels = score, top_channels
            if not s.open and (s.above_run >= policy.consecutive or far):
                return self._open()
        else:
            s.above_run = 0
            s.below_run += 1
            if s.open and s.below_run >= policy.quiet:
                return self._resolve("quiet")
        if s.open:
            s.since_update += 1
            if s.since_update >= policy.update_every:
                s.since_update = 0
                return self._event("updated")
        return None

    def resolve_stale(self) -> AlertStep | None:
        """Resolve an open alert whose entity went silent; None when none is open."""
        if not self._s.open:
            return None
        return self._resolve("stale")

    def _open(self) -> AlertStep:
        s = self._s
        s.open, s.since_update = True, 0
        s.start_seq, s.start_time = s.run_start_seq, s.run_start_time
        return self._event("opened")

    def _resolve(self, by: Resolution) -> AlertStep:
        event = self._event("resolved", by)
        self._s = _State(below_run=self._s.below_run)
        return event

    def _event(self, state: str, resolved_by: Resolution | None = None) -> AlertStep:
        s = self._s
        resolved = state == "resolved"
        return AlertStep(
            state=state,
            alert_id=f"{self._prefix}/{s.start_seq}",
            start_seq=s.start_seq,
            start_time=s.start_time,
            end_seq=s.last_anomaly_seq if resolved else None,
            end_time=s.last_anomaly_time if resolved else None,
            peak_score=s.peak_score,
            top_channels=list(s.peak_channels),
            resolved_by=resolved_by,
        )


def _not_before(time: str, start: str) -> str:
    """`time`, or `start` when the clock went back before it (RFC 3339 strings, UTC)."""
    if time == start or not start:
        return time
    # UTC strings of one length (the same fraction digits) sort as their times do.
    if len(time) == len(start):
        return start if time < start else time
    return start if datetime.fromisoformat(time) < datetime.fromisoformat(start) else time
