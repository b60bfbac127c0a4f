"""Shared by the feature-based detectors: compact window features and skops-saved estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import skops.io as sio

from detectors.base import DetectorError, Windows

__all__ = [
    "GROUPS",
    "FeatureScaler",
    "channel_scores",
    "dump_estimator",
    "load_estimator",
    "subsample",
    "window_features",
]

Float32 = npt.NDArray[np.float32]
Float64 = npt.NDArray[np.float64]

# Feature groups per channel, in the order `window_features` stacks them.
GROUPS = ("last", "mean", "std")
# Windows per pass in `window_features`: 128 x 100 x 38 float32 is 1.9 MB, cache-sized.
_CHUNK = 128


def window_features(windows: Windows) -> Float32:
    """(n, window, C) -> (n, 3C): last reading, window mean and window std of each channel.

    Sums over time go through matmuls on chunks of `_CHUNK` windows, so each chunk is read
    from memory once and squared while it is still in cache; `np.std` on the whole batch
    would allocate two (n, window, C) temporaries and run about 4x slower.
    """
    n, window, channels = windows.shape
    weights = np.full(window, 1.0 / window, dtype=np.float32)
    mean = np.empty((n, channels), dtype=np.float32)
    mean_sq = np.empty((n, channels), dtype=np.float32)
    buffer = np.empty((min(_CHUNK, n), window, channels), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        part = windows[start : start + _CHUNK]
        squares = np.multiply(part, part, out=buffer[: len(part)])
        mean[start : start + _CHUNK] = weights @ part
        mean_sq[start : start + _CHUNK] = weights @ squares
    # E[x^2] - E[x]^2 loses a little precision in float32; the data are standardised, so
    # values are O(1) and the error stays far below any deviation worth flagging.
    std = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0, dtype=np.float32))
    return np.concatenate([windows[:, -1, :], mean, std], axis=1)


class FeatureScaler:
    """Standardises features with training mean/std; constant features are scaled by 1."""

    def __init__(self, mean: Float64, scale: Float64) -> None:
        self.mean = mean
        self.scale = scale

    @classmethod
    def fit(cls, features: npt.NDArray[Any]) -> FeatureScaler:
        mean = features.mean(axis=0, dtype=np.float64)
        scale = features.std(axis=0, dtype=np.float64)
        scale[scale < 1e-8] = 1.0
        return cls(mean, scale)

    def transform(self, features: npt.NDArray[Any]) -> Float32:
        mean, scale = self.mean.astype(np.float32), self.scale.astype(np.float32)
        out: Float32 = ((features - mean) / scale).astype(np.float32, copy=False)
        return out


def channel_scores(z: npt.NDArray[Any], channels: int) -> Float64:
    """(n, 3C) standardised features -> (n, C): sum of squared z over each channel's groups.

    A cheap, model-free proxy for channel attribution: it says which channel's features sit
    furthest from their training distribution, not what the model itself weighted.
    """
    z64 = np.asarray(z, dtype=np.float64).reshape(len(z), len(GROUPS), channels)
    out: Float64 = np.square(z64).sum(axis=1)
    return out


def subsample(windows: Windows, limit: int, seed: int) -> Windows:
    """At most `limit` windows, drawn without replacement with a seeded generator."""
    if limit < 1:
        raise DetectorError(f"max_train must be at least 1, got {limit}")
    if len(windows) <= limit:
        return windows
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(windows), size=limit, replace=False))
    return windows[index]


def dump_estimator(estimator: object) -> npt.NDArray[np.uint8]:
    """A fitted scikit-learn estimator as skops bytes in a uint8 array (npz-safe)."""
    return np.frombuffer(sio.dumps(estimator), dtype=np.uint8).copy()


def load_estimator(data: npt.NDArray[Any], trusted: list[str]) -> Any:
    """Rebuild an estimator from `dump_estimator` bytes, trusting only the listed types.

    skops refuses any type outside its safe defaults and `trusted`, so a tampered artifact
    raises instead of running code.
    """
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    try:
        return sio.loads(raw, trusted=trusted)
    except Exception as exc:  # skops raises UntrustedTypesFoundException and friends
        raise DetectorError(f"cannot load saved estimator: {exc}") from exc
