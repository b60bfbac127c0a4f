"""What the worker makes of a detector call: scores in chunks, which row each score is
for, and the channels named as likely root causes of the anomalous ones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

from detectors.base import Detector, DetectorError
from stream_app.entity_state import EntityState, PendingRows
from stream_app.model_store import ActiveModel
from stream_app.outputs import Picked

__all__ = [
    "PendingArrays",
    "Picked",
    "Span",
    "new_windows",
    "normalised_group",
    "picked_rows",
    "score_in_chunks",
    "top_channels",
]

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# An entity's pending rows: raw values, normalised values, offsets.
PendingArrays = tuple[Float64Array, Float32Array, npt.NDArray[np.int64]]


class Span(Sequence[tuple[int, int]]):
    """Consecutive rows of one message scored by consecutive scores, as (row, index) pairs
    made only when asked for: with every row scored, a cycle's picks cost no tuple a row."""

    __slots__ = ("first_row", "first_score", "size")

    def __init__(self, first_row: int, first_score: int, size: int) -> None:
        self.first_row, self.first_score, self.size = first_row, first_score, size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(
            range(self.first_row, self.first_row + self.size),
            range(self.first_score, self.first_score + self.size),
            strict=True,
        )

    @overload
    def __getitem__(self, at: int) -> tuple[int, int]: ...

    @overload
    def __getitem__(self, at: slice) -> list[tuple[int, int]]: ...

    def __getitem__(self, at: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(at, slice):
            return list(self)[at]
        i = at + self.size if at < 0 else at
        if not 0 <= i < self.size:
            raise IndexError(at)
        return self.first_row + i, self.first_score + i


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
        picked: Sequence[tuple[int, int]]
        if contiguous:  # every row from the first ready one on is scored, in order
            start = max(row, first_ready)
            picked = Span(start - row, start - first_ready, max(row + n - start, 0))
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


def normalised_group(model: ActiveModel, states: list[EntityState]) -> list[PendingArrays | None]:
    """Each entity's pending rows (raw, normalised, offsets), normalised in one call for
    the group: with thousands of entities of a few rows each, a call per entity would
    cost more than the arithmetic. None where an entity's rows do not stack (its
    `new_windows` then fails alone)."""
    raw: list[tuple[Float64Array, npt.NDArray[np.int64]] | None] = []
    for state in states:
        try:
            raw.append(state.pending_values())
        except Exception:  # noqa: BLE001 - new_windows raises it again
            raw.append(None)
    good = [r for r in raw if r is not None]
    if not good:
        return [None] * len(states)
    try:
        stacked = model.model.normalizer.transform(np.concatenate([v for v, _ in good]))
    except Exception:  # noqa: BLE001 - per entity, so that one bad entity fails alone
        return [None] * len(states)
    bounds = np.cumsum([0] + [len(v) for v, _ in good])
    parts = iter(stacked[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    return [None if r is None else (r[0], next(parts), r[1]) for r in raw]


def new_windows(
    state: EntityState, rows: PendingArrays | None, stride: int
) -> tuple[list[int], Float32Array, BoolArray | None]:
    """Put the pending rows (normalised already, or here) into the window; (scored row
    positions, their windows, the sensor-health flags of their readings when the model
    has the rules)."""
    if rows is None:
        values, offsets = state.pending_values()
        normalised = state.model.model.normalizer.transform(values)
    else:
        values, normalised, offsets = rows
    count_before = state.buffer.count
    first_ready, windows = state.buffer.append(values, normalised, offsets)
    positions = list(range(first_ready, len(values)))
    health = state.model.model.health
    flags = None
    if health is not None and positions:
        ready = len(positions)
        flags = health.flags(state.buffer.newest_raw(ready + health.context), ready)
    if stride > 1 and positions:
        keep = state.model.window - 1
        selected = [i for i in positions if (count_before + i - keep) % stride == 0]
        windows = windows[[i - first_ready for i in selected]]
        if flags is not None:
            flags = flags[[i - first_ready for i in selected]]
        positions = selected
    return positions, windows, flags
