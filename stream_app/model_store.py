"""Trained models for the entities the worker sees, from the models directory, kept current.

Layout as written by `anomstream train`: `<root>/<dataset>/<entity>/<detector>/v<N>/`. A
dataset-wide model may live under the entity name `_default`. New versions are picked up
by `refresh()` without a restart.

A version that does not load (empty, half-copied, corrupt) is skipped for the newest older
one that does, logged once and counted; it is tried again only when its files change. An
entity stays on one detector: the configured one, or else the one it was first served with.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.artifacts import META_FILE, model_versions
from detectors.pipeline import TrainedModel, load_trained

__all__ = ["DATASET_MODEL", "ActiveModel", "ModelStore", "ModelSwap"]

log = logging.getLogger(__name__)

DATASET_MODEL = "_default"
_VERSION = re.compile(r"^v(\d+)$")


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
        on_load_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.root = root
        self._detector = detector
        self._device = device
        self._fallback = dataset_fallback
        self._refresh_s = refresh_s
        self._clock = clock
        self._torch_threads = torch_threads
        # Called with (dataset, detector) for each version that fails to load.
        self._on_load_failure = on_load_failure
        self._models: dict[tuple[str, str], ActiveModel] = {}
        # Owners with no model: when they were last looked up, to look again later.
        self._missing: dict[tuple[str, str], float] = {}
        # Versions that failed to load, with their files' signature then: not retried (nor
        # logged again) until a file changes, e.g. a copy in progress completes.
        self._failed: dict[Path, tuple[float, ...]] = {}
        self._warned_choice: set[tuple[str, str]] = set()

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

    def for_entity(
        self, dataset: str, entity: str, prefer: str | None = None
    ) -> ActiveModel | None:
        """The entity's own model, else (if allowed) the dataset's, else None.

        `prefer` is the detector the entity was served with before (its restored state
        says): without a configured detector, a restart keeps it rather than switching to
        whichever was trained last.
        """
        own = self._get(dataset, entity, prefer)
        if own is not None or not self._fallback:
            return own
        return self._get(dataset, DATASET_MODEL, prefer)

    def own_model(self, dataset: str, entity: str) -> ActiveModel | None:
        """The entity's own model as the folder holds it now (no fallback, no waiting for
        the next refresh): what a finished probation checks before training one."""
        self._missing.pop((dataset, entity), None)
        return self._get(dataset, entity)

    def adopt(self, dataset: str, owner: str, path: Path) -> ActiveModel:
        """Serve the version just saved at `path` (a probation's model); raises if it does
        not load, as a model the worker itself wrote must."""
        model, meta = load_trained(path, device=self._device)
        active = _active(model, meta, path, dataset, owner)
        self._missing.pop((dataset, owner), None)
        self._models[(dataset, owner)] = active
        return active

    def _get(self, dataset: str, owner: str, prefer: str | None = None) -> ActiveModel | None:
        key = (dataset, owner)
        current = self._models.get(key)
        if current is not None:
            if prefer is None or self._detector is not None or current.detector == prefer:
                return current
            kept = self._newest_loadable(dataset, owner, prefer, newer_than=0)
            if kept is None:
                return current
            log.info(
                "model for %s/%s: %s, the detector it was served with before (not %s)",
                dataset, owner, kept.path, current.detector,
            )  # fmt: skip
            self._models[key] = kept
            return kept
        checked = self._missing.get(key)
        if checked is not None and self._clock() - checked < self._refresh_s:
            return None
        model = self._first_loadable(dataset, owner)
        if model is None:
            self._missing[key] = self._clock()
            return None
        self._missing.pop(key, None)
        self._models[key] = model
        log.info("model for %s/%s: %s", dataset, owner, model.path)
        return model

    def _detectors(self, dataset: str, owner: str) -> list[str]:
        """Detector folders of an owner, most recently trained first."""
        owner_dir = self.root / dataset / owner
        if self._detector is not None:
            return [self._detector]
        if not owner_dir.is_dir():
            return []
        trained = [(_newest_mtime(d), d.name) for d in owner_dir.iterdir() if d.is_dir()]
        return [
            name for _, name in sorted(((m, n) for m, n in trained if m is not None), reverse=True)
        ]

    def _first_loadable(self, dataset: str, owner: str) -> ActiveModel | None:
        detectors = self._detectors(dataset, owner)
        for detector in detectors:
            model = self._newest_loadable(dataset, owner, detector, newer_than=0)
            if model is None:
                continue
            if len(detectors) > 1 and (dataset, owner) not in self._warned_choice:
                self._warned_choice.add((dataset, owner))
                log.warning(
                    "%s/%s has models of several detectors (%s): serving %s, the most recently "
                    "trained, and staying on it; set ANOMSTREAM_WORKER_DETECTOR to choose",
                    dataset, owner, ", ".join(detectors), detector,
                )  # fmt: skip
            return model
        return None

    def _newest_loadable(
        self, dataset: str, owner: str, detector: str, newer_than: int
    ) -> ActiveModel | None:
        """The newest version above `newer_than` that loads; failed ones are skipped."""
        try:
            versions = model_versions(self.root, dataset, owner, detector)
        except Exception:  # noqa: BLE001 - a name that cannot be a folder has no model
            return None
        for path in versions:
            if _version_number(path) <= newer_than:
                break
            signature = _signature(path)
            if self._failed.get(path) == signature:
                continue
            model = self._load(dataset, owner, path)
            if model is not None:
                self._failed.pop(path, None)
                return model
            self._failed[path] = signature
        return None

    def _load(self, dataset: str, owner: str, path: Path) -> ActiveModel | None:
        try:
            model, meta = load_trained(path, device=self._device)
            active = _active(model, meta, path, dataset, owner)
        # Model files are input like any other: whatever is wrong with them (missing,
        # truncated npz, bad JSON, foreign parameters), the worker serves another version.
        except Exception as exc:  # noqa: BLE001
            detector = path.parent.name
            log.error(
                "cannot load the model at %s (%s: %s); trying older versions, and this one "
                "again only when its files change",
                path, type(exc).__name__, exc,
            )  # fmt: skip
            if self._on_load_failure is not None:
                self._on_load_failure(dataset, detector)
            return None
        if model.detector.uses_torch and self._torch_threads is not None:
            import torch  # only now: classic models never need it

            torch.set_num_threads(self._torch_threads)
        return active

    def refresh(self) -> list[ModelSwap]:
        """Load the newest loadable version of every model in use, of the same detector;
        return the ones that changed."""
        swaps = []
        for (dataset, owner), current in list(self._models.items()):
            model = self._newest_loadable(
                dataset, owner, current.detector, newer_than=_version_number(current.path)
            )
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


def _version_number(path: Path) -> int:
    match = _VERSION.match(path.name)
    return int(match.group(1)) if match else 0


def _signature(path: Path) -> tuple[float, ...]:
    """What changes when a version's files are written: the mtimes and sizes present."""
    out: list[float] = []
    for item in (path, *sorted(path.iterdir())) if path.is_dir() else (path,):
        try:
            stat = item.stat()
        except OSError:
            continue
        out += [stat.st_mtime, float(stat.st_size)]
    return tuple(out)


def _newest_mtime(detector_dir: Path) -> float | None:
    """When the newest version with metadata was written; None when there is none."""
    for version in sorted(
        (p for p in detector_dir.iterdir() if _VERSION.match(p.name)),
        key=_version_number,
        reverse=True,
    ):
        try:
            return (version / META_FILE).stat().st_mtime
        except OSError:
            continue
    return None


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
