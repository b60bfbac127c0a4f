"""Train a detector on one entity's series and score series with it, the same way everywhere.

The offline evaluator and the stream app both go through `score_series`, so the scores they
produce for the same model and data are the same.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.adaptive import Adaptation, AdaptiveState, adapt
from detectors.artifacts import check_compatible, load_model, save_model
from detectors.base import Detector, DetectorError
from detectors.hyperparams import check_params
from detectors.registry import detector_class
from detectors.sensor_health import SensorHealth
from detectors.thresholds import Threshold, make_threshold, threshold_from_dict
from detectors.windows import Normalizer, point_scores, sliding_windows

__all__ = [
    "TrainConfig",
    "TrainedModel",
    "build_detector",
    "check_detector_params",
    "contribution_rows",
    "data_hash",
    "load_trained",
    "save_trained",
    "score_series",
    "score_windows",
    "train",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# Scoring in chunks keeps memory flat: 30k windows of 100 x 38 floats would be 450 MB at once.
_SCORE_CHUNK = 8192


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the detector and its parameters, windowing, the label-free threshold."""

    detector: str
    params: dict[str, Any] = field(default_factory=dict)
    window: int = 100
    # Stride of training windows; 1 uses every window, larger trains faster on long series.
    train_stride: int = 1
    # The last part of the training split scores the threshold, never fits the detector.
    validation_fraction: float = 0.2
    threshold: dict[str, Any] = field(default_factory=lambda: {"kind": "pot"})
    # Adaptive scoring (detectors.adaptive) settings; None scores with the detector alone.
    adaptive: dict[str, Any] | None = None
    # Sensor-health rules (detectors.sensor_health): a channel gone missing or flat alerts.
    health: bool = True


@dataclass
class TrainedModel:
    """A fitted detector with the normalisation and threshold it was fitted with.

    With `adaptation`, scores are the adaptive ones (detectors.adaptive) and `adaptive_start`
    is the state every entity starts from: the statistics at the end of the validation tail.
    """

    detector: Detector
    normalizer: Normalizer
    threshold: Threshold
    window: int
    train_seconds: float = 0.0
    train_hash: str = ""
    adaptation: Adaptation | None = None
    adaptive_start: AdaptiveState | None = None
    health: SensorHealth | None = None

    def start_state(self) -> AdaptiveState | None:
        """A fresh copy of the state a new entity starts from (None without adaptation)."""
        return None if self.adaptive_start is None else self.adaptive_start.copy()


def data_hash(values: npt.ArrayLike) -> str:
    """sha256 of the training values, recorded with a model to tell what it learnt from."""
    array = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    return hashlib.sha256(array.tobytes()).hexdigest()


def train(train_values: npt.ArrayLike, config: TrainConfig) -> TrainedModel:
    """Fit on the head of the training split, calibrate the threshold on its tail."""
    values = np.asarray(train_values, dtype=np.float64)
    if len(values) < config.window + 2:
        raise DetectorError(
            f"{len(values)} training rows are too few for windows of {config.window}"
        )
    started = time.perf_counter()
    normalizer = Normalizer.fit(values)
    normalised = normalizer.transform(values)
    split = int(len(normalised) * (1 - config.validation_fraction))
    # The tail starts window-1 rows early so its first window is complete; no tail row is
    # ever in a window the detector was fitted on beyond that overlap.
    head = sliding_windows(normalised[:split], config.window, config.train_stride)
    tail = sliding_windows(normalised[max(split - config.window + 1, 0) :], config.window)
    if len(head) == 0 or len(tail) == 0:
        raise DetectorError("not enough training rows for both fitting and a validation tail")
    detector = build_detector(config.detector, config.params)
    detector.fit(head)
    adaptation = None if config.adaptive is None else Adaptation.from_dict(config.adaptive)
    start: AdaptiveState | None = None
    if adaptation is None:
        tail_scores = _score_windows(detector, tail)
    else:
        # The tail's contributions start the statistics; adapting through the tail (nothing
        # frozen: no threshold yet) gives the scores the threshold is fitted on and leaves
        # the state every entity starts from.
        contributions = contribution_rows(detector, tail)
        start = AdaptiveState.start(contributions, adaptation)
        tail_scores, _ = adapt(contributions, start, adaptation, math.inf)
    threshold_params = {k: v for k, v in config.threshold.items() if k != "kind"}
    threshold = make_threshold(config.threshold["kind"], **threshold_params).fit(tail_scores)
    # A run longer than the window would need rows the stream no longer holds.
    health = SensorHealth.fit(values, min(10, config.window)) if config.health else None
    seconds = time.perf_counter() - started
    log.info(
        "trained %s on %d windows in %.1fs; threshold %s = %.4g",
        config.detector, len(head), seconds, config.threshold["kind"], threshold.value,
    )  # fmt: skip
    return TrainedModel(
        detector,
        normalizer,
        threshold,
        config.window,
        seconds,
        data_hash(values),
        adaptation,
        start,
        health,
    )


