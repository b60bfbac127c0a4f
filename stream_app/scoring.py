"""What the worker makes of a detector call: scores in chunks, which row each score is
for, and the channels named as likely root causes of the anomalous ones."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.base import Detector, DetectorError
from stream_app.entity_state import PendingRows
from stream_app.model_store import ActiveModel

__all__ = ["Picked", "picked_rows", "score_in_chunks", "top_channels"]

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# Scores of one entity in one cycle: (pending message, [(row in message, score index)]).
Picked = list[tuple[PendingRows, list[tuple[int, int]]]]

# Scoring in chunks keeps memory flat when a backlog makes one call hold many windows.
_SCORE_CHUNK = 8192


def score_in_chunks(detector: Detector, windows: Float32Array) -> Float64Array:
    if len(windows) <= _SCORE_CHUNK:
        return detector.score(windows)
    return np.concatenate(
        [
            detector.score(windows[i : i + _SCORE_CHUNK])
            for i in range(0, len(windows), _SCORE_CHUNK)
        ]
    )


def picked_rows(pending: list[PendingRows], positions: list[int], stride: int) -> Picked:
    """The scored rows of each pending message: (row in message, index in scores)."""
    out: Picked = []
    contiguous = stride == 1
    first_ready = positions[0]
    by_position = {} if contiguous else dict(zip(positions, range(len(positions)), strict=True))
    row = 0
    for message in pending:
        n = message.count
        if contiguous:  # every row from the first ready one on is scored, in order
            start = max(row, first_ready)
            picked = [(p - row, p - first_ready) for p in range(start, row + n)]
        else:
            picked = [(p - row, by_position[p]) for p in range(row, row + n) if p in by_position]
        row += n
        if picked:
            out.append((message, picked))
    return out


def top_channels(
    model: ActiveModel,
    windows: Float32Array,
    verdicts: BoolArray,
    k: int,
    channel_scores: Float64Array | None = None,
    flags: BoolArray | None = None,
) -> dict[int, list[tuple[str, float]]]:
    """The `k` top channels of the anomalous windows only: attribution costs a detector
    call, except for an adaptive model, whose per-channel scores are at hand (sensor-health
    flags already lead them); a plain model's flagged channels are put first here."""
    if k == 0 or not verdicts.any():
        return {}
    anomalous = np.flatnonzero(verdicts)
    if channel_scores is not None:
        if channel_scores.shape[1] != len(model.channels):
            return {}  # a detector that cannot attribute: one column of scores
        contributions = channel_scores[anomalous]
    else:
        try:
            contributions = model.model.detector.contributions(
                np.ascontiguousarray(windows[anomalous])
            )
        except DetectorError:
            return {}
        health = model.model.health
        if flags is not None and health is not None:
            _, ranked = health.apply(
                np.zeros(len(anomalous)), flags[anomalous], model.threshold, contributions
            )
            contributions = ranked if ranked is not None else contributions
    names = model.channels
    out = {}
    for index, row in zip(anomalous.tolist(), contributions, strict=True):
        order = np.argsort(-row)[:k]
        out[index] = [(names[i], float(row[i])) for i in order if np.isfinite(row[i])]
    return out
