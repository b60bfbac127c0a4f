"""Train per entity and save artifacts; evaluate on the test split with label-free thresholds.

`evaluate_entities` also writes, per entity, `<out>/scores/<entity>.npz` (see `save_arrays`)
so that anyone can recompute every metric from the per-point arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from detectors.artifacts import latest_version
from detectors.pipeline import (
    TrainConfig,
    TrainedModel,
    load_trained,
    save_trained,
    score_series,
    train,
)
from detectors.results import EntityArrays, EvaluationResult, evaluate, evaluate_pooled
from detectors.vus import period
from evaluation.plots import plot_entity
from producers.datasets import DatasetError, DatasetLoader, EntityData

__all__ = ["EntityResult", "evaluate_entities", "save_arrays", "train_entities"]

log = logging.getLogger(__name__)


@dataclass
class EntityResult:
    """One entity's evaluation: the metrics, the deployed threshold, where its plot is."""

    entity: str
    result: EvaluationResult
    threshold: float
    plot: str | None = None

    def row(self) -> dict[str, Any]:
        return {"entity": self.entity, **asdict(self.result), "threshold": self.threshold}


def _save(models_dir: Path, data: EntityData, config: TrainConfig, model: TrainedModel) -> Path:
    return save_trained(
        models_dir, model, dataset=data.dataset, entity=data.entity, channels=data.channels
    )


def _load(path: Path, data: EntityData, device: str | None) -> TrainedModel:
    # A model trained on other channels would score garbage: load_trained refuses it by name.
    model, _ = load_trained(path, list(data.channels), device=device)
    return model


def train_entities(
    loader: DatasetLoader,
    entities: Iterable[str],
    config: TrainConfig,
    models_dir: Path,
    progress: bool = True,
) -> list[Path]:
    """Train one model per entity and save each as a new artifact version."""
    paths = []
    for name in tqdm(list(entities), desc=f"training {config.detector}", disable=not progress):
        data = loader.load(name)
        model = train(data.train.values, config)
        paths.append(_save(models_dir, data, config, model))
        log.info("saved %s", paths[-1])
    return paths


def _model_for(
    data: EntityData, config: TrainConfig, models_dir: Path, retrain: bool
) -> TrainedModel:
    path = (
        None if retrain else latest_version(models_dir, data.dataset, data.entity, config.detector)
    )
    if path is not None:
        log.info("using %s", path)
        device = config.params.get("device")
        return _load(path, data, device if isinstance(device, str) else None)
    model = train(data.train.values, config)
    _save(models_dir, data, config, model)
    return model


def _segments(data: EntityData) -> list[tuple[int, int, list[int]]]:
    """Root causes as (first row, last row, channel indices) for the hit rate."""
    index = {name: i for i, name in enumerate(data.channels)}
    return [
        (cause.start, cause.end, [index[c] for c in cause.channels if c in index])
        for cause in data.root_causes
    ]


def _safe(entity: str) -> str:
    return entity.replace("/", "_")


def save_arrays(
    path: Path,
    *,
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    predictions: npt.ArrayLike,
    threshold: float,
    contributions: npt.ArrayLike | None = None,
) -> Path:
    """One entity's per-point arrays as npz: `scores` (float64), `labels` (int8),
    `predictions` (bool, the deployed decision), `threshold` (a 0-d float64) and, when the
    detector has them, `contributions` (float64, rows x channels). Loads with plain
    `np.load(path)`: no pickle."""
    arrays: dict[str, npt.NDArray[Any]] = {
        "scores": np.asarray(scores, dtype=np.float64),
        "labels": np.asarray(labels).astype(np.int8),
        "predictions": np.asarray(predictions).astype(bool),
        "threshold": np.asarray(threshold, dtype=np.float64),
    }
    if contributions is not None:
        arrays["contributions"] = np.asarray(contributions, dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, allow_pickle=False, **arrays)
    return path


def evaluate_entities(
    loader: DatasetLoader,
    entities: Iterable[str],
    config: TrainConfig,
    models_dir: Path,
    out_dir: Path,
    *,
    retrain: bool = False,
    plots: bool = True,
    arrays: bool = True,
    progress: bool = True,
) -> tuple[list[EntityResult], EvaluationResult]:
    """Score every entity's test split; metrics per entity and pooled over all points.

    With `arrays`, each entity's scores, labels, predictions, threshold and contributions go
    to `out_dir/scores/<entity>.npz` (`save_arrays`); with `plots`, a PNG to `out_dir/plots`.
    """
    results: list[EntityResult] = []
    pooled: list[EntityArrays] = []
    for name in tqdm(list(entities), desc=f"evaluating {config.detector}", disable=not progress):
        data = loader.load(name)
        if data.test.labels is None:
            log.warning("%s has no test labels; skipped", name)
            continue
        model = _model_for(data, config, models_dir, retrain)
        # A cold start's test rows follow its probation: their first windows reach back.
        context = data.train.values if data.test_follows_train else None
        scores, contributions = score_series(
            model, data.test.values, contributions=True, context=context
        )
        predictions = model.threshold.decide(scores)
        labels = data.test.labels
        segments = _segments(data)
        window = period(data.test.values[:, 0])  # TSB-AD's VUS window: the first channel's
        result = evaluate(
            scores,
            labels,
            predictions,
            contributions=contributions,
            segments=segments,
            vus_window=window,
        )
        entity = EntityResult(name, result, model.threshold.value)
        if arrays:
            save_arrays(
                out_dir / "scores" / f"{_safe(name)}.npz",
                scores=scores,
                labels=labels,
                predictions=predictions,
                threshold=model.threshold.value,
                contributions=contributions,
            )
        if plots:
            order = None
            if contributions is not None:
                order = np.argsort(-np.nanmean(contributions, axis=0)).tolist()
            entity.plot = str(
                plot_entity(
                    out_dir / "plots" / f"{_safe(name)}.png",
                    title=f"{data.dataset} {name}: {config.detector}",
                    values=data.test.values,
                    channels=list(data.channels),
                    scores=scores,
                    threshold=model.threshold.value,
                    labels=labels,
                    predictions=predictions,
                    channel_order=order,
                )
            )
        results.append(entity)
        # Pooled scores are divided by each entity's threshold, so that one scale (1.0 =
        # the deployed threshold) holds across entities for AUC-PR and best_*.
        scale = model.threshold.value if model.threshold.value > 0 else 1.0
        pooled.append(
            EntityArrays(scores / scale, labels, predictions, contributions, segments, window)
        )
    if not pooled:
        raise DatasetError("no entity with test labels to evaluate")
    return results, evaluate_pooled(pooled)