def load_trained(
    path: Path | str, channels: Sequence[str] | None = None, device: str | None = None
) -> tuple[TrainedModel, dict[str, Any]]:
    """The model saved in a `v<N>` directory, with its metadata.

    `channels` (the live feed's, in order) are checked against the model's by name;
    `device` overrides where a deep detector runs (the machine may differ from training's).
    """
    loaded = load_model(path, device=device)
    meta = loaded.meta
    if channels is not None:
        check_compatible(meta, channels)
    normalizer = Normalizer(
        np.asarray(meta["normalizer"]["mean"], dtype=np.float64),
        np.asarray(meta["normalizer"]["std"], dtype=np.float64),
    )
    adaptive = meta.get("adaptive")
    model = TrainedModel(
        loaded.detector,
        normalizer,
        threshold_from_dict(meta["threshold"]),
        int(meta["window"]),
        train_hash=str(meta.get("train_hash", "")),
        adaptation=None if adaptive is None else Adaptation.from_dict(adaptive["params"]),
        adaptive_start=None if adaptive is None else AdaptiveState.from_dict(adaptive["start"]),
        # Models saved before sensor health existed have no rules: they score as they did.
        health=SensorHealth.from_dict(meta["health"]) if meta.get("health") else None,
    )
    return model, meta


def save_trained(
    root: Path | str,
    model: TrainedModel,
    *,
    dataset: str,
    entity: str,
    channels: Sequence[str],
    candidate: bool = False,
) -> Path:
    """Save `model` as the next version for (dataset, entity), or as the next candidate
    (not served: see `save_model`); `load_trained` reads either back."""
    return save_model(
        root,
        model.detector,
        dataset=dataset,
        entity=entity,
        channels=list(channels),
        window=model.window,
        stride=1,
        normalizer_mean=model.normalizer.mean,
        normalizer_std=model.normalizer.std,
        threshold=model.threshold.to_dict(),
        train_hash=model.train_hash,
        adaptive=_adaptive_meta(model),
        health=None if model.health is None else model.health.to_dict(),
        candidate=candidate,
    )


def _adaptive_meta(model: TrainedModel) -> dict[str, Any] | None:
    if model.adaptation is None or model.adaptive_start is None:
        return None
    return {"params": model.adaptation.to_dict(), "start": model.adaptive_start.to_dict()}


def check_detector_params(name: str, params: dict[str, Any]) -> None:
    """DetectorError, naming the accepted parameters, for an unknown name or a value of the
    wrong type (`epochs="abc"`); out-of-range values are the constructor's to refuse."""
    check_params(name, detector_class(name).keywords(), params)


def build_detector(name: str, params: dict[str, Any]) -> Detector:
    """The detector `name` with `params`, checked first by `check_detector_params`."""
    check_detector_params(name, params)
    return detector_class(name)(**params)


