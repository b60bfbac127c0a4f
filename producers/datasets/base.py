"""The one interface every dataset loader implements, and the errors loaders raise."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "BadRowPolicy",
    "BadRows",
    "CorruptRowError",
    "DatasetError",
    "DatasetLoader",
    "DatasetMissingError",
    "EntityData",
    "RootCause",
    "Split",
    "synthesize_timestamps",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
LabelArray = npt.NDArray[np.int8]
BadRowPolicy = Literal["skip", "fail"]


class DatasetError(Exception):
    """Base of the errors a loader raises; the message is meant for the user as it is."""


class DatasetMissingError(DatasetError):
    """The dataset's files are not where the loader looks; the message says how to get them."""


class CorruptRowError(DatasetError):
    """A row that cannot be read, named by file and 1-based line number (or by source and
    1-based row, for sources without lines: a Parquet file, a SQL query)."""

    def __init__(self, file: Path | str, line: int, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{file}:{line}: {reason}")


@dataclass
class BadRows:
    """Applies the bad-row policy: raise on the first corrupt row, or log it and go on."""

    policy: BadRowPolicy = "fail"
    skipped: list[CorruptRowError] = field(default_factory=list)

    def report(self, file: Path | str, line: int, reason: str) -> None:
        error = CorruptRowError(file, line, reason)
        if self.policy == "fail":
            raise error
        log.warning("skipping corrupt row %s", error)
        self.skipped.append(error)


@dataclass(frozen=True)
class RootCause:
    """Channels labelled as the cause of one anomaly, rows `start`..`end` (inclusive) of test."""

    start: int
    end: int
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    """One split of one entity: values (rows x channels, NaN = missing), UTC times, labels."""

    values: FloatArray
    timestamps: TimeArray
    labels: LabelArray | None = None

    def __post_init__(self) -> None:
        rows = self.values.shape[0]
        if self.values.ndim != 2:
            raise ValueError(f"values must be 2-D (rows, channels), got shape {self.values.shape}")
        if self.timestamps.shape != (rows,):
            raise ValueError(f"{self.timestamps.shape[0]} timestamps for {rows} rows")
        if self.labels is not None and self.labels.shape != (rows,):
            raise ValueError(f"{self.labels.shape[0]} labels for {rows} rows")

    def __len__(self) -> int:
        return int(self.values.shape[0])


@dataclass(frozen=True)
class EntityData:
    """Everything a dataset holds about one entity (machine, channel, experiment)."""

    dataset: str
    entity: str
    channels: tuple[str, ...]
    train: Split
    test: Split
    root_causes: tuple[RootCause, ...] = ()
    # The test split goes on where the training split ends (a cold start's probation), so
    # its first windows may reach back into it.
    test_follows_train: bool = False

    def split(self, name: Literal["train", "test"]) -> Split:
        return self.train if name == "train" else self.test


def synthesize_timestamps(rows: int, rate_hz: float, start: np.datetime64) -> TimeArray:
    """Evenly spaced UTC timestamps for files that have none, at the dataset's known rate."""
    step = np.timedelta64(round(1e9 / rate_hz), "ns")
    times: TimeArray = start.astype("datetime64[ns]") + np.arange(rows) * step
    return times


class DatasetLoader(ABC):
    """A benchmark on disk: its entities, and train/test splits per entity.

    Subclasses set the class attributes and implement `_entities` and `_load`; the public
    methods check that the files are there first and raise `DatasetMissingError` if not.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    # Where users get the files, in one line: an address, or "on request from ...".
    source: ClassVar[str]
    # The folder under the data root that holds the files as the dataset ships them.
    folder: ClassVar[str]

    def __init__(self, data_dir: Path, *, on_bad_row: BadRowPolicy = "fail") -> None:
        self.location = data_dir / self.folder
        self.bad_rows = BadRows(on_bad_row)
        # Set to N to learn from each stream's first N rows instead of its training split
        # (`cold_start.cold_start`).
        self.cold_start_rows: int | None = None

    @abstractmethod
    def is_present(self) -> bool:
        """Whether the files this loader needs are at `location`."""

    def require(self) -> None:
        """Raise `DatasetMissingError`, with where to get the files, unless they are present."""
        if not self.is_present():
            raise DatasetMissingError(
                f"{self.name} not found in {self.location}: get it from {self.source} "
                f"and unpack it there (or set ANOMSTREAM_DATA_DIR / --data-dir)"
            )

    def entities(self) -> list[str]:
        """Entity names in a stable order."""
        self.require()
        return self._entities()

    def load(self, entity: str) -> EntityData:
        """Both splits of one entity; raises `DatasetError` for an unknown entity."""
        self.require()
        if entity not in self._entities():
            raise DatasetError(f"{self.name} has no entity {entity!r}")
        data = self._load(entity)
        if self.cold_start_rows is None:
            return data
        from producers.datasets.cold_start import cold_start

        return cold_start(data, self.cold_start_rows)

    @abstractmethod
    def _entities(self) -> list[str]: ...

    @abstractmethod
    def _load(self, entity: str) -> EntityData: ...
