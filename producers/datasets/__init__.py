"""Benchmark datasets behind one interface: entities, channels, train/test splits, labels."""

from producers.datasets.base import (
    BadRowPolicy,
    CorruptRowError,
    DatasetError,
    DatasetLoader,
    DatasetMissingError,
    EntityData,
    RootCause,
    Split,
    synthesize_timestamps,
)
from producers.datasets.registry import LOADERS, UnknownDatasetError, loader_class
from producers.datasets.settings import DataSettings, SqlSettings

__all__ = [
    "LOADERS",
    "BadRowPolicy",
    "CorruptRowError",
    "DataSettings",
    "DatasetError",
    "DatasetLoader",
    "DatasetMissingError",
    "EntityData",
    "RootCause",
    "Split",
    "SqlSettings",
    "UnknownDatasetError",
    "loader_class",
    "synthesize_timestamps",
]
