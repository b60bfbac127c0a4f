"""PCA baseline: reconstruction error of the latest readings from the main components."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import Arrays, Detector, DetectorError, Windows

__all__ = ["PcaDetector"]


class PcaDetector(Detector):
    """PCA over channels, fitted on the readings (rows) of the training windows.

    Each reading is a C-vector; the detector keeps the leading principal components of
    those vectors and scores a window by the squared reconstruction error of its last
    `tail` readings (the Q statistic / SPE). Fitting on C-vectors instead of flattened
    windows keeps the eigenproblem at C x C (38 x 38 for SMD, not 3800 x 3800) and the
    scoring at one small matmul per reading; it catches broken correlations between
    channels, not unusual shapes in time (the deep detectors cover those).

    Contributions are the per-channel squared residuals averaged over the tail; the score
    is their mean over channels. State is numpy only: mean, components, explained variance.

    Hyperparameters:
        components: number of components to keep; None picks the fewest that explain
            `variance` of the training variance. Always capped at C - 1 so a residual exists.
        variance: cumulative explained-variance fraction used when `components` is None.
        tail: how many of the window's last readings to score (1 = the newest only).
        max_rows: training readings used for the covariance, sampled with `seed` above it.
        seed: seeds that sampling.
    """

    name = "pca"

    def __init__(
        self,
        *,
        components: int | None = None,
        variance: float = 0.9,
        tail: int = 1,
        max_rows: int = 200_000,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        if components is not None and components < 1:
            raise DetectorError(f"components must be at least 1, got {components}")
        if not 0.0 < variance <= 1.0:
            raise DetectorError(f"variance must be in (0, 1], got {variance}")
        if tail < 1 or max_rows < 2:
            raise DetectorError("tail must be at least 1 and max_rows at least 2")
        self.components = components
        self.variance = variance
        self.tail = tail
        self.max_rows = max_rows
        self._mean = np.zeros(0, dtype=np.float32)
        self._components = np.zeros((0, 0), dtype=np.float32)
        self._explained = np.zeros(0, dtype=np.float64)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "components": self.components,
            "variance": self.variance,
            "tail": self.tail,
            "max_rows": self.max_rows,
        }

    def _fit(self, windows: Windows) -> None:
        rows = windows.reshape(-1, windows.shape[2])
        if len(rows) > self.max_rows:
            rng = np.random.default_rng(self.seed)
            rows = rows[np.sort(rng.choice(len(rows), size=self.max_rows, replace=False))]
        mean = rows.mean(axis=0, dtype=np.float64)
        centred = rows.astype(np.float64) - mean
        cov = centred.T @ centred / max(len(rows) - 1, 1)
        eigval, eigvec = np.linalg.eigh(cov)  # ascending; flip to largest first
        eigval, eigvec = np.clip(eigval[::-1], 0.0, None), eigvec[:, ::-1]
        k = self._n_components(eigval)
        # eigh's eigenvector signs are arbitrary; fixing them makes the state reproducible.
        signs = np.where(eigvec[np.abs(eigvec).argmax(axis=0), np.arange(len(eigval))] < 0, -1, 1)
        eigvec = eigvec * signs
        self._mean = mean.astype(np.float32)
        self._components = np.ascontiguousarray(eigvec[:, :k].T, dtype=np.float32)
        self._explained = eigval[:k]

    def _n_components(self, eigval: npt.NDArray[np.float64]) -> int:
        channels = len(eigval)
        if self.components is not None:
            k = self.components
        else:
            total = eigval.sum()
            ratio = np.cumsum(eigval) / total if total > 0 else np.ones(channels)
            k = int(np.searchsorted(ratio, self.variance - 1e-12) + 1)
        return max(1, min(k, channels - 1)) if channels > 1 else 0

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        tail = min(self.tail, windows.shape[1])
        centred = windows[:, -tail:, :] - self._mean  # (n, tail, C) float32
        residual = centred - (centred @ self._components.T) @ self._components
        out: npt.NDArray[np.float64] = np.square(residual).mean(axis=1, dtype=np.float64)
        return out

    def _score(self, windows: Windows) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self._contributions(windows).mean(axis=1)
        return out

    def _state(self) -> Arrays:
        return {
            "mean": self._mean,
            "components": self._components,
            "explained_variance": self._explained,
        }

    def _load_state(self, arrays: Arrays) -> None:
        self._mean = np.asarray(arrays["mean"], dtype=np.float32)
        self._components = np.asarray(arrays["components"], dtype=np.float32)
        self._explained = np.asarray(arrays["explained_variance"], dtype=np.float64)
