"""SKAB, the Skoltech Anomaly Benchmark: a water-pump testbed, 8 sensors at 1 Hz."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from producers.datasets._text_rows import keep_rows, natural_key, read_rows
from producers.datasets.base import DatasetError, DatasetLoader, EntityData, Split

__all__ = ["SkabLoader"]

CHANNELS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
HEADER = ("datetime", *CHANNELS, "anomaly", "changepoint")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class SkabLoader(DatasetLoader):
    """SKAB (waico/SKAB): one entity per experiment file, e.g. `valve1/0`, `other/12`.

    Test is the whole experiment with its `anomaly` column as labels. Train is the first
    `train_rows` rows of the same experiment, without labels: the SKAB authors' own baselines
    train on the first 400 rows, a count fixed before looking at any labels. We do not train
    on `anomaly-free/anomaly-free.csv`: it was recorded at another operating point (about 4x
    the flow and 8x the vibration of the valve experiments), so a model fitted to it would
    call the valve experiments anomalous from their first row. The leading rows are normal
    by the protocol, not by the labels: in `other/2` labelled anomalies start inside them,
    and we leave that as SKAB does.

    The `datetime` column is local time with no zone; we read it as UTC.
    """

    name: ClassVar[str] = "skab"
    description: ClassVar[str] = "Skoltech Anomaly Benchmark: water-pump testbed, 8 sensors, 1 Hz"
    source: ClassVar[str] = "https://github.com/waico/SKAB (the data/ folder)"
    folder: ClassVar[str] = "skab"
    groups: ClassVar[tuple[str, ...]] = ("valve1", "valve2", "other")
    train_rows: ClassVar[int] = 400

    def is_present(self) -> bool:
        return all(any((self.location / group).glob("*.csv")) for group in self.groups)

    def _entities(self) -> list[str]:
        names = (
            f"{group}/{path.stem}"
            for group in self.groups
            for path in (self.location / group).glob("*.csv")
        )
        return sorted(names, key=natural_key)

    def _load(self, entity: str) -> EntityData:
        path = self.location / f"{entity}.csv"
        with path.open("rb") as file:
            header = tuple(file.readline().decode("utf-8", errors="replace").strip().split(";"))
        if header != HEADER:
            raise DatasetError(f"{path}: header is {';'.join(header)}, expected {';'.join(HEADER)}")
        rows = read_rows(path, sep=";", width=len(HEADER), header=True, text_first=True)
        values = rows.values
        problems = dict(rows.problems)
        times = pd.to_datetime(pd.Series(rows.text, dtype=str), format=TIME_FORMAT, errors="coerce")
        # A corrupt line's own reason wins; these only name what the parse could not see.
        for i in np.flatnonzero(times.isna().to_numpy()):
            problems.setdefault(int(i), f"not a {TIME_FORMAT} time: {rows.text[i]!r}")
        anomaly = values[:, len(CHANNELS)]
        for i in np.flatnonzero((anomaly != 0) & (anomaly != 1)):
            problems.setdefault(int(i), f"anomaly must be 0 or 1, got {anomaly[i]}")
        keep = keep_rows(self.bad_rows, path, len(values), problems, rows.first_line)
        stamps = times.to_numpy(dtype="datetime64[ns]")[keep]
        sensors = values[keep, : len(CHANNELS)]
        head = slice(0, self.train_rows)
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=CHANNELS,
            train=Split(sensors[head], stamps[head]),
            test=Split(sensors, stamps, anomaly[keep].astype(np.int8)),
        )
