"""SMD, the Server Machine Dataset: 38 metrics per machine, with root-cause labels."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from producers.datasets._text_rows import keep_rows, natural_key, read_rows
from producers.datasets.base import (
    DatasetError,
    DatasetLoader,
    DatasetMissingError,
    EntityData,
    RootCause,
    Split,
    synthesize_timestamps,
)

__all__ = ["SmdLoader"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
CHANNELS = tuple(f"ch{i:02d}" for i in range(1, 39))
# The files hold no times; SMD is sampled once a minute, so times start at an arbitrary fixed
# instant and test continues where train ends.
START = np.datetime64("2020-01-01T00:00:00", "ns")
INTERPRETATION = re.compile(r"(\d+)-(\d+):(\d+(?:,\d+)*)")


class SmdLoader(DatasetLoader):
    """Server Machine Dataset (OmniAnomaly), one entity per machine.

    Channels are `ch01`..`ch38`: the files name none. Train has no labels. Times are
    synthesised at one per minute. `interpretation_label` lines `start-end:dims` give
    0-based, end-exclusive test rows (all 206 published ranges match `test_label` that way)
    and 1-based dims; they become inclusive `RootCause(start, end - 1, channels)`.
    """

    name: ClassVar[str] = "smd"
    description: ClassVar[str] = "Server Machine Dataset: 38 metrics per server, 1-minute sampling"
    source: ClassVar[str] = "https://github.com/NetManAIOps/OmniAnomaly (ServerMachineDataset/)"
    folder: ClassVar[str] = "ServerMachineDataset"
    parts: ClassVar[tuple[str, ...]] = ("train", "test", "test_label", "interpretation_label")

    def is_present(self) -> bool:
        return all((self.location / part).is_dir() for part in self.parts) and any(
            (self.location / "train").glob("*.txt")
        )

    def _entities(self) -> list[str]:
        return sorted((p.stem for p in (self.location / "train").glob("*.txt")), key=natural_key)

    def _file(self, part: str, entity: str) -> Path:
        path = self.location / part / f"{entity}.txt"
        if not path.is_file():
            raise DatasetMissingError(f"{path} not found: get SMD from {self.source}")
        return path

    def _numbers(self, path: Path) -> tuple[FloatArray, BoolArray]:
        rows = read_rows(path, sep=",", width=len(CHANNELS), header=False, text_first=False)
        keep = keep_rows(self.bad_rows, path, len(rows.values), rows.problems, rows.first_line)
        return rows.values, keep

    def _labels(self, path: Path) -> tuple[npt.NDArray[np.int8], BoolArray]:
        lines = np.array(path.read_text().splitlines())
        labels = (lines == "1").astype(np.int8)
        wrong = np.flatnonzero((lines != "0") & (lines != "1"))
        problems = {int(i): f"label must be 0 or 1, got {lines[i]!r}" for i in wrong}
        return labels, keep_rows(self.bad_rows, path, len(lines), problems, 1)

    def _load(self, entity: str) -> EntityData:
        train, train_keep = self._numbers(self._file("train", entity))
        test, test_keep = self._numbers(self._file("test", entity))
        label_path = self._file("test_label", entity)
        labels, label_keep = self._labels(label_path)
        if len(labels) != len(test):
            raise DatasetError(f"{label_path}: {len(labels)} labels for {len(test)} test rows")
        keep = test_keep & label_keep
        times = synthesize_timestamps(len(train) + len(test), 1 / 60, START)
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=CHANNELS,
            train=Split(train[train_keep], times[: len(train)][train_keep]),
            test=Split(test[keep], times[len(train) :][keep], labels[keep]),
            root_causes=self._root_causes(self._file("interpretation_label", entity), keep),
        )

    def _root_causes(self, path: Path, keep: BoolArray) -> tuple[RootCause, ...]:
        # Rows dropped as corrupt shift the rest, so ranges are mapped onto the kept rows.
        kept = np.flatnonzero(keep)
        causes = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = INTERPRETATION.fullmatch(line.strip())
            if match is None:
                self.bad_rows.report(path, number, f"expected start-end:dim,dim,... got {line!r}")
                continue
            start, end = int(match[1]), int(match[2])
            dims = [int(d) for d in match[3].split(",")]
            if not 0 <= start < end <= len(keep) or not all(1 <= d <= len(CHANNELS) for d in dims):
                self.bad_rows.report(path, number, f"range or dims out of bounds: {line!r}")
                continue
            first = int(np.searchsorted(kept, start))
            last = int(np.searchsorted(kept, end - 1, side="right")) - 1
            if first <= last:
                causes.append(RootCause(first, last, tuple(CHANNELS[d - 1] for d in dims)))
        return tuple(causes)
