"""The same checks on every registered detector: shape, determinism, spikes, AUC, save/load."""

from __future__ import annotations

import doctest
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped, unused-ignore]

from detectors.artifacts import load_model, save_model
from detectors.base import Detector, DetectorError
from detectors.registry import DETECTORS, detector_class
from detectors.windows import Normalizer, sliding_windows

WINDOW, CHANNELS, SPIKED = 16, 4, 2

# Small, fast settings. Each detector gets only the keywords it takes (`keywords()`), so deep
# detectors can name their width `hidden`, `hidden_size` or `latent` and still be kept small.
COMMON_FAST: dict[str, Any] = {
    "epochs": 2,
    "batch_size": 64,
    "device": "cpu",
    "hidden": 16,
    "hidden_size": 16,
    "latent": 4,
    "latent_dim": 4,
}
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "iforest": {"n_estimators": 50},
    "ocsvm": {"max_train": 300},
    "kmeans": {"n_clusters": 4},
}


def detector_cls(name: str) -> type[Detector]:
    """The registered class, or a skip while its module is still being written."""
    module_name = DETECTORS[name].partition(":")[0]
    try:
        return detector_class(name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the module exists but something it imports is missing: a real failure
        pytest.skip(f"{module_name} does not exist yet")


def make(name: str, seed: int = 0) -> Detector:
    cls = detector_cls(name)
    accepted = cls.keywords()
    wanted = {**COMMON_FAST, **FAST_PARAMS.get(name, {}), "seed": seed}
    return cls(**{k: v for k, v in wanted.items() if k in accepted})


def series(rows: int, offset: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Four channels mixed from two periodic signals plus independent noise."""
    t = np.arange(offset, offset + rows)
    latent = np.stack([np.sin(2 * np.pi * t / 25), np.cos(2 * np.pi * t / 40)], axis=1)
    mix = np.array([[1.0, 0.5, 0.0, 0.8], [0.0, 0.7, 1.0, -0.6]])
    out: npt.NDArray[np.float64] = latent @ mix + 0.2 * rng.standard_normal((rows, CHANNELS))
    return out


@dataclass(frozen=True)
class Data:
    train: npt.NDArray[np.float32]
    normal: npt.NDArray[np.float32]  # held-out normal windows
    spike: npt.NDArray[np.float32]  # one normal window, channel SPIKED spiked at its end
    test: npt.NDArray[np.float32]  # windows of a series with injected level shifts
    labels: npt.NDArray[np.int8]  # a window is anomalous when its last row is


@pytest.fixture(scope="module")
def data() -> Data:
    rng = np.random.default_rng(7)
    train_rows = series(500, 0, rng)
    norm = Normalizer.fit(train_rows)
    normal = sliding_windows(norm.transform(series(300, 500, rng)), WINDOW)
    spike = normal[100:101].copy()
    spike[0, -2:, SPIKED] += 8.0
    test_rows, row_labels = series(500, 800, rng), np.zeros(500, dtype=np.int8)
    for start, channel in [(60, 0), (170, 1), (280, 2), (390, 3)]:
        test_rows[start : start + 10, channel] += 3.0
        row_labels[start : start + 10] = 1
    return Data(
        train=sliding_windows(norm.transform(train_rows), WINDOW),
        normal=normal,
        spike=spike,
        test=sliding_windows(norm.transform(test_rows), WINDOW),
        labels=row_labels[WINDOW - 1 :],
    )


@pytest.fixture(scope="module", params=list(DETECTORS))
def fitted(request: pytest.FixtureRequest, data: Data) -> Detector:
    return make(request.param).fit(data.train)


def test_scores_are_one_finite_float_per_window(fitted: Detector, data: Data) -> None:
    scores = fitted.score(data.test)
    assert scores.shape == (len(data.test),)
    assert scores.dtype == np.float64
    assert np.isfinite(scores).all()


def test_same_seed_same_scores(fitted: Detector, data: Data) -> None:
    again = make(fitted.name, seed=0).fit(data.train)
    np.testing.assert_allclose(
        again.score(data.test), fitted.score(data.test), rtol=1e-6, atol=1e-6
    )


def test_spike_scores_above_normal(fitted: Detector, data: Data) -> None:
    normal = fitted.score(data.normal)
    assert fitted.score(data.spike)[0] > np.percentile(normal, 95)


def test_injected_anomalies_auc(fitted: Detector, data: Data) -> None:
    auc = roc_auc_score(data.labels, fitted.score(data.test))
    assert auc > 0.5, f"{fitted.name}: AUC {auc:.3f}"


def test_save_load_gives_same_scores(fitted: Detector, data: Data, tmp_path: Path) -> None:
    path = save_model(
        tmp_path,
        fitted,
        dataset="synthetic",
        entity="e1",
        channels=[f"c{i}" for i in range(CHANNELS)],
        window=WINDOW,
        stride=1,
        normalizer_mean=np.zeros(CHANNELS),
        normalizer_std=np.ones(CHANNELS),
        threshold={"kind": "fixed", "value": 1.0, "params": {}},
        train_hash="0" * 64,
    )
    loaded = load_model(path)
    assert type(loaded.detector) is type(fitted)
    assert loaded.detector.params() == fitted.params()
    np.testing.assert_allclose(loaded.detector.score(data.test), fitted.score(data.test), rtol=1e-7)


def test_contributions_point_at_spiked_channel(fitted: Detector, data: Data) -> None:
    try:
        contributions = fitted.contributions(data.normal[:5])
    except DetectorError as exc:
        pytest.skip(str(exc))
    assert contributions.shape == (5, CHANNELS)
    assert np.isfinite(contributions).all()
    assert int(fitted.contributions(data.spike)[0].argmax()) == SPIKED


def test_rejects_wrong_input(fitted: Detector, data: Data) -> None:
    with pytest.raises(DetectorError, match="float32"):
        fitted.score(data.test.astype(np.float64))
    with pytest.raises(DetectorError, match="channels"):
        fitted.score(data.test[:, :, :2])


# -- checks specific to one detector ---------------------------------------------------------


def test_iforest_trusted_types_are_exactly_what_skops_needs(data: Data) -> None:
    import skops.io as sio  # type: ignore[import-untyped, unused-ignore]

    from detectors.iforest import TRUSTED_TYPES, IsolationForestDetector

    blob = IsolationForestDetector(n_estimators=5).fit(data.train).state()["forest"].tobytes()
    assert sorted(sio.get_untrusted_types(data=blob)) == sorted(TRUSTED_TYPES)


def test_ocsvm_numpy_scores_match_sklearn(data: Data) -> None:
    from sklearn.svm import OneClassSVM  # type: ignore[import-untyped, unused-ignore]

    from detectors._sklearn_state import window_features
    from detectors.ocsvm import OneClassSvmDetector

    detector = OneClassSvmDetector(max_train=10_000).fit(data.train)
    z = detector._scaler.transform(window_features(data.train)).astype(np.float64)
    svm = OneClassSVM(nu=detector.nu, gamma=1.0 / z.shape[1]).fit(z)
    expected = -svm.score_samples(detector._scaler.transform(window_features(data.test)))
    np.testing.assert_allclose(detector.score(data.test), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("module", ["detectors.raw"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0


def test_window_features_match_plain_numpy() -> None:
    from detectors._sklearn_state import window_features

    rng = np.random.default_rng(3)
    windows = (rng.normal(size=(300, 20, 5)) * 2 + 1).astype(np.float32)  # > one chunk
    expected = np.concatenate([windows[:, -1], windows.mean(axis=1), windows.std(axis=1)], axis=1)
    np.testing.assert_allclose(window_features(windows), expected, atol=1e-5)
