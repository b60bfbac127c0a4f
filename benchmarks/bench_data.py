"""The pipeline benchmark's data and models: SMD-like entities, one trained model saved per
entity (or once for the whole dataset, as `_default`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.pipeline import TrainConfig, TrainedModel, save_trained, train
from producers.datasets import EntityData, Split

CHANNELS = 38  # SMD's width
WINDOW = 100
PARTITIONS = 3
DATASET_MODEL = "_default"


def channel_names() -> tuple[str, ...]:
    return tuple(f"ch{i:02d}" for i in range(1, CHANNELS + 1))


def entities(dataset: str, prefix: str, count: int, rows: int, seed: int) -> list[EntityData]:
    """`count` synthetic SMD-like entities of `rows` readings each (uniform noise)."""
    rng = np.random.default_rng(seed)
    times = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(rows) * np.timedelta64(60, "s")
    out = []
    for i in range(count):
        split = Split(rng.random((rows, CHANNELS)), times, np.zeros(rows, dtype=np.int8))
        out.append(EntityData(dataset, f"{prefix}{i}", channel_names(), train=split, test=split))
    return out


def train_detector(detector: str, lstm_epochs: int, adaptive: bool = False) -> TrainedModel:
    values = np.random.default_rng(1).random((2000, CHANNELS))
    params: dict[str, object] = (
        {"epochs": lstm_epochs, "device": "cpu"} if detector != "pca" else {}
    )
    config = TrainConfig(
        detector=detector,
        params=params,
        window=WINDOW,
        train_stride=2,
        adaptive={} if adaptive else None,
    )
    return train(values, config)


def save_for(models_dir: Path, model: TrainedModel, dataset: str, names: Sequence[str]) -> None:
    """The same trained model saved once per entity: the worker loads one per entity."""
    for name in names:
        save_trained(models_dir, model, dataset=dataset, entity=name, channels=channel_names())


def save_dataset_model(models_dir: Path, model: TrainedModel, dataset: str) -> None:
    """One model for every entity of the dataset (models/<dataset>/_default): how thousands
    of entities are served without thousands of models."""
    save_trained(models_dir, model, dataset=dataset, entity=DATASET_MODEL, channels=channel_names())
