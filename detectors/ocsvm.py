"""One-class SVM (RBF) on standardised window features, scored with numpy from its support."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.svm import OneClassSVM

from detectors._sklearn_state import FeatureScaler, channel_scores, subsample, window_features
from detectors.base import Arrays, Detector, DetectorError, Windows

__all__ = ["OneClassSvmDetector"]


class OneClassSvmDetector(Detector):
    """scikit-learn's OneClassSVM (libsvm, RBF kernel) on at most `max_train` windows.

    Features: each channel's last reading, window mean and window std, standardised with
    the training mean/std. Exact libsvm training is quadratic in the sample count, so it
    runs on a seeded subsample; that also keeps the support set small.

    An RBF one-class SVM is fully described by its support vectors, their dual weights and
    gamma, so those arrays are the state (no estimator object is saved) and scoring is two
    matmuls: score = -sum_i alpha_i exp(-gamma |x - sv_i|^2), which is sklearn's
    `-score_samples` to float rounding, but batched through BLAS instead of libsvm's
    per-sample loop.

    Contributions are a proxy: the per-channel sum of squared feature z-scores.

    Hyperparameters:
        nu: upper bound on the fraction of training windows treated as outliers.
        gamma: RBF width; None uses 1 / n_features (sklearn's "scale" on standardised data).
        max_train: training windows used at most, sampled with `seed` above it.
        seed: seeds that sampling (libsvm itself is deterministic).
    """

    name = "ocsvm"

    def __init__(
        self,
        *,
        nu: float = 0.05,
        gamma: float | None = None,
        max_train: int = 2_000,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        if not 0.0 < nu <= 1.0:
            raise DetectorError(f"nu must be in (0, 1], got {nu}")
        if gamma is not None and gamma <= 0:
            raise DetectorError(f"gamma must be positive, got {gamma}")
        self.nu = nu
        self.gamma = gamma
        self.max_train = max_train
        self._scaler = FeatureScaler(np.zeros(0), np.ones(0))
        self._support = np.zeros((0, 0), dtype=np.float32)
        self._alpha = np.zeros(0, dtype=np.float32)
        self._gamma = 1.0

    def params(self) -> dict[str, Any]:
        return {**super().params(), "nu": self.nu, "gamma": self.gamma, "max_train": self.max_train}

    def _fit(self, windows: Windows) -> None:
        features = window_features(subsample(windows, self.max_train, self.seed))
        self._scaler = FeatureScaler.fit(features)
        z = self._scaler.transform(features).astype(np.float64)
        gamma = self.gamma if self.gamma is not None else 1.0 / z.shape[1]
        svm = OneClassSVM(kernel="rbf", nu=self.nu, gamma=gamma).fit(z)
        self._support = svm.support_vectors_.astype(np.float32)
        self._alpha = svm.dual_coef_.ravel().astype(np.float32)
        self._gamma = gamma

    def _score(self, windows: Windows) -> npt.NDArray[np.float64]:
        z = self._scaler.transform(window_features(windows))
        # |x - s|^2 = |x|^2 + |s|^2 - 2 x.s, all (n, n_support) at once.
        dist = (
            np.square(z).sum(axis=1)[:, None]
            + np.square(self._support).sum(axis=1)[None, :]
            - 2.0 * (z @ self._support.T)
        )
        kernel = np.exp(-np.float32(self._gamma) * np.maximum(dist, 0.0))
        out: npt.NDArray[np.float64] = -(kernel @ self._alpha).astype(np.float64)
        return out

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        z = self._scaler.transform(window_features(windows))
        return channel_scores(z, windows.shape[2])

    def _state(self) -> Arrays:
        return {
            "feature_mean": self._scaler.mean,
            "feature_scale": self._scaler.scale,
            "support_vectors": self._support,
            "dual_coef": self._alpha,
            "gamma": np.array(self._gamma, dtype=np.float64),
        }

    def _load_state(self, arrays: Arrays) -> None:
        self._scaler = FeatureScaler(
            np.asarray(arrays["feature_mean"], dtype=np.float64),
            np.asarray(arrays["feature_scale"], dtype=np.float64),
        )
        self._support = np.asarray(arrays["support_vectors"], dtype=np.float32)
        self._alpha = np.asarray(arrays["dual_coef"], dtype=np.float32)
        self._gamma = float(arrays["gamma"])
