"""Trained models for the entities the worker sees, from the models directory, kept current.

Layout as written by `anomstream train`: `<root>/<dataset>/<entity>/<detector>/v<N>/`. A
dataset-wide model may live under the entity name `_default`. New versions are picked up
by `refresh()` without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.artifacts import latest_version
from detectors.base import DetectorError
from detectors.pipeline import TrainedModel, load_trained

__all__ = ["DATASET_MODEL", "ActiveModel", "ModelStore", "ModelSwap"]

log = logging.getLogger(__name__)

DATASET_MODEL = "_default"


@dataclass(frozen=True)
class ActiveModel:
    """A loaded model and what the stream needs to know about it."""

    model: TrainedModel
    path: Path
    dataset: str
    owner: str  # the entity it was trained for, or DATASET_MODEL
    detector: str
    version: str  # "v3"
    channels: tuple[str, ...]

    @property
    def window(self) -> int:
        return self.model.window

    @property
    def threshold(self) -> float:
        return self.model.threshold.value


@dataclass(frozen=True)
class ModelSwap:
    """A newer version replaced the one in use."""

    dataset: str
    owner: str
    old: str
    new: ActiveModel


class ModelStore:
    """Finds, loads and caches models; `refresh()` swaps in newer versions."""

    def __init__(
        self,
        root: Path,
        *,
        detector: str | None = None,
        device: str | None = None,
        dataset_fallback: bool = True,
        refresh_s: float = 5.0,
        torch_threads: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self._detector = detector
        self._device = device
        self._fallback = dataset_fallback
        self._refresh_s = refresh_s
        self._clock = clock
        self._models: dict[tuple[str, str], ActiveModel] = {}
        # Owners with no model: when they were last looked up, to look again later.
        self._missing: dict[tuple[str, str], float] = {}
        self.load_errors = 0
        self._torch_threads = torch_threads

    def preload(self, wanted: Callable[[str], bool]) -> int:
        """Load every model of the datasets `wanted` accepts now, so that no cycle stalls
        on a first load (for deep models, importing torch takes seconds)."""
        loaded = 0
        if not self.root.is_dir():
            return 0
        for dataset_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if not wanted(dataset_dir.name):
                continue
            for owner in sorted(p.name for p in dataset_dir.iterdir() if p.is_dir()):
                loaded += self._get(dataset_dir.name, owner) is not None
        return loaded

    def for_entity(self, dataset: str, entity: str) -> ActiveModel | None:
        """The entity's own model, else (if allowed) the dataset's, else None."""
        own = self._get(dataset, entity)
        if own is not None or not self._fallback:
            return own
        return self._get(dataset, DATASET_MODEL)

    def _get(self, dataset: str, owner: str) -> ActiveModel | None:
        key = (dataset, owner)
        if key in self._models:
            return self._models[key]
        checked = self._missing.get(key)
        if checked is not None and self._clock() - checked < self._refresh_s:
            return None
        path = self._latest(dataset, owner)
        model = self._load(dataset, owner, path) if path is not None else None
        if model is None:
            self._missing[key] = self._clock()
            return None
        self._missing.pop(key, None)
        self._models[key] = model
        log.info("model for %s/%s: %s", dataset, owner, model.path)
        return model

    def _latest(self, dataset: str, owner: str) -> Path | None:
        owner_dir = self.root / dataset / owner
        if self._detector is not None:
            return latest_version(self.root, dataset, owner, self._detector)
        if not owner_dir.is_dir():
            return None
        candidates = [
            path
            for d in sorted(owner_dir.iterdir())
            if d.is_dir() and (path := latest_version(self.root, dataset, owner, d.name))
        ]
        # Several detectors trained for one entity: the most recently trained one serves.
        return max(candidates, key=lambda p: (p / "meta.json").stat().st_mtime, default=None)

    def _load(self, dataset: str, owner: str, path: Path) -> ActiveModel | None:
        try:
            model, meta = load_trained(path, device=self._device)
        except (DetectorError, OSError, KeyError, ValueError) as exc:
            self.load_errors += 1
            log.error("cannot load the model at %s: %s", path, exc)
            return None
        if model.detector.uses_torch and self._torch_threads is not None:
            import torch  # only now: classic models never need it

            torch.set_num_threads(self._torch_threads)
        return _active(model, meta, path, dataset, owner)

    def refresh(self) -> list[ModelSwap]:
        """Load the newest version of every model in use; return the ones that changed."""
        swaps = []
        for (dataset, owner), current in list(self._models.items()):
            path = self._latest(dataset, owner)
            if path is None or path == current.path:
                continue
            model = self._load(dataset, owner, path)
            if model is None:
                continue  # keep serving the version that works
            self._models[(dataset, owner)] = model
            log.info(
                "new model for %s/%s: %s %s -> %s",
                dataset, owner, model.detector, current.version, model.version,
            )  # fmt: skip
            swaps.append(ModelSwap(dataset, owner, current.version, model))
        return swaps

    def in_use(self) -> list[ActiveModel]:
        return list(self._models.values())


def _active(
    model: TrainedModel, meta: dict[str, Any], path: Path, dataset: str, owner: str
) -> ActiveModel:
    return ActiveModel(
        model=model,
        path=path,
        dataset=dataset,
        owner=owner,
        detector=str(meta["detector"]),
        version=path.name,
        channels=tuple(str(c) for c in meta["channels"]),
    )
