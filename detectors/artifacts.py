"""Versioned model directories: `<root>/<dataset>/<entity>/<detector>/v<N>/` (JSON + npz).

Each version holds `meta.json` (what the model is and how it was trained) and `state.npz`
(the detector's arrays). Loading runs no code: JSON, and npz read with allow_pickle=False.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import Detector, DetectorError

__all__ = [
    "CANDIDATES_DIR",
    "FORMAT",
    "LoadedModel",
    "check_compatible",
    "hash_training_data",
    "latest_version",
    "load_model",
    "model_versions",
    "save_model",
]

FORMAT = 1
META_FILE = "meta.json"
STATE_FILE = "state.npz"
# Models trained but not deployed (`anomstream retrain` keeps one that failed its promotion
# guard): `<model>/candidates/c<N>/`. Named c<N>, not v<N>, so that no reader of versions,
# whichever folders it walks, takes one for a deployed version.
CANDIDATES_DIR = "candidates"
_VERSION_DIR = re.compile(r"^v(\d+)$")
# Folder names of numbered models, by prefix: deployed versions, candidates.
_NUMBERED = {"v": _VERSION_DIR, "c": re.compile(r"^c(\d+)$")}
_SAVE_ATTEMPTS = 100


@dataclass(frozen=True)
class LoadedModel:
    """A detector rebuilt from an artifact, with the metadata it was saved with."""

    detector: Detector
    meta: dict[str, Any]
    path: Path


def hash_training_data(values: npt.ArrayLike) -> str:
    """sha256 of the training array's shape, dtype and bytes (for `train_hash`)."""
    array = np.ascontiguousarray(values)
    if array.dtype.hasobject:
        raise DetectorError("training data must be a numeric array, not objects")
    digest = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    digest.update(array.data)
    return digest.hexdigest()


def _package_version() -> str:
    try:
        return version("anomstream")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def _model_dir(root: Path | str, dataset: str, entity: str, detector: str) -> Path:
    # Entities may be paths themselves (SKAB's "valve1/0"): each part becomes a folder.
    checks = [("dataset", dataset), ("detector", detector)]
    checks += [("entity", part) for part in entity.split("/")]
    for label, part in checks:
        if not part or part in {".", ".."} or "/" in part or "\\" in part:
            shown = entity if label == "entity" else part
            raise DetectorError(f"{label} {shown!r} cannot be used as a directory name")
    return Path(root) / dataset / entity / detector


