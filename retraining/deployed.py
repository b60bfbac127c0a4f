"""The model a worker serves an entity now, and how to train its successor the same way."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.artifacts import META_FILE, model_versions
from detectors.base import DetectorError
from detectors.pipeline import TrainConfig, TrainedModel, check_detector_params, load_trained

__all__ = ["DATASET_MODEL", "Deployed", "Overrides", "find_deployed", "train_config"]

log = logging.getLogger(__name__)

# The dataset-wide model a worker falls back on (stream_app.model_store.DATASET_MODEL).
DATASET_MODEL = "_default"


@dataclass(frozen=True)
class Deployed:
    """A loaded deployed version: the model, its metadata and where it lives."""

    model: TrainedModel
    meta: dict[str, Any]
    path: Path

    @property
    def detector(self) -> str:
        return str(self.meta["detector"])

    @property
    def channels(self) -> list[str]:
        return [str(c) for c in self.meta["channels"]]


def _detectors(owner_dir: Path) -> list[str]:
    """Detector folders of an owner, most recently trained first (as the worker orders them)."""
    if not owner_dir.is_dir():
        return []
    found = []
    for folder in owner_dir.iterdir():
        if not folder.is_dir():
            continue
        metas = sorted(folder.glob(f"v*/{META_FILE}"), key=lambda p: p.stat().st_mtime)
        if metas:
            found.append((metas[-1].stat().st_mtime, folder.name))
    return [name for _, name in sorted(found, reverse=True)]


def _newest_loadable(root: Path, dataset: str, owner: str, detector: str) -> Deployed | None:
    try:
        versions = model_versions(root, dataset, owner, detector)
    except DetectorError:
        return None
    for path in versions:
        try:
            model, meta = load_trained(path, device="cpu")
        # A version that does not load is skipped, as the worker skips it.
        except Exception as exc:  # noqa: BLE001
            log.warning("skipping %s, which does not load: %s", path, exc)
            continue
        return Deployed(model, meta, path)
    return None


def find_deployed(
    root: Path, dataset: str, entity: str, detector: str | None = None
) -> Deployed | None:
    """The entity's own newest loadable version, else the dataset's `_default` one; of
    `detector`, or of the most recently trained detector. None when neither exists."""
    for owner in (entity, DATASET_MODEL):
        names = [detector] if detector else _detectors(root / dataset / owner)
        for name in names:
            deployed = _newest_loadable(root, dataset, owner, name)
            if deployed is not None:
                return deployed
    return None


@dataclass(frozen=True)
class Overrides:
    """What a retrain changes from the deployed model's settings (None/empty: keep them)."""

    detector: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    window: int | None = None
    threshold: str | None = None
    threshold_params: dict[str, Any] = field(default_factory=dict)
    train_stride: int = 1
    device: str | None = None


def train_config(meta: dict[str, Any], overrides: Overrides) -> TrainConfig:
    """The TrainConfig that trains like the deployed model: its detector and parameters,
    window, threshold, adaptive scoring and sensor health, changed by `overrides`."""
    detector = overrides.detector or str(meta["detector"])
    same = detector == meta["detector"]
    params = {**(dict(meta["params"]) if same else {}), **overrides.params}
    if overrides.device is not None and "device" in params:
        params["device"] = overrides.device
    if "progress" in params:
        params["progress"] = False  # no progress bars in a service's log
    check_detector_params(detector, params)
    saved = dict(meta["threshold"])
    kind = overrides.threshold or str(saved["kind"])
    threshold = {
        "kind": kind,
        **(dict(saved.get("params", {})) if kind == saved["kind"] else {}),
        **overrides.threshold_params,
    }
    adaptive = meta.get("adaptive")
    return TrainConfig(
        detector=detector,
        params=params,
        window=overrides.window or int(meta["window"]),
        train_stride=overrides.train_stride,
        threshold=threshold,
        adaptive=None if adaptive is None else dict(adaptive["params"]),
        health=bool(meta.get("health")),
    )
