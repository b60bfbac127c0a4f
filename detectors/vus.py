"""VUS-PR and VUS-ROC (Paparrizos et al., VLDB 2022) as TSB-AD (NeurIPS 2024) computes them.

The reference is TheDatumOrg/TSB-AD, `TSB_AD/evaluation/basic_metrics.py`,
`RangeAUC_volume_opt`, called by `get_metrics(score, labels, slidingWindow)` with its
defaults: 250 thresholds (the scores at 250 evenly spaced ranks, flag = score >= threshold)
and buffer lengths w = 0, 1, ..., window. For each w every labelled run gains soft edges of
w // 2 points on each side, weight sqrt(1 - d / w) at distance d (capped at 1 where edges
meet); a range-based precision, a recall scaled by the fraction of (buffered, merged) runs
touched, and a false positive rate give one range-PR and one range-ROC curve per w; VUS is
the mean area over all w. TSB-AD's tables take `window = find_length_rank(data[:, 0], rank=1)`
(the strongest autocorrelation peak of the first channel, 125 when there is none): `period`.

Where this differs from the reference, and why:
- Vectorised (sort, searchsorted, cumulative sums) instead of a loop over thresholds and
  segments: the same numbers to float rounding, in milliseconds rather than minutes.
- NaN scores are dropped with their labels (the reference has none; in our pipeline there are
  none either, since rows before the first full window take its score).
- One class only gives NaN, as `auc_pr` does; the reference fails (no runs) or divides by 0.
- `breaks` (entity boundaries in concatenated arrays, as in `detectors.metrics`) cut buffers
  and runs, so a pooled evaluation never lets one entity's buffer reach into the next; the
  reference scores one series at a time.
- `evaluate` takes the period of the test split's first channel; TSB-AD takes it from the
  whole file, whose first part is the training data.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from detectors.metrics import Array, Breaks, events

__all__ = ["DEFAULT_THRESHOLDS", "DEFAULT_WINDOW", "Volumes", "period", "volumes", "vus_pr"]

DEFAULT_THRESHOLDS = 250  # TSB-AD's `thre`
DEFAULT_WINDOW = 100  # TSB-AD get_metrics' default slidingWindow, used when no data is given
_NO_PERIOD = 125  # what TSB-AD's find_length_rank returns when it finds no period

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


class Volumes(NamedTuple):
    pr: float
    roc: float


def period(series: Array, *, max_points: int = 20_000, max_lag: int = 400) -> int:
    """TSB-AD's window: 3 + the lag (in 3..300) of the highest local autocorrelation peak.

    As `find_length_rank(x, rank=1)`: the first `max_points` values, lags 3..max_lag, 125 when
    no peak lies in range (a constant or too short series too).
    """
    x = np.asarray(series, dtype=np.float64).ravel()
    x = x[~np.isnan(x)][:max_points]
    if x.size < 2 or np.ptp(x) == 0:
        return _NO_PERIOD
    x = x - x.mean()
    spectrum = np.fft.rfft(x, n=2 * x.size)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum))[: min(max_lag + 1, x.size)]
    acf = autocov[3:] / autocov[0]
    peaks = np.flatnonzero((acf[1:-1] > acf[:-2]) & (acf[1:-1] > acf[2:])) + 1
    if not peaks.size:
        return _NO_PERIOD
    best = int(peaks[np.argsort(acf[peaks])[::-1][0]])  # the reference's tie order
    return best + 3 if 3 <= best <= 300 else _NO_PERIOD


def _entity_bounds(n: int, breaks: Breaks) -> tuple[Ints, Ints]:
    """(first row, last row + 1) of the entity that holds each row."""
    cuts = np.unique(np.asarray([b for b in breaks if 0 < b < n], dtype=np.intp))
    edges = np.concatenate([[0], cuts, [n]]).astype(np.intp)
    which = np.searchsorted(edges, np.arange(n), side="right") - 1
    return edges[which], edges[which + 1]


def _distances(
    n: int, starts: Ints, ends: Ints, first: Ints, stop: Ints
) -> tuple[Floats, Floats, Floats, Floats]:
    """Per row: distance to the nearest and second nearest run end on its left (dl1, dl2) and
    run start on its right (dr1, dr2), inf where there is none inside the row's entity."""
    rows = np.arange(n)
    pad = np.concatenate([[-(10**18)] * 2, ends, [10**18] * 2]).astype(np.int64)
    spad = np.concatenate([[-(10**18)] * 2, starts, [10**18] * 2]).astype(np.int64)
    left = np.searchsorted(ends, rows, side="left") + 1  # index in pad of the last end < row
    right = np.searchsorted(starts, rows, side="right") + 2  # index in spad of first start > row
    out = []
    for near in (pad[left], pad[left - 1]):
        out.append(np.where(near >= first, rows - near, np.inf))
    for near in (spad[right], spad[right + 1]):
        out.append(np.where(near < stop, near - rows, np.inf))
    return out[0], out[1], out[2], out[3]