def _versions(model_dir: Path, prefix: str = "v") -> list[int]:
    if not model_dir.is_dir():
        return []
    found = (_NUMBERED[prefix].match(p.name) for p in model_dir.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def latest_version(root: Path | str, dataset: str, entity: str, detector: str) -> Path | None:
    """The highest `v<N>` directory of that model, or None when none was saved."""
    model_dir = _model_dir(root, dataset, entity, detector)
    versions = _versions(model_dir)
    return model_dir / f"v{versions[-1]}" if versions else None


def model_versions(root: Path | str, dataset: str, entity: str, detector: str) -> list[Path]:
    """Every `v<N>` directory of that model, newest first (a reader falls back in order)."""
    model_dir = _model_dir(root, dataset, entity, detector)
    return [model_dir / f"v{n}" for n in reversed(_versions(model_dir))]


def save_model(
    root: Path | str,
    detector: Detector,
    *,
    dataset: str,
    entity: str,
    channels: Sequence[str],
    window: int,
    stride: int,
    normalizer_mean: npt.ArrayLike,
    normalizer_std: npt.ArrayLike,
    threshold: dict[str, Any],
    train_hash: str,
    adaptive: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
    candidate: bool = False,
) -> Path:
    """Write the next version of this model and return its directory.

    Files go to a hidden temporary directory beside the versions, which is then renamed to
    `v<N>` in one step: a reader sees either no such version or all of it. If another
    writer takes `v<N>` first, the rename fails (the target is not empty) and N+1 is tried.
    A `candidate` goes to `candidates/c<N>` instead, which no reader of versions serves.
    """
    if "kind" not in threshold or "value" not in threshold:
        raise DetectorError("threshold must be a dict with at least 'kind' and 'value'")
    mean = [float(v) for v in np.asarray(normalizer_mean, dtype=np.float64).ravel()]
    std = [float(v) for v in np.asarray(normalizer_std, dtype=np.float64).ravel()]
    if not len(mean) == len(std) == len(channels):
        raise DetectorError(
            f"{len(channels)} channels but normaliser mean/std of {len(mean)}/{len(std)}"
        )
    if detector.channels is not None and detector.channels != len(channels):
        raise DetectorError(f"detector fitted on {detector.channels} channels, got {len(channels)}")
    state: dict[str, Any] = detector.state()
    meta = {
        "format": FORMAT,
        "detector": detector.name,
        "params": detector.params(),
        "dataset": dataset,
        "entity": entity,
        "channels": list(channels),
        "window": window,
        "stride": stride,
        "normalizer": {"mean": mean, "std": std},
        "threshold": threshold,
        "train_hash": train_hash,
        **({} if adaptive is None else {"adaptive": adaptive}),
        **({} if health is None else {"health": health}),
        "trained_at": datetime.now(UTC).isoformat(),
        "anomstream_version": _package_version(),
    }
    model_dir = _model_dir(root, dataset, entity, detector.name)
    prefix = "v"
    if candidate:
        model_dir, prefix = model_dir / CANDIDATES_DIR, "c"
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=model_dir))
    try:
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n")
        with (tmp / STATE_FILE).open("wb") as fh:
            np.savez(fh, **state)
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; readers may be other users
        return _publish(tmp, model_dir, prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless something failed


def _publish(tmp: Path, model_dir: Path, prefix: str = "v") -> Path:
    for _ in range(_SAVE_ATTEMPTS):
        versions = _versions(model_dir, prefix)
        target = model_dir / f"{prefix}{versions[-1] + 1 if versions else 1}"
        try:
            os.rename(tmp, target)  # atomic; fails if `target` exists and is not empty
        except OSError:
            if target.exists():
                continue  # another writer took this number: take the next one
            raise
        return target
    raise DetectorError(f"could not claim a new version under {model_dir}")


def load_model(path: Path | str, device: str | None = None) -> LoadedModel:
    """Rebuild the detector saved in a `v<N>` directory (JSON and npz only, no pickle).

    `device` (auto, cpu, cuda) replaces the saved one for detectors that run on torch.
    """
    from detectors.registry import detector_class  # lazily: it may import torch

    path = Path(path)
    try:
        meta: dict[str, Any] = json.loads((path / META_FILE).read_text())
    except FileNotFoundError:
        raise DetectorError(f"no model at {path}: {META_FILE} is missing") from None
    if meta.get("format") != FORMAT:
        raise DetectorError(f"{path} has format {meta.get('format')!r}; this code reads {FORMAT}")
    with np.load(path / STATE_FILE, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    cls = detector_class(meta["detector"])
    params = dict(meta["params"])
    if device is not None and cls.uses_torch:
        params["device"] = device
    detector = cls(**params).load_state(arrays)
    return LoadedModel(detector=detector, meta=meta, path=path)


def check_compatible(meta: dict[str, Any], channels: Sequence[str]) -> None:
    """Raise DetectorError unless the live feed has the model's channels, in its order."""
    expected = list(meta["channels"])
    got = list(channels)
    model = f"model {meta.get('detector')!r} for {meta.get('dataset')}/{meta.get('entity')}"
    if len(expected) != len(got):
        raise DetectorError(f"{model} expects {len(expected)} channels, the feed has {len(got)}")
    if expected != got:
        differ = [
            f"{i}: {e!r} != {g!r}"
            for i, (e, g) in enumerate(zip(expected, got, strict=True))
            if e != g
        ]
        shown = "; ".join(differ[:5]) + ("; ..." if len(differ) > 5 else "")
        raise DetectorError(
            f"{model} expects other channel names (position: model != feed): {shown}"
        )
