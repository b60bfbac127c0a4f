"""Every metric of one evaluation in one record, per entity, their mean, and pooled.

The field reports the unweighted mean of per-entity values (Garg et al. 2021, Sarfraz et al.
2024): `mean_of_entities` is that headline; `evaluate_pooled` (every entity's points and
events concatenated, one threshold for all) is the other view, reported beside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from detectors import vus
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

__all__ = [
    "EntityArrays",
    "EvaluationResult",
    "combine",
    "evaluate",
    "evaluate_pooled",
    "jsonable",
    "mean_of_entities",
]


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Every metric of one evaluation; `jsonable(dataclasses.asdict(r))` is strict JSON."""

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
    vus_pr: float  # TSB-AD's VUS-PR, buffers 0..vus_window (see detectors.vus)
    vus_roc: float
    vus_window: float  # NaN in a mean of entities, whose windows differ
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
    vus_window: int = vus.DEFAULT_WINDOW,
) -> EvaluationResult:
    """All metrics: thresholded ones from `predictions`; AUCs, VUS and `best_*` from `scores`.

    `random_rate` defaults to the detector's own positive rate. `breaks` are the indices where
    a new entity starts when arrays are concatenated (see `evaluate_pooled`). `vus_window` is
    the largest VUS buffer; TSB-AD takes `vus.period` of the series' first channel.
    """
    pred, lab = pair(predictions, labels)
    if random_rate is None:
        random_rate = float(pred.mean()) if pred.size else 0.0
    point = precision_recall_f1(pred, lab)
    b_f1, b_fc1 = best_f1(scores, lab), best_fc1(scores, lab, breaks=breaks)
    volumes = vus.volumes(scores, lab, vus_window, breaks=breaks)
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
        vus_pr=volumes.pr,
        vus_roc=volumes.roc,
        vus_window=float(vus_window),
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
    vus_window: int = vus.DEFAULT_WINDOW


def evaluate_pooled(entities: Sequence[EntityArrays], seed: int = 0) -> EvaluationResult:
    """The pooled row: metrics on all entities' points and events concatenated.

    Events and VUS buffers never span two entities; `best_*` pick one threshold for all
    entities; VUS uses the median of the entities' windows; HitRate is computed only if every
    entity has contributions.
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
        vus_window=int(np.median([e.vus_window for e in entities])),
    )


_SUMMED = ("n_points", "n_anomalous", "n_events", "n_predicted")
_PER_ENTITY = ("vus_window",)  # like thresholds: one entity's value means nothing for another


def combine(
    results: Sequence[EvaluationResult], weights: Sequence[float] | None = None
) -> EvaluationResult:
    """Mean over entities: counts summed, every rate averaged where it is defined.

    Weights default to equal (the unweighted mean the field reports); pass the entities'
    point counts for a size-weighted mean. Thresholds and VUS windows become NaN, since one
    entity's value means nothing for another.
    """
    if not results:
        raise ValueError("no results to combine")
    w = np.asarray(weights if weights is not None else [1.0] * len(results), float)
    if w.shape != (len(results),):
        raise ValueError(f"{w.size} weights for {len(results)} results")
    row: dict[str, Any] = {}
    for field in dataclasses.fields(EvaluationResult):
        values = np.array([getattr(r, field.name) for r in results], dtype=np.float64)
        if field.name in _SUMMED:
            row[field.name] = int(values.sum())
        elif field.name.endswith("_threshold") or field.name in _PER_ENTITY:
            row[field.name] = math.nan
        else:
            ok = ~np.isnan(values) & (w > 0)
            row[field.name] = float(np.average(values[ok], weights=w[ok])) if ok.any() else math.nan
    return EvaluationResult(**row)


def mean_of_entities(results: Sequence[EvaluationResult]) -> EvaluationResult:
    """The headline row: the unweighted mean of per-entity values (Garg et al., Sarfraz et al.)."""
    return combine(results)


def jsonable(value: Any) -> Any:
    """`value` with NaN and infinities as None and numpy scalars as Python numbers, so that
    `json.dumps(..., allow_nan=False)` succeeds (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
