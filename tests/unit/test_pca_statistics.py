"""PCA's statistics: T^2 sees a shift inside the kept subspace that Q cannot."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped, unused-ignore]

from detectors.pca import PcaDetector
from detectors.windows import sliding_windows

WINDOW = 10


Float32 = npt.NDArray[np.float32]


def shifted_series() -> tuple[Float32, Float32, npt.NDArray[np.int8]]:
    """Three independent channels (std 3, 2, 1); a 15-sigma level shift on the first.

    variance=0.9 keeps the two widest channels, so the shift lies inside the kept subspace.
    """
    rng = np.random.default_rng(0)
    scale = np.array([3.0, 2.0, 1.0])
    train = rng.standard_normal((2000, 3)) * scale
    test = rng.standard_normal((1500, 3)) * scale
    labels = np.zeros(len(test), dtype=np.int8)
    for start in (300, 800, 1200):
        test[start : start + 100, 0] += 15 * scale[0]
        labels[start : start + 100] = 1
    return (
        sliding_windows(train, WINDOW),
        sliding_windows(test, WINDOW),
        labels[WINDOW - 1 :],
    )


def test_t2q_catches_a_level_shift_that_q_misses() -> None:
    train, test, labels = shifted_series()
    auc = {
        statistic: roc_auc_score(labels, PcaDetector(statistic=statistic).fit(train).score(test))
        for statistic in ("q", "t2", "t2q")
    }
    assert auc["q"] < 0.6, auc
    assert auc["t2"] > 0.99, auc
    assert auc["t2q"] > 0.99, auc


def test_t2q_contributions_name_the_shifted_channel() -> None:
    train, test, labels = shifted_series()
    detector = PcaDetector(statistic="t2q").fit(train)
    contributions = detector.contributions(test[labels == 1])
    assert (contributions >= 0).all()
    assert (contributions.argmax(axis=1) == 0).mean() > 0.99


def test_statistics_are_about_one_on_training_rows() -> None:
    train, _, _ = shifted_series()
    for statistic in ("t2", "t2q"):
        scores = PcaDetector(statistic=statistic).fit(train).score(train)
        expected = 1.0 if statistic == "t2" else 2.0
        assert scores.mean() == pytest.approx(expected, rel=0.05)


def test_abs_max_is_quo_vadis_error_normalised_on_training_rows() -> None:
    train, test, _ = shifted_series()
    detector = PcaDetector(statistic="abs_max", components=1).fit(train)
    rows = train.reshape(-1, 3).astype(np.float64)
    mean = rows.mean(axis=0)
    component = detector._components.astype(np.float64)

    def error(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        centred = x.astype(np.float64) - mean
        out: npt.NDArray[np.float64] = np.abs(centred - centred @ component.T @ component)
        return out

    q1, median, q3 = np.percentile(error(rows), [25, 50, 75], axis=0)
    expected = ((error(test[:, -1, :]) - median) / (q3 - q1 + 0.01)).max(axis=1)
    np.testing.assert_allclose(detector.score(test), expected, rtol=1e-4, atol=1e-4)


def test_artifacts_from_before_statistics_still_score_q() -> None:
    train, test, _ = shifted_series()
    q_model = PcaDetector(statistic="q").fit(train)
    old_state = {
        k: v
        for k, v in q_model.state().items()
        if k in ("_shape", "mean", "components", "explained_variance")
    }
    loaded = PcaDetector().load_state(old_state)  # today's default statistic
    assert loaded.statistic == "q"
    np.testing.assert_allclose(loaded.score(test), q_model.score(test), rtol=1e-6)
