"""One entity's retrain: leave out alerted and labelled readings, hold out the latest ones,
train as `anomstream train` does, judge both models on the held-out readings, save."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from detectors.base import DetectorError
from detectors.pipeline import TrainedModel, save_trained, score_series, train
from detectors.thresholds import ThresholdError
from retraining.deployed import Deployed, Overrides, train_config
from retraining.exclusion import AlertSpan, exclude
from retraining.guard import decide, false_alarm_rate
from retraining.readings import EntityReadings

__all__ = ["EntityOptions", "EntityOutcome", "retrain_entity"]

log = logging.getLogger(__name__)

Status = Literal["promoted", "candidate", "skipped", "judged"]


@dataclass(frozen=True)
class EntityOptions:
    """How every entity of a run is retrained and judged."""

    models_dir: Path
    dataset: str
    overrides: Overrides
    holdout: float = 0.2
    margin: float = 0.01
    min_rows: int = 500
    include_alerts: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class EntityOutcome:
    """What happened to one entity, for the log and the run's summary."""

    entity: str
    status: Status
    reason: str
    rows: int = 0
    in_alerts: int = 0
    labelled: int = 0
    old_rate: float | None = None
    new_rate: float | None = None
    path: Path | None = None

    def line(self) -> str:
        where = f" -> {self.path}" if self.path is not None else ""
        return (
            f"{self.entity}: {self.status}: {self.rows} readings, {self.in_alerts} in alerts "
            f"and {self.labelled} labelled anomalous left out; {self.reason}{where}"
        )


def _score_rate(
    model: TrainedModel, held: npt.NDArray[np.float64], context: npt.NDArray[np.float64]
) -> float:
    scores, _ = score_series(model, held, context=context)
    return false_alarm_rate(scores, model.threshold.value)


def retrain_entity(
    readings: EntityReadings,
    deployed: Deployed,
    spans: Sequence[AlertSpan],
    options: EntityOptions,
) -> EntityOutcome:
    """Retrain one entity; a model that passes the guard becomes its next version, one that
    fails it the next candidate (kept for inspection, never served)."""
    config = train_config(deployed.meta, options.overrides)
    seqs, labels, rows = readings.arrays(deployed.channels)
    # The deployed model's windows raised the alerts: they reached back window - 1 readings.
    lead = deployed.model.window - 1
    left_out = exclude(seqs, labels, [] if options.include_alerts else spans, lead)
    kept = rows[left_out.keep]

    def outcome(status: Status, reason: str, **more: Any) -> EntityOutcome:
        counts = len(rows), left_out.in_alerts, left_out.labelled
        return EntityOutcome(readings.entity, status, reason, *counts, **more)

    absent = [c for i, c in enumerate(deployed.channels) if np.isnan(kept[:, i]).all()]
    if len(kept) and absent:
        return outcome("skipped", f"no readings carry the model's channels {', '.join(absent)}")
    held_rows = max(int(round(len(kept) * options.holdout)), config.window)
    if len(kept) < options.min_rows or len(kept) - held_rows < config.window + 2:
        return outcome(
            "skipped", f"only {len(kept)} readings left to train on (at least {options.min_rows})"
        )
    fit_rows, held = kept[:-held_rows], kept[-held_rows:]
    try:
        model = train(fit_rows, config)
    except (DetectorError, ThresholdError) as exc:
        return outcome("skipped", f"training failed: {exc}")
    new_rate = _score_rate(model, held, fit_rows)
    old_rate = _score_rate(deployed.model, held, fit_rows)
    verdict = decide(new_rate, old_rate, options.margin)
    own = deployed.path.parent.parent == options.models_dir / options.dataset / readings.entity
    old = deployed.path.name if own else f"{deployed.path.parent.parent.name} {deployed.path.name}"
    reason = f"{verdict.reason} on the latest {len(held)} readings (deployed: {old})"
    if options.dry_run:
        judged = "would promote" if verdict.promote else "would keep as a candidate"
        return outcome("judged", f"{judged}: {reason}", old_rate=old_rate, new_rate=new_rate)
    path = save_trained(
        options.models_dir,
        model,
        dataset=options.dataset,
        entity=readings.entity,
        channels=deployed.channels,
        candidate=not verdict.promote,
    )
    return outcome(
        "promoted" if verdict.promote else "candidate",
        reason,
        old_rate=old_rate,
        new_rate=new_rate,
        path=path,
    )
