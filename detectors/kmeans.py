"""k-means on standardised window features; score = distance to the nearest centroid."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans

from detectors._sklearn_state import GROUPS, FeatureScaler, subsample, window_features
from detectors.base import Arrays, Detector, DetectorError, Windows

__all__ = ["KMeansDetector"]


class KMeansDetector(Detector):
    """Clusters training windows' features; a window far from every centroid is anomalous.

    Features: each channel's last reading, window mean and window std, standardised with
    the training mean/std. The score is the Euclidean distance to the nearest centroid.
    Contributions split that squared distance exactly by channel (the squared differences
    of a channel's three features to the nearest centroid), so they sum to score**2.
    State is numpy only: centroids and the feature mean/std.

    Hyperparameters:
        n_clusters: number of centroids (capped at the number of training windows).
        n_init: k-means++ restarts; the best inertia wins.
        max_train: training windows used at most, sampled with `seed` above it.
        seed: seeds that sampling and k-means++.
    """

    name = "kmeans"

    def __init__(
        self, *, n_clusters: int = 8, n_init: int = 3, max_train: int = 20_000, seed: int = 0
    ) -> None:
        super().__init__(seed=seed)
        if n_clusters < 1 or n_init < 1:
            raise DetectorError("n_clusters and n_init must be at least 1")
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_train = max_train
        self._scaler = FeatureScaler(np.zeros(0), np.ones(0))
        self._centroids = np.zeros((0, 0), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "n_clusters": self.n_clusters,
            "n_init": self.n_init,
            "max_train": self.max_train,
        }

    def _fit(self, windows: Windows) -> None:
        features = window_features(subsample(windows, self.max_train, self.seed))
        self._scaler = FeatureScaler.fit(features)
        z = self._scaler.transform(features)
        model = KMeans(
            n_clusters=min(self.n_clusters, len(z)), n_init=self.n_init, random_state=self.seed
        ).fit(z)
        self._centroids = model.cluster_centers_.astype(np.float32)

    def _nearest(self, z: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.intp], Any]:
        """Index of each row's nearest centroid and the squared distance to it."""
        c = self._centroids
        dist = np.square(z).sum(axis=1)[:, None] + np.square(c).sum(axis=1)[None, :]
        dist -= 2.0 * (z @ c.T)
        index = dist.argmin(axis=1)
        return index, np.maximum(dist[np.arange(len(z)), index], 0.0)

    def _score(self, windows: Windows) -> npt.NDArray[np.float64]:
        _, sq = self._nearest(self._scaler.transform(window_features(windows)))
        out: npt.NDArray[np.float64] = np.sqrt(sq, dtype=np.float64)
        return out

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        z = self._scaler.transform(window_features(windows))
        index, _ = self._nearest(z)
        diff = (z - self._centroids[index]).astype(np.float64)
        out: npt.NDArray[np.float64] = (
            np.square(diff).reshape(len(z), len(GROUPS), windows.shape[2]).sum(axis=1)
        )
        return out

    def _state(self) -> Arrays:
        return {
            "centroids": self._centroids,
            "feature_mean": self._scaler.mean,
            "feature_scale": self._scaler.scale,
        }

    def _load_state(self, arrays: Arrays) -> None:
        self._centroids = np.asarray(arrays["centroids"], dtype=np.float32)
        self._scaler = FeatureScaler(
            np.asarray(arrays["feature_mean"], dtype=np.float64),
            np.asarray(arrays["feature_scale"], dtype=np.float64),
        )
