"""What is deployed: the newest version of every model under the models folder, as JSON."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from detectors.artifacts import META_FILE

__all__ = ["deployed_models", "model_info"]

log = logging.getLogger(__name__)

_VERSION = re.compile(r"v(\d+)")


def model_info(path: Path) -> dict[str, Any] | None:
    """One version's description from its meta.json; None if that is unreadable."""
    try:
        meta: dict[str, Any] = json.loads((path / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        log.debug("skipping %s: %s", path, exc)
        return None
    threshold = meta.get("threshold", {})
    return {
        "dataset": meta.get("dataset"),
        "entity": meta.get("entity"),
        "detector": meta.get("detector"),
        "version": path.name,
        "params": meta.get("params", {}),
        "channels": meta.get("channels", []),
        "window": meta.get("window"),
        "threshold": threshold.get("value"),
        "threshold_kind": threshold.get("kind"),
        "trained_at": meta.get("trained_at"),
        "train_hash": meta.get("train_hash"),
        "adaptive": "adaptive" in meta,
        "sensor_health": "health" in meta,
        "path": str(path),
    }


def deployed_models(root: Path, dataset: str | None = None) -> list[dict[str, Any]]:
    """The newest readable version of each (dataset, entity, detector), sorted; entity names
    may hold '/' (SKAB's `valve1/0`), so the folders are found by their meta.json files."""
    base = root / dataset if dataset else root
    if not base.is_dir():
        return []
    newest: dict[Path, tuple[int, Path]] = {}
    for meta in base.rglob(META_FILE):
        version = meta.parent
        match = _VERSION.fullmatch(version.name)
        if match is None:
            continue
        number = int(match.group(1))
        folder = version.parent  # <dataset>/<entity>/<detector>
        if folder not in newest or number > newest[folder][0]:
            newest[folder] = (number, version)
    found = [info for _, path in newest.values() if (info := model_info(path)) is not None]
    found.sort(key=lambda m: (str(m["dataset"]), str(m["entity"]), str(m["detector"])))
    return found
