"""Sensor health: a channel that goes missing or flat is an anomaly, whatever the detector says.

Detectors judge values, and two of the commonest faults in plant telemetry leave the values
looking normal: a sensor that drops out (its readings are missing; the normaliser fills them
with the training mean, the most normal value there is) and a sensor stuck on one reading
(its noise stops; the value itself is in range). Both are told from the raw readings by the
rules operators' data-quality checks use, each armed only for the channels whose training
data says it can fire:

- **missing**: the channel was present in all but `MAX_TRAIN_RATE` of the training rows and
  is missing in the reading scored now;
- **flat**: the channel's last `flat_rows` readings are exactly equal, while its training
  data never held even half as long a run of one value (quantised or idle channels, which
  repeat values normally, are never armed; the margin keeps a channel that sat still now
  and then in training from alerting whenever it does so again).

A reading with a channel flagged scores at least `FLOOR_RATIO` times the threshold, and
the flagged channels lead its per-channel scores, so alerts name them. The rules read only
raw values the stream holds in its windows anyway, so stream and offline agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FLOOR_RATIO", "MAX_TRAIN_RATE", "SensorHealth"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# The missing rule is armed for a channel only if it would have fired on at most this share
# of the training rows: training data is taken for normal, so a rule that fires there is
# not a sign of a fault on that channel.
MAX_TRAIN_RATE = 0.001
# A flagged reading scores at least this many times the (positive) threshold: over it
# without reaching the alert tracker's far-spike ratio, so a lone flag opens no alert.
FLOOR_RATIO = 2.0


@dataclasses.dataclass(frozen=True)
class SensorHealth:
    """Which channels each rule watches; `flags` applies them to raw readings."""

    watch_missing: tuple[bool, ...]
    watch_flat: tuple[bool, ...]
    flat_rows: int = 10

    @classmethod
    def fit(cls, values: npt.ArrayLike, flat_rows: int = 10) -> SensorHealth:
        """Arm each rule for the channels on which it (almost) never fires in `values`."""
        raw = np.asarray(values, dtype=np.float64)
        if raw.ndim != 2 or len(raw) == 0 or flat_rows < 2:
            raise ValueError("need (rows, channels) training values and flat_rows >= 2")
        missing_rate = np.isnan(raw).mean(axis=0)
        half_runs = _flat(raw, max(flat_rows // 2, 2))
        # Too short to tell whether the channel ever sits still: the rule stays disarmed.
        sits_still = [
            bool(half_runs[:, c].any()) if len(half_runs) else True for c in range(raw.shape[1])
        ]
        return cls(
            watch_missing=tuple(bool(r <= MAX_TRAIN_RATE) for r in missing_rate),
            watch_flat=tuple(not still for still in sits_still),
            flat_rows=flat_rows,
        )

    @property
    def context(self) -> int:
        """Raw rows needed before the first row to be judged."""
        return self.flat_rows - 1

    def flags(self, raw: npt.ArrayLike, rows: int) -> BoolArray:
        """(rows, channels) flags of the last `rows` rows of `raw`, which holds up to
        `context` rows before them (fewer at a series' start: those rows cannot be flat)."""
        block = np.asarray(raw, dtype=np.float64)
        missing = np.isnan(block[len(block) - rows :]) & np.asarray(self.watch_missing)
        # One entry per run, ending at rows flat_rows - 1 .. len - 1 of the block.
        flat = _flat(block, self.flat_rows)
        if len(flat) < rows:  # the first rows of a series: no full run behind them yet
            flat = np.concatenate([np.zeros((rows - len(flat), block.shape[1]), bool), flat])
        out: BoolArray = missing | (flat[len(flat) - rows :] & np.asarray(self.watch_flat))
        return out

    def apply(
        self,
        scores: FloatArray,
        flags: BoolArray,
        threshold: float,
        channel_scores: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray | None]:
        """Scores with each flagged row raised to at least FLOOR_RATIO x the threshold, and
        per-channel scores (when given per channel) with its flagged channels on top."""
        hit = flags.any(axis=1)
        if not hit.any():
            return scores, channel_scores
        floor = FLOOR_RATIO * threshold if threshold > 0 else threshold + 1.0
        raised = scores.copy()
        raised[hit] = np.maximum(raised[hit], floor)
        if channel_scores is None or channel_scores.shape[1] != flags.shape[1]:
            return raised, channel_scores
        ranked = channel_scores.copy()
        rows = ranked[hit]
        lead = 2.0 * np.maximum(np.nanmax(np.where(np.isfinite(rows), rows, 0.0), axis=1), 1.0)
        ranked[hit] = np.where(flags[hit], lead[:, None], rows)
        return raised, ranked

    def to_dict(self) -> dict[str, Any]:
        return {
            "watch_missing": list(self.watch_missing),
            "watch_flat": list(self.watch_flat),
            "flat_rows": self.flat_rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SensorHealth:
        return cls(
            tuple(bool(v) for v in data["watch_missing"]),
            tuple(bool(v) for v in data["watch_flat"]),
            int(data["flat_rows"]),
        )


def _flat(raw: FloatArray, rows: int) -> BoolArray:
    """(len - rows + 1, channels): whether each run of `rows` readings is one exact value."""
    if len(raw) < rows:
        return np.zeros((0, raw.shape[1]), dtype=bool)
    # breaks[t]: how many times a value differed from the one before it, up to row t. A run
    # ending at t is flat when no break falls inside it: O(rows x channels), not x run length.
    # A missing reading breaks a run (NaN compares unequal), so a dropout is never "flat".
    breaks = np.zeros(raw.shape, dtype=np.int64)
    np.cumsum(raw[1:] != raw[:-1], axis=0, out=breaks[1:])
    out: BoolArray = breaks[rows - 1 :] == breaks[: len(raw) - rows + 1]
    return out
