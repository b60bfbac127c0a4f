"""Shared pieces for the stream app's tests: a trained model on disk and reading messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.pipeline import TrainConfig, TrainedModel, save_trained, train
from producers.row_blocks import rfc3339_utc
from schemas import (
    Score,
    ScoreBatch,
    decode,
    encode_reading,
    encode_reading_batch,
    scores_topic,
)

CHANNELS = ("flow", "pressure", "temp")
WINDOW = 8
T0_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


def series(rows: int, seed: int, spike_at: int | None = None) -> npt.NDArray[np.float64]:
    """Three correlated channels; a spike breaking the correlation at `spike_at`."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(0, 0.1, rows))
    values = np.stack(
        [base, 2 * base + rng.normal(0, 0.05, rows), rng.normal(20, 0.5, rows)], axis=1
    )
    if spike_at is not None:
        values[spike_at : spike_at + 6, 1] += 8.0
    return values


def train_model(
    models_dir: Path,
    dataset: str,
    entity: str,
    seed: int = 0,
    detector: str = "pca",
    window: int = WINDOW,
    adaptive: dict[str, Any] | None = None,
) -> tuple[Path, TrainedModel]:
    config = TrainConfig(
        detector=detector, window=window, threshold={"kind": "quantile"}, adaptive=adaptive
    )
    model = train(series(400, seed), config)
    path = save_trained(models_dir, model, dataset=dataset, entity=entity, channels=CHANNELS)
    return path, model


def times(first_seq: int, count: int) -> list[str]:
    return rfc3339_utc((np.arange(first_seq, first_seq + count, dtype=np.int64) * 10**9) + T0_NS)


def reading(
    dataset: str, entity: str, seq: int, row: npt.NDArray[np.float64], label: int | None = None
) -> bytes:
    return encode_reading(
        dataset=dataset,
        entity=entity,
        seq=seq,
        event_time=times(seq, 1)[0],
        values=dict(zip(CHANNELS, row.tolist(), strict=True)),
        label=label,
    )


def batch(
    dataset: str,
    entity: str,
    first_seq: int,
    rows: npt.NDArray[np.float64],
    labels: list[int | None] | None = None,
) -> bytes:
    return encode_reading_batch(
        dataset=dataset,
        entity=entity,
        first_seq=first_seq,
        event_times=times(first_seq, len(rows)),
        channels=CHANNELS,
        rows=np.ascontiguousarray(rows),
        labels=labels,
    )


def decode_scores(topic_values: list[tuple[str, bytes]], dataset: str) -> list[Score]:
    """Every score on `scores.<dataset>` among (topic, value) pairs, batches expanded."""
    out: list[Score] = []
    for topic, value in topic_values:
        if topic != scores_topic(dataset):
            continue
        if b'"first_seq"' in value:
            out.extend(decode(value, ScoreBatch).expand())
        else:
            out.append(decode(value, Score))
    return out
