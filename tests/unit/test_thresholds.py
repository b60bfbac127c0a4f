"""Thresholds: values against numpy and theory, POT's tail, artifacts round trip, edge cases."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from detectors.thresholds import (
    MeanStdThreshold,
    PotThreshold,
    QuantileThreshold,
    Threshold,
    ThresholdError,
    make_threshold,
    threshold_from_dict,
)

ALL = [QuantileThreshold(q=0.99), MeanStdThreshold(k=2.5), PotThreshold(risk=1e-2)]


@pytest.fixture
def normal() -> np.ndarray:
    return np.random.default_rng(0).normal(size=5_000)


def test_quantile_matches_numpy(normal: np.ndarray) -> None:
    assert QuantileThreshold(q=0.99).fit(normal).value == pytest.approx(np.quantile(normal, 0.99))


def test_mean_std_value() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0])  # mean 2.5, population std sqrt(1.25)
    assert MeanStdThreshold(k=2.0).fit(scores).value == pytest.approx(2.5 + 2 * 1.25**0.5)


def test_decide_is_strictly_greater_and_never_flags_nan() -> None:
    threshold = QuantileThreshold(q=0.5).fit([0.0, 1.0, 2.0])  # value 1.0
    assert threshold.decide([0.5, 1.0, 1.5, np.nan]).tolist() == [False, False, True, False]


def test_fit_returns_a_fitted_copy() -> None:
    unfitted = QuantileThreshold()
    fitted = unfitted.fit(np.arange(10.0))
    assert not unfitted.fitted and fitted.fitted
    with pytest.raises(ThresholdError, match="not fitted"):
        unfitted.decide([1.0])


def test_pot_on_exponential_tail_matches_theory() -> None:
    rng = np.random.default_rng(1)
    pot = PotThreshold(risk=1e-3, init_quantile=0.98).fit(rng.exponential(size=100_000))
    # Exp(1): P(X > z) = e^-z, so the 1e-3 threshold is ln(1000) ~ 6.91; init at ln(50) ~ 3.91.
    assert pot.value > np.log(50) + 1.0
    assert pot.value == pytest.approx(np.log(1000), rel=0.15)
    exceedance = pot.decide(rng.exponential(size=1_000_000)).mean()
    assert 1e-3 / 3 < exceedance < 1e-3 * 3


def test_pot_extrapolates_beyond_the_data_quantile_on_heavy_tails() -> None:
    scores = np.random.default_rng(2).pareto(3.0, size=20_000)
    pot = PotThreshold(risk=1e-4, init_quantile=0.95).fit(scores)
    assert pot.value > np.quantile(scores, 0.95)
    assert np.isfinite(pot.value)


@pytest.mark.parametrize("threshold", ALL, ids=lambda t: t.kind)
def test_round_trip_through_json(threshold: Threshold, normal: np.ndarray) -> None:
    fitted = threshold.fit(normal)
    back = threshold_from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert back == fitted
    assert np.array_equal(back.decide(normal), fitted.decide(normal))


def test_unfitted_round_trip_stays_unfitted() -> None:
    back = threshold_from_dict(PotThreshold(risk=0.01).to_dict())
    assert isinstance(back, PotThreshold) and back.risk == 0.01 and not back.fitted


@pytest.mark.parametrize("threshold", ALL, ids=lambda t: t.kind)
def test_constant_scores_do_not_crash(threshold: Threshold) -> None:
    fitted = threshold.fit(np.full(1_000, 3.0))
    assert fitted.value == pytest.approx(3.0)
    assert not fitted.decide(np.full(10, 3.0)).any()


def test_pot_falls_back_to_quantile_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    scores = np.arange(100.0)  # 2 excesses over the 0.98 quantile: too few for a GPD
    with caplog.at_level(logging.WARNING, logger="detectors.thresholds"):
        pot = PotThreshold(risk=0.01).fit(scores)
    assert pot.value == pytest.approx(np.quantile(scores, 0.99))
    assert "excesses" in caplog.text


@pytest.mark.parametrize("threshold", ALL, ids=lambda t: t.kind)
def test_nans_are_ignored_in_fit(threshold: Threshold, normal: np.ndarray) -> None:
    with_nans = np.concatenate([normal, [np.nan] * 50, [np.inf]])
    assert threshold.fit(with_nans).value == pytest.approx(threshold.fit(normal).value)


def test_no_finite_scores_is_an_error() -> None:
    with pytest.raises(ThresholdError, match="no finite scores"):
        QuantileThreshold().fit([np.nan, np.nan])


def test_make_threshold_validates() -> None:
    assert make_threshold("mean_std", k=4.0) == MeanStdThreshold(k=4.0)
    with pytest.raises(ThresholdError, match="unknown threshold"):
        make_threshold("magic")
    with pytest.raises(ThresholdError, match="bad parameters"):
        make_threshold("quantile", k=3.0)
    with pytest.raises(ThresholdError, match=r"\(0, 1\)"):
        make_threshold("pot", risk=1.5)


def test_nonparametric_threshold_is_telemanoms_rule_and_round_trips() -> None:
    from detectors.error_scoring import nonparametric_threshold
    from detectors.thresholds import threshold_from_dict

    rng = np.random.default_rng(4)
    scores = np.concatenate([rng.exponential(1.0, 5000), np.full(20, 40.0)])

    fitted = make_threshold("nonparametric").fit(scores)

    assert fitted.value == nonparametric_threshold(scores)
    assert fitted.decide(np.array([40.0, 0.5])).tolist() == [True, False]
    assert threshold_from_dict(fitted.to_dict()) == fitted
