"""The promotion guard: a retrained model replaces the deployed one only if it does not raise
more false alarms on the latest normal readings, which neither model was trained on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Verdict", "decide", "false_alarm_rate"]


def false_alarm_rate(scores: npt.ArrayLike, threshold: float) -> float:
    """The share of readings scored over the threshold; the readings are known normal, so
    each of those is a false alarm. NaN scores (no verdict) are left out.

    >>> false_alarm_rate([0.1, 0.9, 0.2, 0.3], 0.5)
    0.25
    """
    array = np.asarray(scores, dtype=np.float64)
    array = array[~np.isnan(array)]
    if array.size == 0:
        raise ValueError("no scores to judge the false-alarm rate on")
    return float(np.mean(array > threshold))


@dataclass(frozen=True)
class Verdict:
    """Whether to deploy the new model, and why, in one line for the log."""

    promote: bool
    reason: str


def decide(new_rate: float, old_rate: float | None, margin: float) -> Verdict:
    """Promote unless the new model's false-alarm rate exceeds the deployed one's by more than
    `margin` (a share of readings: 0.01 = one percentage point). No deployed model to compare
    with (None): promote.

    >>> decide(0.02, 0.15, 0.01).promote, decide(0.05, 0.01, 0.01).promote
    (True, False)
    """
    if margin < 0:
        raise ValueError(f"margin must be at least 0, got {margin}")
    if old_rate is None:
        return Verdict(True, f"false alarms {new_rate:.2%}; nothing deployed to compare with")
    compared = f"false alarms {old_rate:.2%} -> {new_rate:.2%}"
    if new_rate > old_rate + margin:
        return Verdict(False, f"{compared}, worse by more than the margin {margin:.2%}")
    return Verdict(True, f"{compared} (margin {margin:.2%})")