def _score_windows(detector: Detector, windows: npt.NDArray[np.float32]) -> FloatArray:
    parts = [
        detector.score(windows[i : i + _SCORE_CHUNK]) for i in range(0, len(windows), _SCORE_CHUNK)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def contribution_rows(detector: Detector, windows: npt.NDArray[np.float32]) -> FloatArray:
    """(n, C) per-channel contributions of windows, or (n, 1) scores for a detector that
    cannot attribute: what adaptive scoring judges."""
    if len(windows) == 0:
        return np.empty((0, windows.shape[2]))
    try:
        parts = [
            detector.contributions(windows[i : i + _SCORE_CHUNK])
            for i in range(0, len(windows), _SCORE_CHUNK)
        ]
    except DetectorError:
        return _score_windows(detector, windows)[:, None]
    return np.concatenate(parts)


def score_windows(
    model: TrainedModel,
    windows: npt.NDArray[np.float32],
    state: AdaptiveState | None = None,
    contributions: bool = False,
    flags: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """Scores of consecutive windows of one entity, and per-channel contributions.

    With adaptation, `state` (the entity's, advanced in place) must be given, and the
    contributions are the per-channel adaptive scores; `flags` (the sensor-health flags of
    each window's last reading) raise the flagged rows' scores. The stream and
    `score_series` both come here, so they agree.
    """
    scores, per_channel = _scores_and_contributions(model, windows, state, contributions)
    if flags is not None and model.health is not None:
        scores, per_channel = model.health.apply(scores, flags, model.threshold.value, per_channel)
    return scores, per_channel


def _scores_and_contributions(
    model: TrainedModel,
    windows: npt.NDArray[np.float32],
    state: AdaptiveState | None,
    contributions: bool,
) -> tuple[FloatArray, FloatArray | None]:
    if model.adaptation is None:
        scores = _score_windows(model.detector, windows)
        if not contributions:
            return scores, None
        try:
            parts = [
                model.detector.contributions(windows[i : i + _SCORE_CHUNK])
                for i in range(0, len(windows), _SCORE_CHUNK)
            ]
        except DetectorError:
            return scores, None
        return scores, np.concatenate(parts) if parts else np.empty((0, windows.shape[2]))
    if state is None:
        raise DetectorError("adaptive scoring needs the entity's state")
    raw = contribution_rows(model.detector, windows)
    return adapt(raw, state, model.adaptation, model.threshold.value, channel_scores=contributions)


def score_series(
    model: TrainedModel,
    values: npt.ArrayLike,
    contributions: bool = False,
    state: AdaptiveState | None = None,
    context: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """Point scores (rows,) of a series, and per-channel contributions (rows, channels).

    Row t is scored by the window ending at t (rows before the first full window take the
    first window's score), which is what a stream scoring each new reading computes. With
    `context`, the rows just before the series (up to window - 1 of its last ones) fill the
    first windows, as a stream's window reaches back past a cold start's probation. An
    adaptive model starts from `state` (default: a copy of the model's start state).
    """
    series = np.asarray(values, dtype=np.float64)
    lead = 0
    if context is not None:
        before = np.asarray(context, dtype=np.float64)
        lead = min(len(before), model.window - 1)
        if lead:
            series = np.concatenate([before[len(before) - lead :], series])
    normalised = model.normalizer.transform(series)
    windows = sliding_windows(normalised, model.window)
    if state is None:
        state = model.start_state()
    flags = None
    if model.health is not None and len(windows):
        # Each window's last reading, with the raw rows before it that the rules look at.
        first = max(model.window - 1 - model.health.context, 0)
        flags = model.health.flags(series[first:], len(windows))
    per_window, per_channel = score_windows(model, windows, state, contributions, flags)
    scores = point_scores(per_window, len(normalised), model.window)[lead:]
    if per_channel is None:
        return scores, None
    width = per_channel.shape[1]
    rows = np.empty((len(normalised), width))
    first = model.window - 1
    rows[first:] = per_channel
    rows[:first] = per_channel[0] if len(per_channel) else np.nan
    return scores, rows[lead:]
