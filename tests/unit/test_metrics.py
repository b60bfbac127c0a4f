"""Metrics on small cases computed by hand, plus the inflation of point adjustment."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from detectors.metrics import (
    auc_pr,
    auc_roc,
    best_f1,
    best_fc1,
    composite_f1,
    event_recall,
    events,
    hit_rate,
    point_adjust,
    point_adjusted_f1,
    precision_recall_f1,
    random_point_adjusted_f1,
)
from detectors.results import (
    EntityArrays,
    combine,
    evaluate,
    evaluate_pooled,
    jsonable,
    mean_of_entities,
)

# One long event (points 2-11) and one single-point event (point 15).
LABELS = np.zeros(20, dtype=int)
LABELS[2:12] = 1
LABELS[15] = 1


def test_precision_recall_f1_by_hand() -> None:
    labels = [0, 1, 1, 0, 1, 0]
    pred = [1, 1, 0, 1, 1, 0]  # tp 2, fp 2, fn 1
    p, r, f1 = precision_recall_f1(pred, labels)
    assert (p, r) == pytest.approx((0.5, 2 / 3))
    assert f1 == pytest.approx(4 / 7)


def test_nothing_predicted_and_nothing_to_find() -> None:
    assert precision_recall_f1([0, 0, 0], [0, 1, 1]) == (0.0, 0.0, 0.0)
    p, r, f1 = precision_recall_f1([0, 0], [0, 0])
    assert p == 0.0 and math.isnan(r) and math.isnan(f1)


def test_events_are_runs_cut_at_entity_breaks() -> None:
    starts, ends = events(LABELS)
    assert starts.tolist() == [2, 15] and ends.tolist() == [12, 16]
    starts, ends = events([1, 1, 1, 1, 0], breaks=[2])
    assert starts.tolist() == [0, 2] and ends.tolist() == [2, 4]


def test_event_recall_counts_events_not_points() -> None:
    pred = np.zeros(20, dtype=int)
    pred[5] = 1  # one point of the long event
    assert precision_recall_f1(pred, LABELS).recall == pytest.approx(1 / 11)
    assert event_recall(pred, LABELS) == pytest.approx(0.5)
    assert math.isnan(event_recall([1, 0], [0, 0]))


def test_composite_f1_formula() -> None:
    pred = np.zeros(20, dtype=int)
    pred[[5, 0, 19]] = 1  # precision 1/3, event recall 1/2
    assert composite_f1(pred, LABELS) == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_point_adjust_fills_detected_events_only() -> None:
    pred = np.zeros(20, dtype=int)
    pred[[5, 0]] = 1
    adjusted = point_adjust(pred, LABELS)
    assert np.flatnonzero(adjusted).tolist() == [0, *range(2, 12)]
    assert point_adjusted_f1(pred, LABELS) == pytest.approx(2 * 10 / (2 * 10 + 1 + 1))
    assert point_adjusted_f1(pred, LABELS) >= precision_recall_f1(pred, LABELS).f1


def test_point_adjust_keeps_adjacent_entities_apart() -> None:
    # Entity A ends in an anomaly, entity B starts with one: two events, only A's is hit.
    adjusted = point_adjust([0, 1, 0, 0], [1, 1, 1, 1], breaks=[2])
    assert adjusted.tolist() == [True, True, False, False]


def test_random_detector_scores_high_under_point_adjustment() -> None:
    labels = np.zeros(20_000, dtype=int)
    for start in range(1_000, 20_000, 2_000):
        labels[start : start + 200] = 1  # ten long events, 10% of points
    random_pred = np.random.default_rng(0).random(labels.size) < 0.01
    assert precision_recall_f1(random_pred, labels).f1 < 0.1
    assert random_point_adjusted_f1(labels, rate=0.01) > 0.7
    assert random_point_adjusted_f1(labels, rate=0.0) == 0.0


def test_auc_pr_and_roc() -> None:
    labels = np.array([0, 0, 0, 1, 0, 1, 0, 0])
    perfect = labels * 2.0 + 0.1
    assert auc_pr(perfect, labels) == 1.0 and auc_roc(perfect, labels) == 1.0
    assert auc_pr(np.ones(8), labels) == pytest.approx(0.25)  # the positive rate
    assert auc_roc(np.ones(8), labels) == pytest.approx(0.5)
    assert math.isnan(auc_pr(np.arange(8.0), np.zeros(8)))
    assert math.isnan(auc_roc(np.arange(8.0), np.ones(8)))


def test_auc_drops_nan_scores_with_their_labels() -> None:
    labels = np.array([0, 0, 1, 1, 0])
    scores = np.array([0.1, np.nan, 0.9, 0.8, 0.2])
    assert auc_roc(scores, labels) == 1.0
    assert math.isnan(auc_pr([np.nan, np.nan, 1.0], [1, 1, 0]))  # only negatives left


def test_best_f1_beats_every_single_threshold() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(2_000) < 0.05).astype(int)
    scores = rng.normal(size=2_000) + 1.5 * labels
    best = best_f1(scores, labels)
    for t in np.quantile(scores, [0.5, 0.9, 0.95, 0.99]):
        assert best.value >= precision_recall_f1(scores > t, labels).f1
    assert best.value == pytest.approx(precision_recall_f1(scores > best.threshold, labels).f1)


def test_best_fc1_matches_the_threshold_it_reports() -> None:
    rng = np.random.default_rng(4)
    labels = np.zeros(3_000, dtype=int)
    for start in range(100, 3_000, 300):
        labels[start : start + rng.integers(1, 60)] = 1
    scores = rng.normal(size=3_000) + labels
    scores[7] = np.nan
    best = best_fc1(scores, labels)
    assert best.value == pytest.approx(composite_f1(scores > best.threshold, labels))
    for t in np.quantile(scores[~np.isnan(scores)], [0.5, 0.8, 0.9, 0.99]):
        assert best.value >= composite_f1(scores > t, labels) - 1e-12


def test_best_scores_with_ties_by_hand() -> None:
    labels = [0, 1, 1, 0, 0, 1, 0]
    scores = [0, 2, 2, 0, 1, 1, 0]
    # t = 0 flags {1, 2, 4, 5}: P 3/4, point R 1, event R 1. t = 1 flags {1, 2}: P 1, R 2/3,
    # event R 1/2 (the second event peaks at 1, not above it).
    for best in (best_f1(scores, labels), best_fc1(scores, labels)):
        assert best.value == pytest.approx(6 / 7) and best.threshold == 0.0


def test_best_of_separable_scores_is_perfect() -> None:
    assert best_f1(LABELS * 1.0, LABELS).value == 1.0
    assert best_fc1(LABELS * 1.0, LABELS).value == 1.0
    assert math.isnan(best_f1(np.arange(5.0), np.zeros(5)).value)


def test_hit_rate_perfect_disjoint_and_150() -> None:
    contrib = np.array([[0.9, 0.8, 0.1, 0.0], [0.7, 0.9, 0.2, 0.1]])
    assert hit_rate(contrib, [(0, 1, {0, 1})], percent=100) == 1.0
    assert hit_rate(contrib, [(0, 1, {2, 3})], percent=100) == 0.0
    # G = {1, 2}: top-2 per point holds one of them (0.5); top-3 holds both (1.0).
    assert hit_rate(contrib, [(0, 1, {1, 2})], percent=100) == 0.5
    assert hit_rate(contrib, [(0, 1, {1, 2})], percent=150) == 1.0
    assert math.isnan(hit_rate(contrib, []))
    with pytest.raises(ValueError, match="percent"):
        hit_rate(contrib, [(0, 1, {0})], percent=0)


def test_hit_rate_skips_unscored_rows() -> None:
    contrib = np.array([[np.nan, np.nan], [0.0, 1.0], [np.nan, 2.0]])
    # Row 0 was never scored; rows 1 and 2 rank channel 1 first (NaN ranks last).
    assert hit_rate(contrib, [(0, 2, {1})]) == 1.0
    assert hit_rate(contrib, [(0, 2, {0})]) == 0.0


def test_hit_rate_averages_over_points() -> None:
    contrib = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # Segment one: 2 points, both hit; segment two: 1 point, missed -> 2/3 per point.
    assert hit_rate(contrib, [(0, 1, {0}), (2, 2, {0})]) == pytest.approx(2 / 3)


def test_evaluate_is_consistent_and_json_able() -> None:
    rng = np.random.default_rng(5)
    labels = np.zeros(30_000, dtype=int)
    for start in range(500, 30_000, 1_500):
        labels[start : start + 50] = 1
    scores = rng.normal(size=labels.size) + 2 * labels
    pred = scores > 2.5
    result = evaluate(scores, labels, pred)
    assert result.n_events == 20 and result.n_anomalous == 1_000
    assert result.f1 == pytest.approx(precision_recall_f1(pred, labels).f1)
    assert result.random_rate == pytest.approx(pred.mean())
    assert result.pa_f1 >= result.f1 and result.best_f1 >= result.f1
    assert 0.5 < result.auc_roc <= 1.0 and math.isnan(result.hitrate_100)
    json.dumps(jsonable(dataclasses.asdict(result)), allow_nan=False)
    assert 0.0 < result.vus_pr <= 1.0 and result.vus_window == 100


def test_evaluate_pooled_concatenates_without_merging_events() -> None:
    a = EntityArrays(np.array([0.0, 0.0, 1.0]), [0, 0, 1], [0, 0, 1], np.eye(3), [(2, 2, {2})])
    b = EntityArrays(np.array([1.0, 0.0, 0.0]), [1, 0, 0], [0, 0, 0], np.eye(3), [(0, 0, {0})])
    overall = evaluate_pooled([a, b])
    assert overall.n_points == 6 and overall.n_events == 2
    assert overall.event_recall == 0.5 and overall.hitrate_100 == 1.0


def test_combine_sums_counts_and_averages_rates_unweighted() -> None:
    r1 = evaluate([0.0, 1.0], [0, 1], [0, 1])
    r2 = evaluate([0.0, 1.0, 0.0, 0.0], [0, 1, 0, 0], [1, 0, 0, 0])
    row = combine([r1, r2])
    assert row.n_points == 6 and row.n_events == 2
    # Equal weights by default: the mean of entities as the field reports it.
    assert row.recall == pytest.approx((1.0 + 0.0) / 2) and row.f1 == pytest.approx(0.5)
    assert mean_of_entities([r1, r2]) == row
    assert combine([r1, r2], weights=[2, 4]).recall == pytest.approx((2 * 1.0 + 4 * 0.0) / 6)
    assert math.isnan(row.best_f1_threshold) and math.isnan(row.vus_window)
    with pytest.raises(ValueError, match="weights"):
        combine([r1, r2], weights=[1.0])


def test_mean_of_entities_skips_undefined_values() -> None:
    found = evaluate([0.0, 1.0], [0, 1], [0, 1])
    nothing_to_find = evaluate([0.0, 1.0], [0, 0], [0, 1])  # recall, F1, AUCs undefined
    row = mean_of_entities([found, nothing_to_find])
    assert row.recall == 1.0 and row.auc_pr == 1.0
    assert row.precision == pytest.approx(0.5)  # defined for both: 1 and 0


def _brute_best(scores: np.ndarray, labels: np.ndarray, breaks: list[int]) -> tuple[float, float]:
    """Best F1 and Fc1 by trying every candidate threshold, one at a time."""
    finite = scores[np.isfinite(scores)]
    f1s, fc1s = [], []
    for t in [-np.inf, *np.unique(finite)]:
        pred = np.nan_to_num(scores, nan=-np.inf) > t
        f1 = precision_recall_f1(pred, labels).f1
        f1s.append(0.0 if math.isnan(f1) else f1)
        fc1s.append(composite_f1(pred, labels, breaks))
    return max(f1s), max(fc1s)


@pytest.mark.parametrize("seed", range(8))
def test_best_scores_equal_a_brute_force_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    labels = np.zeros(n, dtype=int)
    for _ in range(int(rng.integers(1, 6))):
        start = int(rng.integers(0, n))
        labels[start : start + int(rng.integers(1, 20))] = 1
    # Rounded to one decimal, so many ties; some NaN, never flagged.
    scores = np.round(rng.normal(size=n) + labels * rng.random(), 1)
    scores[rng.random(n) < 0.05] = np.nan
    breaks = [n // 2]
    f1, fc1 = _brute_best(scores, labels, breaks)
    assert best_f1(scores, labels).value == pytest.approx(f1, abs=1e-12)
    assert best_fc1(scores, labels, breaks=breaks).value == pytest.approx(fc1, abs=1e-12)


def test_best_f1_is_at_least_the_f1_at_any_threshold() -> None:
    rng = np.random.default_rng(11)
    labels = np.zeros(30_000, dtype=int)
    for start in range(300, 30_000, 1_000):
        labels[start : start + rng.integers(5, 80)] = 1
    scores = rng.gamma(2.0, size=labels.size) + 1.5 * labels * rng.random(labels.size)
    best = best_f1(scores, labels)
    best_c = best_fc1(scores, labels)
    # Any deployed threshold, including ones between or at score values (flag score > t).
    for t in [*np.quantile(scores, np.linspace(0.5, 0.999, 40)), *scores[:50]]:
        assert best.value >= precision_recall_f1(scores > t, labels).f1
        assert best_c.value >= composite_f1(scores > t, labels) - 1e-12


def test_best_f1_is_fast_on_long_series() -> None:
    import time

    rng = np.random.default_rng(0)
    labels = (rng.random(700_000) < 0.04).astype(int)
    scores = rng.normal(size=labels.size) + labels
    started = time.perf_counter()
    best_f1(scores, labels), best_fc1(scores, labels)
    assert time.perf_counter() - started < 10  # about 0.5 s; generous for a shared CPU


def test_results_are_strict_json() -> None:
    result = evaluate([0.0, 1.0, 2.0], [0, 0, 0], [0, 0, 1])  # nothing to find: NaN metrics
    assert math.isnan(result.recall)
    text = json.dumps(jsonable(dataclasses.asdict(result)), allow_nan=False)
    assert json.loads(text)["recall"] is None
    assert jsonable({"a": [np.float64(np.inf), np.int64(3), np.array([1.0, np.nan])]}) == {
        "a": [None, 3, [1.0, None]]
    }
