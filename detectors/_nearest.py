"""Shared by the distance detectors: the nearest reference of each window's tail, in blocks."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from detectors.base import Arrays, Detector, Windows

__all__ = ["NearestReferenceDetector", "flat_tail", "half_norms", "nearest"]

Float32 = npt.NDArray[np.float32]
Float64 = npt.NDArray[np.float64]

# Windows per block: their tails and differences stay near cache (512 x 40 rows x 38 channels
# is 3 MB); whole batches of 4096 ran 2.4x slower per window. The (block x references)
# similarity matrix is capped at 2**23 floats (32 MB) whatever the number of references.
_BLOCK_WINDOWS = 512
_BLOCK_ELEMENTS = 2**23


def flat_tail(windows: npt.NDArray[np.float32], length: int) -> Float32:
    """(n, window, C) -> (n, length*C): each window's last `length` rows, flattened."""
    length = min(length, windows.shape[1])
    out: Float32 = np.ascontiguousarray(windows[:, -length:, :]).reshape(len(windows), -1)
    return out


def half_norms(references: Float32) -> Float32:
    """|r|^2 / 2 of each reference row, which `nearest` needs; computed once per fit."""
    out: Float32 = 0.5 * np.einsum("ij,ij->i", references, references)
    return out


def nearest(
    windows: npt.NDArray[np.float32], length: int, references: Float32, norms: Float32
) -> tuple[npt.NDArray[np.intp], Float64]:
    """For each window's last `length` rows (flattened), the index of the nearest reference
    row (Euclidean) and the squared difference to it summed per channel: (n,), (n, C).

    The search ranks by q.r - |r|^2 / 2 (the distance's order, one matmul per block); the
    differences are then taken directly, so a distance is exact even where that expansion
    would lose digits to cancellation. `norms` is `half_norms(references)`.
    """
    n, channels = len(windows), windows.shape[2]
    step = max(1, min(_BLOCK_WINDOWS, _BLOCK_ELEMENTS // max(len(references), 1)))
    index = np.empty(n, dtype=np.intp)
    per_channel = np.empty((n, channels), dtype=np.float64)
    for start in range(0, n, step):
        queries = flat_tail(windows[start : start + step], length)
        similarity = queries @ references.T
        np.subtract(similarity, norms, out=similarity)
        best = similarity.argmax(axis=1)
        # A new array: `queries` may be a view of the caller's windows (a one-window block).
        diff = queries - references[best]
        squared = np.square(diff, out=diff).reshape(len(diff), -1, channels)
        index[start : start + step] = best
        per_channel[start : start + step] = squared.sum(axis=1, dtype=np.float64)
    return index, per_channel


class NearestReferenceDetector(Detector):
    """A window scores its distance to the nearest reference (training windows, centroids):
    the square root of the per-channel squared differences summed, which are its
    contributions. Subclasses fit the references and name them in the state."""

    state_key: ClassVar[str]

    def __init__(self, *, length: int, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.length = length
        self._set_references(np.zeros((0, 0), dtype=np.float32))

    def _set_references(self, references: Float32) -> None:
        self._references = references
        self._norms = half_norms(references)

    def _per_channel(self, windows: Windows) -> Float64:
        _, per_channel = nearest(windows, self.length, self._references, self._norms)
        return per_channel

    def _score(self, windows: Windows) -> Float64:
        out: Float64 = np.sqrt(self._per_channel(windows).sum(axis=1))
        return out

    def _contributions(self, windows: Windows) -> Float64:
        return self._per_channel(windows)

    def _state(self) -> Arrays:
        return {self.state_key: self._references}

    def _load_state(self, arrays: Arrays) -> None:
        self._set_references(np.asarray(arrays[self.state_key], dtype=np.float32))
