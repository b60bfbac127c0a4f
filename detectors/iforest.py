"""Isolation forest on compact window features (last reading, mean and std per channel)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest

from detectors._sklearn_state import (
    FeatureScaler,
    channel_scores,
    dump_estimator,
    load_estimator,
    subsample,
    window_features,
)
from detectors.base import Arrays, Detector, DetectorError, Windows

__all__ = ["IsolationForestDetector"]

# Types skops may rebuild beyond its safe defaults, pinned by a test against
# `skops.io.get_untrusted_types` on a freshly saved forest. Never widen this to "everything".
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


class IsolationForestDetector(Detector):
    """scikit-learn's IsolationForest on 3C features per window; score = -score_samples.

    Features (see `window_features`): each channel's last reading, window mean and window
    std, so a window of 100 x 38 becomes 114 numbers and scoring stays cheap. Trees are
    scale-invariant, so the features are not standardised for the forest.

    Contributions are a proxy, not the forest's own attribution: the per-channel sum of
    squared z-scores of the features against their training mean/std.

    State: the fitted forest as skops bytes (loaded trusting only `TRUSTED_TYPES`) plus the
    feature mean/std for the contributions.

    Hyperparameters:
        n_estimators: trees in the forest.
        max_samples: windows drawn to grow each tree (sklearn's 256 default).
        max_train: training windows used at most, sampled with `seed` above it.
        seed: seeds the sampling and the forest.
    """

    name = "iforest"

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: int = 256,
        max_train: int = 20_000,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        if n_estimators < 1 or max_samples < 2:
            raise DetectorError("n_estimators must be at least 1 and max_samples at least 2")
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_train = max_train
        self._forest: IsolationForest | None = None
        self._scaler = FeatureScaler(np.zeros(0), np.ones(0))

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "n_estimators": self.n_estimators,
            "max_samples": self.max_samples,
            "max_train": self.max_train,
        }

    def _fit(self, windows: Windows) -> None:
        features = window_features(subsample(windows, self.max_train, self.seed))
        self._scaler = FeatureScaler.fit(features)
        self._forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(features)),
            random_state=self.seed,
        ).fit(features)

    def _score(self, windows: Windows) -> npt.NDArray[np.float64]:
        if self._forest is None:
            raise DetectorError("iforest has no fitted forest")
        out: npt.NDArray[np.float64] = -self._forest.score_samples(window_features(windows))
        return out

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        z = self._scaler.transform(window_features(windows))
        return channel_scores(z, windows.shape[2])

    def _state(self) -> Arrays:
        return {
            "forest": dump_estimator(self._forest),
            "feature_mean": self._scaler.mean,
            "feature_scale": self._scaler.scale,
        }

    def _load_state(self, arrays: Arrays) -> None:
        forest = load_estimator(arrays["forest"], TRUSTED_TYPES)
        if not isinstance(forest, IsolationForest):
            raise DetectorError(f"saved forest is a {type(forest).__name__}, not IsolationForest")
        self._forest = forest
        self._scaler = FeatureScaler(
            np.asarray(arrays["feature_mean"], dtype=np.float64),
            np.asarray(arrays["feature_scale"], dtype=np.float64),
        )
