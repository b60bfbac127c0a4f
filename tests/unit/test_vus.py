"""VUS-PR against a loop written from the definition, hand-checked cases and its properties."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.signal import argrelextrema

from detectors.metrics import events
from detectors.vus import period, volumes, vus_pr


def _loop_vus(
    scores: np.ndarray, labels: np.ndarray, window: int, thresholds: int
) -> tuple[float, float]:
    """VUS-PR and VUS-ROC the slow way: every buffer length, every threshold, every point."""
    n, positives = len(scores), int(labels.sum())
    starts, ends = events(labels)
    runs = [(int(a), int(b) - 1) for a, b in zip(starts, ends, strict=True)]
    ranked = np.sort(scores)[::-1]
    prs, rocs = [], []
    for w in range(window + 1):
        h = w // 2
        soft = labels.astype(float)
        for s, e in runs:
            for x in range(e + 1, min(e + h + 1, n)):
                soft[x] += math.sqrt(1 - (x - e) / w)
            for x in range(max(s - h, 0), s):
                soft[x] += math.sqrt(1 - (s - x) / w)
        soft = np.minimum(soft, 1.0)
        segments: list[list[int]] = []  # [first, last, last run's end]
        for s, e in runs:
            if segments and segments[-1][2] + h >= s - h:
                segments[-1][1:] = [min(e + h, n - 1), e]
            else:
                segments.append([max(s - h, 0), min(e + h, n - 1), e])
        tprs, fprs, precisions = [0.0], [0.0], []
        for i in np.linspace(0, n - 1, thresholds).astype(int):
            pred = scores >= ranked[i]
            credited = np.where(labels == 1, 1.0, soft * pred)
            tp = float(np.sum(credited * pred))
            p_new = (positives + credited.sum()) / 2
            hit = sum(bool(pred[a : b + 1].any()) for a, b, _ in segments)
            tprs.append(min(tp / p_new, 1.0) * hit / len(segments))
            fprs.append((pred.sum() - tp) / (n - p_new))
            precisions.append(tp / pred.sum())
        prs.append(sum((tprs[k + 1] - tprs[k]) * precisions[k] for k in range(thresholds)))
        xs, ys = [*fprs, 1.0], [*tprs, 1.0]
        rocs.append(sum((xs[k + 1] - xs[k]) * (ys[k + 1] + ys[k]) / 2 for k in range(len(xs) - 1)))
    return float(np.mean(prs)), float(np.mean(rocs))


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_volumes_equal_the_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 300))
    labels = np.zeros(n, dtype=int)
    for _ in range(int(rng.integers(1, 7))):
        start = int(rng.integers(0, n - 1))
        labels[start : start + int(rng.integers(1, 12))] = 1  # runs may touch or sit at an end
    scores = np.round(rng.normal(size=n) + labels * rng.random(), 1)  # ties
    window, thresholds = int(rng.integers(0, 25)), int(rng.integers(5, 260))
    got = volumes(scores, labels, window, thresholds=thresholds)
    assert got == pytest.approx(_loop_vus(scores, labels, window, thresholds), abs=1e-12)


def test_perfect_scores_give_one() -> None:
    labels = np.zeros(500, dtype=int)
    labels[[50, 51, 52, 300, 301, 480]] = 1
    assert vus_pr(labels * 1.0, labels, 40) == pytest.approx(1.0)
    assert vus_pr(labels * 5.0 + 1, labels, 0) == pytest.approx(1.0)


def test_constant_scores_give_the_buffered_rate_by_hand() -> None:
    # One run of 4 points (8..11) in 20; window 4. A constant score flags everything at every
    # threshold, so each buffer length's area is its precision: (4 + buffer weight) / 20.
    labels = np.zeros(20, dtype=int)
    labels[8:12] = 1
    buffers = [
        0.0,  # w = 0
        0.0,  # w = 1: w // 2 = 0, no buffer
        2 * math.sqrt(1 - 1 / 2),  # w = 2: one point each side
        2 * math.sqrt(1 - 1 / 3),
        2 * (math.sqrt(1 - 1 / 4) + math.sqrt(1 - 2 / 4)),  # w = 4: two points each side
    ]
    expected = float(np.mean([(4 + b) / 20 for b in buffers]))
    assert vus_pr(np.ones(20), labels, 4) == pytest.approx(expected)
    assert vus_pr(np.ones(20), labels, 0) == pytest.approx(4 / 20)  # the anomaly rate


def test_constant_scores_on_long_series_give_about_the_anomaly_rate() -> None:
    labels = np.zeros(30_000, dtype=int)
    for start in range(500, 30_000, 1_500):
        labels[start : start + 50] = 1  # 1000 of 30000 points
    value = vus_pr(np.zeros(labels.size), labels, 100)
    # Each of the 20 runs gains w // 2 buffer points each side, sqrt(1 - d / w) at distance d.
    buffered = [
        (1_000 + 20 * 2 * sum(math.sqrt(1 - d / w) for d in range(1, w // 2 + 1))) / 30_000
        for w in range(1, 101)
    ]
    assert value == pytest.approx(np.mean([1_000 / 30_000, *buffered]))
    assert 1_000 / 30_000 < value < 2 * 1_000 / 30_000


def test_one_class_nan_and_bad_arguments() -> None:
    assert math.isnan(vus_pr(np.arange(5.0), np.zeros(5)))
    assert math.isnan(vus_pr(np.arange(5.0), np.ones(5)))
    with pytest.raises(ValueError, match="scores for"):
        vus_pr(np.arange(5.0), np.zeros(4))
    with pytest.raises(ValueError, match="window"):
        vus_pr(np.arange(5.0), [0, 1, 0, 0, 0], -1)


def test_nan_scores_are_dropped_with_their_labels() -> None:
    rng = np.random.default_rng(2)
    labels = np.zeros(400, dtype=int)
    labels[100:120] = labels[300:305] = 1
    scores = rng.normal(size=400) + labels
    padded = np.concatenate([np.full(30, np.nan), scores])
    assert vus_pr(padded, np.concatenate([np.zeros(30), labels]), 20) == pytest.approx(
        vus_pr(scores, labels, 20)
    )


def test_breaks_keep_buffers_and_runs_inside_each_entity() -> None:
    # Entity A ends in a run, entity B starts with one: without the break they are one run
    # and B's first points buffer A's run; with it they are two runs of their own.
    labels = np.array([0] * 30 + [1] * 5 + [1] * 5 + [0] * 30)
    rng = np.random.default_rng(4)
    scores = rng.normal(size=labels.size) + labels
    joined = vus_pr(scores, labels, 10)
    split = vus_pr(scores, labels, 10, breaks=[35])
    assert joined != pytest.approx(split)
    # Scores only in entity A's run: the break halves the runs found.
    only_a = np.where(np.arange(labels.size) < 35, labels * 3.0, 0.0)
    assert vus_pr(only_a, labels, 0, breaks=[35]) < vus_pr(only_a, labels, 0)


def test_a_30k_series_takes_well_under_a_second() -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros(30_000, dtype=int)
    for start in range(500, 30_000, 1_500):
        labels[start : start + 50] = 1
    scores = rng.normal(size=labels.size) + 2 * labels
    started = time.perf_counter()
    value = vus_pr(scores, labels, 300)
    assert time.perf_counter() - started < 2.0  # ~0.05 s alone; headroom for a shared CPU
    assert 0.3 < value < 1.0


def _period_from_definition(x: np.ndarray) -> int:
    """TSB-AD's find_length_rank(rank=1) with a direct (non-FFT) autocorrelation."""
    x = x[:20_000] - x[:20_000].mean()
    denominator = float(np.dot(x, x))
    acf = np.array([np.dot(x[: x.size - k], x[k:]) / denominator for k in range(401)])[3:]
    peaks = argrelextrema(acf, np.greater)[0]
    if not peaks.size:
        return 125
    best = int(peaks[np.argsort(acf[peaks])[::-1][0]])
    return best + 3 if 3 <= best <= 300 else 125


@pytest.mark.parametrize("true_period", [24, 50, 144])
def test_period_finds_the_dominant_cycle(true_period: int) -> None:
    rng = np.random.default_rng(true_period)
    t = np.arange(6_000)
    x = np.sin(2 * np.pi * t / true_period) + 0.3 * rng.normal(size=t.size)
    assert period(x) == _period_from_definition(x)
    assert abs(period(x) - true_period) <= 1


def test_period_falls_back_to_125() -> None:
    assert period(np.ones(500)) == 125
    assert period([1.0]) == 125
    noise = np.random.default_rng(0).normal(size=3_000)
    assert period(noise) == _period_from_definition(noise)
