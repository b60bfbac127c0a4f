"""Honest evaluation: point, event and composite F1, PA-F1 beside chance, AUCs, HitRate@P%.

Conventions: labels and predictions are 0/1 per point; an event is a maximal run of label 1
(runs never cross an entity boundary, see `breaks`); undefined ratios are 0 for precision
with nothing predicted and NaN where there is nothing to find (no labelled anomaly, one
class only). Scores are higher = more anomalous; a NaN score is never flagged and is left
out of the AUCs. `best_*` use the test labels to pick a threshold: reference only.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from sklearn.metrics import (
    average_precision_score,
    roc_auc_score,
)

__all__ = [
    "Best",
    "PointScores",
    "Segment",
    "auc_pr",
    "auc_roc",
    "best_f1",
    "best_fc1",
    "composite_f1",
    "event_recall",
    "events",
    "hit_rate",
    "pair",
    "point_adjust",
    "point_adjusted_f1",
    "precision_recall_f1",
    "random_point_adjusted_f1",
]

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Array = npt.ArrayLike
Breaks = Sequence[int]  # indices where a new entity starts in concatenated arrays
# (first, last row inclusive, true root-cause channels), as producers' RootCause has them.
Segment = tuple[int, int, Collection[int]]


class PointScores(NamedTuple):
    precision: float
    recall: float
    f1: float


class Best(NamedTuple):
    value: float
    threshold: float  # flag score > threshold


def _bools(x: Array) -> Bools:
    return np.asarray(x).astype(bool).ravel()


def pair(predictions: Array, labels: Array) -> tuple[Bools, Bools]:
    pred, lab = _bools(predictions), _bools(labels)
    if pred.shape != lab.shape:
        raise ValueError(f"{pred.size} predictions for {lab.size} labels")
    return pred, lab


def _ratio(num: float, den: float, empty: float) -> float:
    return num / den if den > 0 else empty


def _harmonic(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else (math.nan if math.isnan(p + r) else 0.0)


def events(labels: Array, breaks: Breaks = ()) -> tuple[Ints, Ints]:
    """(starts, ends exclusive) of the runs of label 1; a run is cut at each index in breaks."""
    lab = _bools(labels)
    prev, nxt = np.zeros_like(lab), np.zeros_like(lab)
    prev[1:], nxt[:-1] = lab[:-1], lab[1:]
    cuts = np.asarray(breaks, dtype=np.intp)
    cuts = cuts[(cuts > 0) & (cuts < lab.size)]
    prev[cuts], nxt[cuts - 1] = False, False
    return np.flatnonzero(lab & ~prev), np.flatnonzero(lab & ~nxt) + 1


def _event_hits(pred: Bools, starts: Ints, ends: Ints) -> Bools:
    cum = np.concatenate([[0], np.cumsum(pred)])
    hits: Bools = cum[ends] > cum[starts]
    return hits


def precision_recall_f1(predictions: Array, labels: Array) -> PointScores:
    """Point-wise scores; F1 = 2tp / (2tp + fp + fn), NaN only with nothing to find or flag."""
    pred, lab = pair(predictions, labels)
    tp = int(np.count_nonzero(pred & lab))
    fp, fn = int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(lab)) - tp
    return PointScores(
        _ratio(tp, tp + fp, 0.0),
        _ratio(tp, tp + fn, math.nan),
        _ratio(2 * tp, 2 * tp + fp + fn, math.nan),
    )


def event_recall(predictions: Array, labels: Array, breaks: Breaks = ()) -> float:
    """Fraction of events with at least one flagged point (each event counts once)."""
    pred, lab = pair(predictions, labels)
    starts, ends = events(lab, breaks)
    return float(_event_hits(pred, starts, ends).mean()) if starts.size else math.nan


def composite_f1(predictions: Array, labels: Array, breaks: Breaks = ()) -> float:
    """Fc1 (Garg et al. 2021): harmonic mean of point-wise precision and event-wise recall."""
    precision = precision_recall_f1(predictions, labels).precision
    return _harmonic(precision, event_recall(predictions, labels, breaks))


def point_adjust(predictions: Array, labels: Array, breaks: Breaks = ()) -> Bools:
    """Predictions with every point of each detected event set to 1 (the PA protocol)."""
    pred, lab = pair(predictions, labels)
    starts, ends = events(lab, breaks)
    hit = _event_hits(pred, starts, ends)
    delta = np.zeros(lab.size + 1, dtype=np.intp)
    delta[starts[hit]] += 1
    delta[ends[hit]] -= 1  # an event may end where the next entity's begins: still +1 - 1
    adjusted: Bools = pred | (np.cumsum(delta[:-1]) > 0)
    return adjusted


def point_adjusted_f1(predictions: Array, labels: Array, breaks: Breaks = ()) -> float:
    """Point-wise F1 after point adjustment: inflated, report it beside the random baseline."""
    return precision_recall_f1(point_adjust(predictions, labels, breaks), labels).f1


def random_point_adjusted_f1(
    labels: Array, rate: float, seed: int = 0, n_seeds: int = 5, breaks: Breaks = ()
) -> float:
    """Mean PA-F1 of detectors flagging each point independently with probability `rate`.

    The caller picks `rate`: `evaluate` uses the detector's own positive rate, so the baseline
    flags as many points as the detector under test; the labels' rate is the other choice.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    lab = _bools(labels)
    draws = np.random.default_rng(seed).random((n_seeds, lab.size)) < rate
    return float(np.mean([point_adjusted_f1(d, lab, breaks) for d in draws]))


