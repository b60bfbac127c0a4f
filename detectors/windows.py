"""Sliding windows over a series, per-channel normalisation, and window scores back to points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Normalizer", "point_scores", "sliding_windows"]

FloatArray = npt.NDArray[np.float64]


def sliding_windows(values: npt.ArrayLike, window: int, stride: int = 1) -> npt.NDArray[np.float32]:
    """(T, C) -> (n, window, C) float32, the windows ending at rows window-1, +stride, ..."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, channels), got shape {array.shape}")
    if window < 1 or stride < 1:
        raise ValueError("window and stride must be at least 1")
    if len(array) < window:
        return np.empty((0, window, array.shape[1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(array, window, axis=0)[::stride]
    # sliding_window_view puts the window axis last: (n, C, window) -> (n, window, C).
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def point_scores(
    window_scores: npt.ArrayLike, rows: int, window: int, stride: int = 1
) -> FloatArray:
    """Score of each row: that of the latest window ending at or before it.

    Rows before the first full window take the first window's score, so every row is scored
    and no future data is used for any row at or after window-1.
    """
    scores = np.asarray(window_scores, dtype=np.float64)
    out = np.empty(rows, dtype=np.float64)
    if len(scores) == 0:
        out.fill(np.nan)
        return out
    ends = window - 1 + np.arange(len(scores)) * stride
    index = np.searchsorted(ends, np.arange(rows), side="right") - 1
    out[:] = scores[np.clip(index, 0, len(scores) - 1)]
    return out


@dataclass
class Normalizer:
    """Per-channel standardisation fitted on training data; missing values become the mean."""

    mean: FloatArray
    std: FloatArray

    @classmethod
    def fit(cls, values: npt.ArrayLike) -> Normalizer:
        array = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            mean = np.nan_to_num(np.nanmean(array, axis=0)) if len(array) else np.zeros(0)
            std = np.nan_to_num(np.nanstd(array, axis=0)) if len(array) else np.zeros(0)
        # A constant channel would divide by zero; scaling it by 1 keeps deviations visible.
        std[std < 1e-8] = 1.0
        return cls(mean, std)

    def transform(self, values: npt.ArrayLike) -> npt.NDArray[np.float32]:
        array = (np.asarray(values, dtype=np.float64) - self.mean) / self.std
        np.nan_to_num(array, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return array.astype(np.float32)
