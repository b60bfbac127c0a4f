"""Adaptive scoring: the vectorised rule equals the one-reading rule, however it is split;
freezing while over the threshold, a new normal after max_freeze, state round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import numpy.typing as npt
import pytest

from detectors.adaptive import Adaptation, AdaptiveState, adapt, adapt_reference
from detectors.pipeline import TrainConfig, score_series, score_windows, train
from detectors.windows import sliding_windows

FloatArray = npt.NDArray[np.float64]


def contributions(rng: np.random.Generator, rows: int, channels: int) -> FloatArray:
    """Chi-square-like contributions with a few level shifts of random size and length."""
    c = rng.gamma(2.0, 1.0, (rows, channels))
    for _ in range(int(rng.integers(0, 6))):
        start = int(rng.integers(0, rows))
        c[start : start + int(rng.integers(1, 400)), int(rng.integers(0, channels))] += rng.uniform(
            0, 20
        )
    return c


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_scores_equal_the_one_reading_rule_however_the_series_is_split(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    channels, rows = int(rng.integers(1, 5)), int(rng.integers(1, 2500))
    c = contributions(rng, rows, channels)
    adaptation = Adaptation(
        span=int(rng.integers(1, 300)),
        hold=int(rng.integers(0, 30)),
        max_freeze=int(rng.integers(1, 500)),
        scale=("energy", "amplitude")[seed % 2],
        combine=("mean", "max")[seed // 2 % 2],
        smooth=(1, 1, 5, 30)[seed // 4 % 4],
    )
    start = AdaptiveState.start(rng.gamma(2.0, 1.0, (100, channels)), adaptation)
    threshold = float(rng.uniform(0.5, 10.0))
    one, whole, pieces = start.copy(), start.copy(), start.copy()
    expected = adapt_reference(c, one, adaptation, threshold)
    got, _ = adapt(c, whole, adaptation, threshold)
    cuts = np.sort(rng.integers(0, rows, 4))
    split = np.concatenate([adapt(p, pieces, adaptation, threshold)[0] for p in np.split(c, cuts)])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(split, expected, rtol=1e-9, atol=1e-9)
    for state in (whole, pieces):
        assert (state.since_flag, state.frozen, state.relearn) == (
            one.since_flag,
            one.frozen,
            one.relearn,
        )
        np.testing.assert_allclose(state.mean, one.mean, rtol=1e-9)


def shifted(rows: int = 3000, at: int = 1000, length: int = 800) -> FloatArray:
    c = np.random.default_rng(3).gamma(2.0, 1.0, (rows, 2))
    c[at : at + length, 0] += 15.0
    return c


def test_an_incident_does_not_teach_itself_normal_while_it_is_over_the_threshold() -> None:
    c = shifted()
    base = Adaptation(span=100, hold=10, max_freeze=5000)
    start = AdaptiveState.start(c[:500], base)
    frozen, _ = adapt(c, start.copy(), base, threshold=10.0)
    # Without freezing (threshold never reached), the shift becomes normal within a span.
    learning, _ = adapt(c, start.copy(), base, threshold=math.inf)
    incident = slice(1000, 1800)
    assert (frozen[incident] > 10.0).mean() > 0.95
    assert (learning[1300:1800] > 10.0).mean() < 0.2
    # After the incident, the statistics are still those of normal data: as many false
    # flags as before it.
    before, after = (frozen[500:1000] > 10.0).mean(), (frozen[1900:] > 10.0).mean()
    assert after < 1.5 * before + 0.02


def test_a_freeze_longer_than_max_freeze_is_learnt_as_the_new_normal() -> None:
    c = shifted(rows=4000, length=3000)
    adaptation = Adaptation(span=100, hold=10, max_freeze=300)
    state = AdaptiveState.start(c[:500], adaptation)
    scores, _ = adapt(c, state, adaptation, threshold=10.0)
    assert (scores[1000:1300] > 10.0).mean() > 0.95
    assert (scores[2000:4000] > 10.0).mean() < 0.05
    assert not state.relearn and state.frozen == 0


def test_state_round_trips_through_json_exactly() -> None:
    c = shifted()
    adaptation = Adaptation(span=100)
    state = AdaptiveState.start(c[:500], adaptation)
    adapt(c[:1200], state, adaptation, threshold=10.0)
    back = AdaptiveState.from_dict(json.loads(json.dumps(state.to_dict())))
    rest_a, _ = adapt(c[1200:], state, adaptation, threshold=10.0)
    rest_b, _ = adapt(c[1200:], back, adaptation, threshold=10.0)
    assert np.array_equal(rest_a, rest_b)


def test_bad_settings_and_state_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown adaptive setting spam"):
        Adaptation.from_dict({"spam": 1})
    with pytest.raises(ValueError, match="floor"):
        Adaptation(floor=0.0)
    with pytest.raises(ValueError, match="one length"):
        AdaptiveState.from_dict(
            {"mean": [1.0], "square": [1.0, 2.0], "var_floor": [1.0], "since_flag": 0}
            | {"frozen": 0, "relearn": False}
        )


def walk_with_shift(rows: int, seed: int) -> FloatArray:
    """Two channels: a slow random walk and white noise; a shift on the noisy one late on."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.05, rows))
    noise = rng.normal(0, 1, rows)
    noise[rows - 600 : rows - 300] += 6.0
    return np.stack([walk, noise], axis=1)


def test_the_offline_scores_equal_window_batches_scored_as_the_stream_does() -> None:
    values = walk_with_shift(6000, 1)
    config = TrainConfig(detector="raw", window=10, adaptive={"span": 200})
    model = train(values[:3000], config)
    offline, _ = score_series(model, values[3000:])
    windows = sliding_windows(model.normalizer.transform(values[3000:]), model.window)
    state = model.start_state()
    parts = [score_windows(model, w, state)[0] for w in np.array_split(windows, 7)]
    np.testing.assert_allclose(np.concatenate(parts), offline[model.window - 1 :], rtol=1e-9)


def test_adaptive_scoring_follows_a_random_walk_and_still_catches_the_fault() -> None:
    values = walk_with_shift(12000, 2)
    train_rows, test = values[:4000], values[4000:]
    labels = np.zeros(len(test), dtype=bool)
    labels[-600:-300] = True
    plain = train(train_rows, TrainConfig(detector="raw", window=10))
    adaptive = train(train_rows, TrainConfig(detector="raw", window=10, adaptive={}))
    for model, expect_false_rate in ((plain, None), (adaptive, 0.01)):
        scores, _ = score_series(model, test)
        flags = model.threshold.decide(scores)
        false_rate = flags[~labels].mean()
        if expect_false_rate is None:
            # The walk leaves the training range: a frozen detector alarms on it for long.
            assert false_rate > 0.05
        else:
            assert false_rate < expect_false_rate
            assert flags[labels].mean() > 0.9