def _segment_peaks(s: Floats, starts: Ints, ends: Ints, first: Ints, stop: Ints, h: int) -> Floats:
    """Peak score of each run buffered by h each side, runs merged where buffers meet."""
    a = np.maximum(starts - h, first[starts])
    b = np.minimum(ends + h, stop[ends] - 1)
    padded = np.append(s, -np.inf)  # so that b + 1 == n is a valid reduceat index
    bounds = np.column_stack([a, b + 1]).ravel()
    run_peaks = np.maximum.reduceat(padded, bounds)[::2]
    same_entity = first[starts[1:]] == first[ends[:-1]]
    joined = same_entity & (ends[:-1] + h >= starts[1:] - h)
    group_starts = np.flatnonzero(np.concatenate([[True], ~joined]))
    peaks: Floats = np.maximum.reduceat(run_peaks, group_starts)
    return peaks


def volumes(
    scores: Array,
    labels: Array,
    window: int = DEFAULT_WINDOW,
    *,
    thresholds: int = DEFAULT_THRESHOLDS,
    breaks: Breaks = (),
) -> Volumes:
    """VUS-PR and VUS-ROC over buffer lengths 0..window; NaN with one class only."""
    if window < 0 or thresholds < 1:
        raise ValueError(f"window must be >= 0 and thresholds >= 1, got {window}, {thresholds}")
    s = np.asarray(scores, dtype=np.float64).ravel()
    lab = np.asarray(labels).astype(bool).ravel()
    if s.shape != lab.shape:
        raise ValueError(f"{s.size} scores for {lab.size} labels")
    keep = ~np.isnan(s)
    if not keep.all():  # drop NaN rows; shift the entity breaks with them
        kept_before = np.concatenate([[0], np.cumsum(keep)])
        breaks = [int(kept_before[b]) for b in breaks if 0 < b < s.size]
        s, lab = s[keep], lab[keep]
    n, positives = s.size, int(np.count_nonzero(lab))
    if not 0 < positives < n:
        return Volumes(math.nan, math.nan)
    first, stop = _entity_bounds(n, breaks)
    starts, ends_excl = events(lab, breaks)
    ends = ends_excl - 1  # inclusive, as the reference's ranges

    # Thresholds: the scores at evenly spaced ranks, highest first; flag = score >= t.
    t = np.sort(s)[::-1][np.linspace(0, n - 1, thresholds).astype(int)]
    ascending = np.sort(s)
    flagged = n - np.searchsorted(ascending, t, side="left")
    tp_labelled = positives - np.searchsorted(np.sort(s[lab]), t, side="left")

    # Normal rows a buffer of length `window` can reach, and from which threshold on each
    # is flagged: their buffer weights summed per threshold give the buffer's true positives.
    dl1, dl2, dr1, dr2 = _distances(n, starts, ends, first, stop)
    near = ~lab & (np.minimum(dl1, dr1) <= window // 2)
    dl1, dl2, dr1, dr2 = dl1[near], dl2[near], dr1[near], dr2[near]
    first_flag = np.searchsorted(-t, -s[near], side="left")

    ap = np.empty(window + 1)
    auc = np.empty(window + 1)
    for w in range(window + 1):
        h = w // 2
        count = (dl1 <= h).astype(int) + (dl2 <= h) + (dr1 <= h) + (dr2 <= h)
        d = np.where(dl1 <= h, dl1, dr1)
        # Two or more edges reach the row: each weighs >= sqrt(1/2), so the cap gives 1.
        one = np.sqrt(1 - np.minimum(d, h) / max(w, 1))
        weight = np.where(count >= 2, 1.0, np.where(count == 1, one, 0.0))
        tp_buffer = np.cumsum(np.bincount(first_flag, weights=weight, minlength=thresholds + 1))
        tp_buffer = tp_buffer[:thresholds]
        peaks = np.sort(_segment_peaks(s, starts, ends, first, stop, h))
        existence = (peaks.size - np.searchsorted(peaks, t, side="left")) / peaks.size

        tp = tp_labelled + tp_buffer
        p_new = positives + tp_buffer / 2  # the reference's (P + labels counted) / 2
        tpr = np.minimum(tp / p_new, 1.0) * existence
        fpr = (flagged - tp) / (n - p_new)
        precision = tp / flagged
        ap[w] = float(np.dot(np.diff(tpr, prepend=0.0), precision))
        x, y = np.concatenate([[0.0], fpr, [1.0]]), np.concatenate([[0.0], tpr, [1.0]])
        auc[w] = float(np.dot(np.diff(x), (y[1:] + y[:-1]) / 2))
    return Volumes(float(ap.mean()), float(auc.mean()))


def vus_pr(
    scores: Array,
    labels: Array,
    window: int = DEFAULT_WINDOW,
    *,
    thresholds: int = DEFAULT_THRESHOLDS,
    breaks: Breaks = (),
) -> float:
    """Volume under the range-PR surface (TSB-AD's VUS-PR); NaN with one class only."""
    return volumes(scores, labels, window, thresholds=thresholds, breaks=breaks).pr