def _scored(scores: Array, labels: Array) -> tuple[Floats, Bools] | None:
    s = np.asarray(scores, dtype=np.float64).ravel()
    lab = _bools(labels)
    if s.shape != lab.shape:
        raise ValueError(f"{s.size} scores for {lab.size} labels")
    keep = ~np.isnan(s)
    s, lab = s[keep], lab[keep]
    return (s, lab) if 0 < np.count_nonzero(lab) < lab.size else None


def auc_pr(scores: Array, labels: Array) -> float:
    """Average precision (sklearn); NaN scores dropped; NaN if one class only."""
    pair = _scored(scores, labels)
    return math.nan if pair is None else float(average_precision_score(pair[1], pair[0]))


def auc_roc(scores: Array, labels: Array) -> float:
    """Area under the ROC curve (sklearn); NaN scores dropped; NaN if one class only."""
    pair = _scored(scores, labels)
    return math.nan if pair is None else float(roc_auc_score(pair[1], pair[0]))


def _sweep(scores: Array, labels: Array) -> tuple[Floats, Floats, Floats, Floats, Bools] | None:
    """(candidates, tp, fp, scores with NaN as -inf, labels) for flag = score > candidate.

    The candidates are -inf and every distinct finite score, so every flag set of the form
    score > t (or score >= t) is among them: the maxima below are exact, not a grid's.
    """
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64).ravel(), nan=-np.inf)
    lab = _bools(labels)
    if s.shape != lab.shape:
        raise ValueError(f"{s.size} scores for {lab.size} labels")
    if not lab.any():
        return None
    cand = np.concatenate([[-np.inf], np.unique(s[np.isfinite(s)])])
    pos, neg = np.sort(s[lab]), np.sort(s[~lab])
    tp = (pos.size - np.searchsorted(pos, cand, side="right")).astype(np.float64)
    fp = (neg.size - np.searchsorted(neg, cand, side="right")).astype(np.float64)
    return cand, tp, fp, s, lab


def _best(values: Floats, cand: Floats) -> Best:
    i = int(np.argmax(values))  # ties: the lowest threshold
    return Best(float(values[i]), float(cand[i]))


def best_f1(scores: Array, labels: Array) -> Best:
    """The maximum point-wise F1 over all thresholds: picked with test labels, reference only."""
    sweep = _sweep(scores, labels)
    if sweep is None:
        return Best(math.nan, math.nan)
    cand, tp, fp, _, lab = sweep
    return _best(2 * tp / (tp + fp + np.count_nonzero(lab)), cand)


def best_fc1(scores: Array, labels: Array, breaks: Breaks = ()) -> Best:
    """The maximum Fc1 over all thresholds (event recall from each event's peak score):
    picked with test labels, reference only."""
    sweep = _sweep(scores, labels)
    if sweep is None:
        return Best(math.nan, math.nan)
    cand, tp, fp, s, lab = sweep
    starts, ends = events(lab, breaks)
    # Labelled points in order, event after event: each event's max in one reduceat.
    offsets = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
    peaks = np.sort(np.maximum.reduceat(s[lab], offsets))
    recall = (peaks.size - np.searchsorted(peaks, cand, side="right")) / peaks.size
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    total = precision + recall
    fc1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return _best(fc1, cand)


def hit_rate(contributions: Array, segments: Sequence[Segment], *, percent: float = 100) -> float:
    """Root-cause HitRate@P% (InterFusion convention), P in percent: 100, 150.

    At each scored point of each segment (rows first..last inclusive), take the top
    floor(P% * |G|) channels by that point's contribution; the point's hit rate is
    |top & G| / |G|. The result is the mean over all points of all segments (long segments
    weigh more), NaN if there are none. Rows of all-NaN contributions are not scored.
    """
    contrib = np.asarray(contributions, dtype=np.float64)
    if contrib.ndim != 2:
        raise ValueError("contributions must be (n, channels)")
    if percent <= 0:
        raise ValueError(f"percent must be positive (100 for HitRate@100%), got {percent}")
    per_point: list[Floats] = []
    for first, last, channels in segments:
        truth = np.fromiter(channels, dtype=np.intp)
        block = contrib[first : last + 1]
        block = np.nan_to_num(block[~np.isnan(block).all(axis=1)], nan=-np.inf)
        if truth.size == 0 or block.size == 0:
            continue
        k = min(int(math.floor(percent / 100 * truth.size)), contrib.shape[1])
        top = np.argsort(-block, axis=1, kind="stable")[:, :k]
        per_point.append(np.isin(top, truth).sum(axis=1) / truth.size)
    return float(np.concatenate(per_point).mean()) if per_point else math.nan
