"""Every metric of one evaluation in one record, per entity and pooled over entities."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from detectors.metrics import (
    Array,
    Breaks,
    Segment,
    auc_pr,
    auc_roc,
    best_f1,
    best_fc1,
    composite_f1,
    event_recall,
    events,
    hit_rate,
    pair,
    point_adjusted_f1,
    precision_recall_f1,
    random_point_adjusted_f1,
)

__all__ = ["EntityArrays", "EvaluationResult", "combine", "evaluate", "evaluate_pooled"]


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Every metric of one evaluation; `dataclasses.asdict` gives JSON-able numbers."""

    n_points: int
    n_anomalous: int
    n_events: int
    n_predicted: int
    precision: float
    recall: float
    f1: float
    event_recall: float
    fc1: float
    pa_f1: float
    random_pa_f1: float  # same protocol, random detector flagging `random_rate` of points
    random_rate: float
    auc_pr: float
    auc_roc: float
    best_f1: float  # threshold chosen on the test labels: reference only
    best_f1_threshold: float
    best_fc1: float
    best_fc1_threshold: float
    hitrate_100: float = math.nan  # NaN when no contributions or segments were given
    hitrate_150: float = math.nan


def evaluate(
    scores: Array,
    labels: Array,
    predictions: Array,
    *,
    contributions: Array | None = None,
    segments: Sequence[Segment] = (),
    random_rate: float | None = None,
    seed: int = 0,
    breaks: Breaks = (),
) -> EvaluationResult:
    """All metrics: thresholded ones from `predictions`, AUCs and `best_*` from `scores`.

    `random_rate` defaults to the detector's own positive rate. `breaks` are the indices where
    a new entity starts when arrays are concatenated (see `evaluate_pooled`).
    """
    pred, lab = pair(predictions, labels)
    if random_rate is None:
        random_rate = float(pred.mean()) if pred.size else 0.0
    point = precision_recall_f1(pred, lab)
    b_f1, b_fc1 = best_f1(scores, lab), best_fc1(scores, lab, breaks=breaks)
    hits = [math.nan, math.nan]
    if contributions is not None and segments:
        hits = [hit_rate(contributions, segments, percent=p) for p in (100, 150)]
    return EvaluationResult(
        n_points=int(lab.size),
        n_anomalous=int(np.count_nonzero(lab)),
        n_events=int(events(lab, breaks)[0].size),
        n_predicted=int(np.count_nonzero(pred)),
        precision=point.precision,
        recall=point.recall,
        f1=point.f1,
        event_recall=event_recall(pred, lab, breaks),
        fc1=composite_f1(pred, lab, breaks),
        pa_f1=point_adjusted_f1(pred, lab, breaks),
        random_pa_f1=random_point_adjusted_f1(lab, random_rate, seed, breaks=breaks),
        random_rate=random_rate,
        auc_pr=auc_pr(scores, lab),
        auc_roc=auc_roc(scores, lab),
        best_f1=b_f1.value,
        best_f1_threshold=b_f1.threshold,
        best_fc1=b_fc1.value,
        best_fc1_threshold=b_fc1.threshold,
        hitrate_100=hits[0],
        hitrate_150=hits[1],
    )


class EntityArrays(NamedTuple):
    """One entity's test arrays, for `evaluate_pooled`."""

    scores: Array
    labels: Array
    predictions: Array
    contributions: Array | None = None
    segments: Sequence[Segment] = ()


def evaluate_pooled(entities: Sequence[EntityArrays], seed: int = 0) -> EvaluationResult:
    """The overall row (recommended): metrics on all entities' points and events concatenated.

    Events never span two entities; `best_*` pick one threshold for all entities; HitRate is
    computed only if every entity has contributions.
    """
    if not entities:
        raise ValueError("no entities to evaluate")
    lengths = [np.asarray(e.labels).size for e in entities]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    cat = [np.concatenate([np.ravel(np.asarray(e[i])) for e in entities]) for i in range(3)]
    contributions = None
    if entities and all(e.contributions is not None for e in entities):
        contributions = np.concatenate([np.asarray(e.contributions) for e in entities])
    segments = [
        (s + int(off), t + int(off), ch)
        for e, off in zip(entities, offsets, strict=False)
        for s, t, ch in e.segments
    ]
    return evaluate(
        *cat,
        contributions=contributions,
        segments=segments,
        seed=seed,
        breaks=[int(o) for o in offsets[1:-1]],
    )


_SUMMED = ("n_points", "n_anomalous", "n_events", "n_predicted")


def combine(
    results: Sequence[EvaluationResult], weights: Sequence[float] | None = None
) -> EvaluationResult:
    """Per-entity average (the other convention; `evaluate_pooled` is the recommended one).

    Counts are summed; every rate is the weighted mean over the entities where it is defined
    (weights default to each entity's point count); thresholds become NaN, since one
    entity's threshold means nothing for another.
    """
    if not results:
        raise ValueError("no results to combine")
    w = np.asarray(weights if weights is not None else [r.n_points for r in results], float)
    row: dict[str, Any] = {}
    for field in dataclasses.fields(EvaluationResult):
        values = np.array([getattr(r, field.name) for r in results], dtype=np.float64)
        if field.name in _SUMMED:
            row[field.name] = int(values.sum())
        elif field.name.endswith("_threshold"):
            row[field.name] = math.nan
        else:
            ok = ~np.isnan(values) & (w > 0)
            row[field.name] = float(np.average(values[ok], weights=w[ok])) if ok.any() else math.nan
    return EvaluationResult(**row)
