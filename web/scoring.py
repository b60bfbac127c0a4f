"""POST /api/v1/score: readings scored by the deployed model, without Kafka.

The readings of one entity (a `ReadingBatch`, or a list of consecutive `Reading`s) are put in
the model's channel order and scored as `score_series` scores a series, the same code the
stream worker and the offline evaluator share; a reading gets a score once a whole window
ends at it. An adaptive model starts from its own starting statistics on every request: the
stream's per-entity state lives in the worker.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from detectors.pipeline import score_series
from schemas import Reading, ReadingBatch
from stream_app.model_store import ActiveModel, ModelStore

__all__ = ["ScoreRequestError", "Scorer"]

_REFRESH_S = 5.0


class ScoreRequestError(ValueError):
    """The request cannot be scored; the message says why (a 4xx, never a 500)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class Scorer:
    """Scores requests with the models folder's deployed versions, kept current."""

    def __init__(self, store: ModelStore, top_channels: int = 3) -> None:
        self.store = store
        self.top_channels = top_channels
        self._lock = threading.Lock()
        self._refreshed = time.monotonic()

    def score(self, body: ReadingBatch | list[Reading]) -> dict[str, Any]:
        dataset, entity, first_seq, channels, rows = _rows(body)
        with self._lock:  # ModelStore is not thread-safe; scoring a request is quick
            if time.monotonic() - self._refreshed > _REFRESH_S:
                self._refreshed = time.monotonic()
                self.store.refresh()
            model = self.store.for_entity(dataset, entity)
            if model is None:
                raise ScoreRequestError(
                    f"no model for {dataset}/{entity} (nor a {dataset}/_default one) under "
                    f"{self.store.root}",
                    status=404,
                )
            values = _in_model_order(model, channels, rows)
            if len(values) < model.window:
                raise ScoreRequestError(
                    f"{len(values)} readings are too few: {model.detector} {model.version} "
                    f"scores windows of {model.window}, so at least {model.window} consecutive "
                    f"readings are needed (the first score is for the {model.window}th)"
                )
            scores, contributions = score_series(model.model, values, contributions=True)
        return _response(
            model, dataset, entity, first_seq, scores, contributions, self.top_channels
        )


def _rows(
    body: ReadingBatch | list[Reading],
) -> tuple[str, str, int, list[str], list[list[float | None]]]:
    if isinstance(body, ReadingBatch):
        return body.dataset, body.entity, body.first_seq, list(body.channels), body.rows
    if not body:
        raise ScoreRequestError("no readings")
    first = body[0]
    channels = list(first.values)
    for expected, reading in enumerate(body, start=first.seq):
        if (reading.dataset, reading.entity) != (first.dataset, first.entity):
            raise ScoreRequestError(
                f"readings of one entity only: {reading.dataset}/{reading.entity} after "
                f"{first.dataset}/{first.entity}"
            )
        if reading.seq != expected:
            raise ScoreRequestError(
                f"readings must be consecutive: seq {reading.seq} where {expected} was due"
            )
        if set(reading.values) != set(channels):
            raise ScoreRequestError(f"reading seq {reading.seq} has other channels than the first")
    rows = [[reading.values[c] for c in channels] for reading in body]
    return first.dataset, first.entity, first.seq, channels, rows


def _in_model_order(
    model: ActiveModel, channels: list[str], rows: list[list[float | None]]
) -> np.ndarray:
    index = {name: i for i, name in enumerate(channels)}
    missing = [c for c in model.channels if c not in index]
    extra = [c for c in channels if c not in set(model.channels)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}")
        if extra:
            parts.append(f"unknown {', '.join(extra[:5])}")
        raise ScoreRequestError(
            f"the channels do not match {model.detector} {model.version}'s ({'; '.join(parts)}); "
            f"it expects {', '.join(model.channels)}"
        )
    order = [index[c] for c in model.channels]
    values = np.array(
        [[math.nan if row[i] is None else row[i] for i in order] for row in rows], dtype=np.float64
    )
    return values


def _response(
    model: ActiveModel,
    dataset: str,
    entity: str,
    first_seq: int,
    scores: np.ndarray,
    contributions: np.ndarray | None,
    top: int,
) -> dict[str, Any]:
    threshold = model.threshold
    flags = model.model.threshold.decide(scores)
    first = model.window - 1  # rows before it have no window of their own
    out = []
    for row in range(first, len(scores)):
        named: list[dict[str, Any]] = []
        if contributions is not None and contributions.shape[1] == len(model.channels):
            part = contributions[row]
            for i in np.argsort(-part)[:top]:
                if np.isfinite(part[i]):
                    named.append({"channel": model.channels[i], "contribution": float(part[i])})
        out.append(
            {
                "seq": first_seq + row,
                "score": float(scores[row]),
                "is_anomaly": bool(flags[row]),
                "top_channels": named,
            }
        )
    return {
        "dataset": dataset,
        "entity": entity,
        "model": {
            "owner": model.owner,
            "detector": model.detector,
            "version": model.version,
            "window": model.window,
        },
        "threshold": threshold,
        "anomalous": any(s["is_anomaly"] for s in out),
        "scores": out,
    }
