"""NASA SMAP and MSL spacecraft telemetry (telemanom): one entity per telemetry channel."""

from __future__ import annotations

import ast
import csv
import logging
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from producers.datasets._text_rows import natural_key
from producers.datasets.base import (
    DatasetError,
    DatasetLoader,
    DatasetMissingError,
    EntityData,
    Split,
    synthesize_timestamps,
)

__all__ = ["MslLoader", "SmapLoader"]

log = logging.getLogger(__name__)

LABELS_FILE = "labeled_anomalies.csv"
FIELDS = ["chan_id", "spacecraft", "anomaly_sequences", "class", "num_values"]
# The files hold no times and telemanom documents no sampling rate: one sample a minute is a
# nominal rate for replay, from an arbitrary fixed start, test continuing after train.
START = np.datetime64("2020-01-01T00:00:00", "ns")


@dataclass(frozen=True)
class _Channel:
    sequences: tuple[tuple[int, int], ...]  # inclusive [start, end] test rows
    num_values: int


def _sequences(text: str, num_values: int) -> tuple[tuple[int, int], ...]:
    """`[[start, end], ...]`, read as a literal (never evaluated) and checked against the length."""
    parsed = ast.literal_eval(text)
    pairs = tuple((int(start), int(end)) for start, end in parsed)
    if not all(0 <= start <= end < num_values for start, end in pairs):
        raise ValueError(f"sequence outside 0..{num_values - 1}")
    return pairs


class _TelemanomLoader(DatasetLoader):
    """One spacecraft's channels from telemanom's `train/`, `test/` and `labeled_anomalies.csv`.

    Channels are `telemetry` (column 0) and `cmd01`.. (the command one-hots). Train has no
    labels. A channel listed twice in the CSV (SMAP's `P-2`, with two different ranges) is
    dropped, as OmniAnomaly and mvts-ano-eval do; `T-10.npy` has no CSV row, hence no labels,
    and is not an entity.
    """

    folder: ClassVar[str] = "smap_msl"
    source: ClassVar[str] = (
        "https://github.com/khundman/telemanom (data.zip and labeled_anomalies.csv)"
    )
    spacecraft: ClassVar[str]

    def is_present(self) -> bool:
        return (self.location / LABELS_FILE).is_file() and all(
            (self.location / part).is_dir() for part in ("train", "test")
        )

    def _channels(self) -> dict[str, _Channel]:
        path = self.location / LABELS_FILE
        channels: dict[str, _Channel] = {}
        seen: Counter[str] = Counter()
        with path.open(newline="") as file:
            reader = csv.reader(file)
            if next(reader, None) != FIELDS:
                raise DatasetError(f"{path}: expected the header {','.join(FIELDS)}")
            for row in reader:
                if len(row) != len(FIELDS):
                    reason = f"{len(row)} fields, expected {len(FIELDS)}"
                    self.bad_rows.report(path, reader.line_num, reason)
                    continue
                chan, spacecraft, sequences, _, num_values = row
                seen[chan] += 1
                if spacecraft != self.spacecraft:
                    continue
                if not num_values.isdigit():
                    reason = f"num_values is not a row count: {num_values!r}"
                    self.bad_rows.report(path, reader.line_num, reason)
                    continue
                try:
                    pairs = _sequences(sequences, int(num_values))
                except (ValueError, TypeError, SyntaxError) as error:
                    self.bad_rows.report(path, reader.line_num, f"bad anomaly_sequences: {error}")
                    continue
                channels[chan] = _Channel(pairs, int(num_values))
        for chan in [chan for chan in channels if seen[chan] > 1]:
            log.info("%s: dropping %s, listed %d times in %s", self.name, chan, seen[chan], path)
            del channels[chan]
        return channels

    def _entities(self) -> list[str]:
        return sorted(self._channels(), key=natural_key)

    def _array(self, part: str, entity: str) -> npt.NDArray[np.float64]:
        path = self.location / part / f"{entity}.npy"
        if not path.is_file():
            raise DatasetMissingError(f"{path} not found: get it from {self.source}")
        # allow_pickle=False: a .npy from elsewhere must not be able to run code when loaded.
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2:
            raise DatasetError(f"{path}: expected (rows, channels), got shape {array.shape}")
        return np.asarray(array, dtype=np.float64)

    def _load(self, entity: str) -> EntityData:
        channel = self._channels()[entity]
        train, test = self._array("train", entity), self._array("test", entity)
        if train.shape[1] != test.shape[1]:
            raise DatasetError(
                f"{entity}: train has {train.shape[1]} columns, test {test.shape[1]}"
            )
        if len(test) != channel.num_values:
            raise DatasetError(
                f"{entity}: {LABELS_FILE} says {channel.num_values} test rows, "
                f"the file has {len(test)}"
            )
        labels = np.zeros(len(test), dtype=np.int8)
        for start, end in channel.sequences:
            labels[start : end + 1] = 1
        times = synthesize_timestamps(len(train) + len(test), 1 / 60, START)
        names = ("telemetry", *(f"cmd{i:02d}" for i in range(1, train.shape[1])))
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=names,
            train=Split(train, times[: len(train)]),
            test=Split(test, times[len(train) :], labels),
        )


class SmapLoader(_TelemanomLoader):
    """SMAP (Soil Moisture Active Passive) channels: telemetry plus 24 command one-hots."""

    name: ClassVar[str] = "smap"
    description: ClassVar[str] = "NASA SMAP satellite telemetry, 25 dims per channel (telemanom)"
    spacecraft: ClassVar[str] = "SMAP"


class MslLoader(_TelemanomLoader):
    """MSL (Curiosity rover) channels: telemetry plus 54 command one-hots."""

    name: ClassVar[str] = "msl"
    description: ClassVar[str] = "NASA MSL (Curiosity) rover telemetry, 55 dims per channel"
    spacecraft: ClassVar[str] = "MSL"
