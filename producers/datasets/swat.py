"""SWaT (December 2015): 51 sensors and actuators of iTrust's water treatment testbed, 1 Hz."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from producers.datasets._itrust_csv import HEADER_SEARCH, find_header, read_csv_rows
from producers.datasets.base import (
    BadRowPolicy,
    DatasetError,
    DatasetLoader,
    EntityData,
    Split,
)

__all__ = ["SwatLoader"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TimeArray = npt.NDArray[np.datetime64]
# A file's channel names, values, timestamp cells, label cells, and each row's line.
Table = tuple[tuple[str, ...], FloatArray, pd.Series, pd.Series, IntArray]

TRAIN, TEST = "SWaT_Dataset_Normal_v1", "SWaT_Dataset_Attack_v0"
TIME_FORMAT = "%d/%m/%Y %I:%M:%S %p"  # " 22/12/2015 4:00:00 PM": day first, 12-hour clock
# The files are in Singapore time (UTC+8, no daylight saving); timestamps are returned in UTC.
LOCAL_OFFSET = np.timedelta64(8, "h")
# The plant starts empty and takes hours to settle; most papers drop the first 21,600 rows.
WARMUP = np.timedelta64(6, "h")
# Compared after lower-casing and removing all spaces, which turns the typo "A ttack" into attack.
LABEL_CODES = {"normal": 0, "attack": 1}


class SwatLoader(DatasetLoader):
    """SWaT A1 (2015): train is the normal run, test the attack run with its labels.

    Reads `SWaT_Dataset_Normal_v1` and `SWaT_Dataset_Attack_v0` as `.csv` or `.xlsx` anywhere
    under the folder (`.csv` preferred: openpyxl needs minutes for ~500,000 rows). Channel
    names are the header's with stray spaces stripped. `Normal/Attack` maps Normal to 0 and
    Attack, including the file's typo `A ttack`, to 1. Times are read as Singapore time and
    returned in UTC. The first six hours of the normal run (21,600 rows) are the plant
    filling up; they are dropped, with a log line, unless `drop_warmup=False`.
    """

    name: ClassVar[str] = "swat"
    description: ClassVar[str] = "SWaT 2015 water treatment testbed: 51 sensors/actuators, 1 Hz"
    source: ClassVar[str] = (
        "iTrust, SUTD, on request: https://itrust.sutd.edu.sg/itrust-labs_datasets/ "
        "(SWaT.A1 & A2_Dec 2015, folder Physical)"
    )
    folder: ClassVar[str] = "swat"

    def __init__(
        self, data_dir: Path, *, on_bad_row: BadRowPolicy = "fail", drop_warmup: bool = True
    ) -> None:
        super().__init__(data_dir, on_bad_row=on_bad_row)
        self.drop_warmup = drop_warmup

    def is_present(self) -> bool:
        return self._find(TRAIN) is not None and self._find(TEST) is not None

    def _find(self, stem: str) -> Path | None:
        found = [p for s in (".csv", ".xlsx") for p in sorted(self.location.rglob(stem + s))]
        return found[0] if found else None

    def _entities(self) -> list[str]:
        return ["swat"]

    def _load(self, entity: str) -> EntityData:
        names, train = self._split(TRAIN, labelled=False)
        test_names, test = self._split(TEST, labelled=True)
        if set(test_names) != set(names):
            raise DatasetError(
                f"{self.location}: the attack run's channels differ from the normal run's: "
                f"{sorted(set(names) ^ set(test_names))}"
            )
        order = [test_names.index(n) for n in names]
        test = Split(test.values[:, order], test.timestamps, test.labels)
        if self.drop_warmup and len(train):
            keep = train.timestamps >= train.timestamps[0] + WARMUP
            log.info(
                "swat: dropped the first 6 h of the normal run as warm-up (%d rows)", (~keep).sum()
            )
            train = Split(train.values[keep], train.timestamps[keep])
        return EntityData(self.name, entity, names, train, test)

    def _split(self, stem: str, *, labelled: bool) -> tuple[tuple[str, ...], Split]:
        path = self._find(stem)
        if path is None:  # deleted since is_present() looked
            raise DatasetError(f"{self.location}: {stem}.csv or .xlsx not found")
        names, values, stamps, labels, lines = (
            self._read_xlsx(path) if path.suffix == ".xlsx" else self._read_csv(path)
        )
        times = _times(stamps)
        codes = labels.astype("str").str.replace(r"\s+", "", regex=True).str.lower()
        label_codes = np.asarray(codes.map(LABEL_CODES).fillna(-1), dtype=np.int8)
        problems = {
            int(i): f"unreadable timestamp {stamps.iloc[i]!r}"
            for i in np.flatnonzero(np.isnat(times))
        }
        for row in np.flatnonzero(label_codes < 0).tolist():
            problems.setdefault(row, f"label is not Normal or Attack: {labels.iloc[row]!r}")
        keep = np.ones(len(values), dtype=np.bool_)
        for row in sorted(problems):
            self.bad_rows.report(path, int(lines[row]), problems[row])
            keep[row] = False
        if not keep.all():  # boolean indexing copies; a clean file needs none
            values, times, label_codes = values[keep], times[keep], label_codes[keep]
        utc: TimeArray = (times - LOCAL_OFFSET).astype("datetime64[ns]")
        return names, Split(values, utc, label_codes if labelled else None)

    def _read_csv(self, path: Path) -> Table:
        header_line, cells = find_header(path, "Timestamp")
        label = max(i for i, name in enumerate(cells) if name)  # trailing unnamed cells: ignored
        rows = read_csv_rows(path, header_line, len(cells), range(1, label), self.bad_rows)
        frame = rows.frame[~rows.frame.isna().all(axis=1)]  # padding: only separators
        values = frame.loc[:, 1 : label - 1].to_numpy(np.float64)
        lines = rows.lines[frame.index.to_numpy()]
        return cells[1:label], values, frame[0], frame[label], lines

    def _read_xlsx(self, path: Path) -> Table:
        sheet = pd.read_excel(path, header=None, dtype=object, engine="openpyxl")
        first = sheet.iloc[:HEADER_SEARCH, 0].astype("str").str.strip().str.lower()
        if not (first == "timestamp").any():
            raise DatasetError(f"{path}: no row starting with 'Timestamp' in its first rows")
        header = int(np.flatnonzero(first == "timestamp")[0])
        cells = tuple("" if pd.isna(v) else str(v).strip() for v in sheet.iloc[header])
        label = max(i for i, name in enumerate(cells) if name)
        body = sheet.iloc[header + 1 :].dropna(how="all")
        lines = body.index.to_numpy(np.int64) + 1  # sheet row i is spreadsheet row i + 1
        raw = body.iloc[:, 1:label]
        values = raw.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        # A cell that is there but is no number; extra cells after the label column.
        wrong = np.isnan(values) & raw.notna().to_numpy()
        extra = body.iloc[:, label + 1 :].notna().any(axis=1).to_numpy()
        keep = ~(wrong.any(axis=1) | extra)
        for i in np.flatnonzero(~keep):
            j = np.flatnonzero(wrong[i])
            why = (
                f"{cells[j[0] + 1]} is not a number: {raw.iat[int(i), int(j[0])]!r}"
                if len(j)
                else ""
            )
            self.bad_rows.report(path, int(lines[i]), why or f"cells after {cells[label]!r}")
        stamps, labels = body.iloc[keep, 0], body.iloc[keep, label]
        return cells[1:label], values[keep], stamps, labels, lines[keep]


def _times(stamps: pd.Series) -> TimeArray:
    """Local times as datetime64[ns], NaT where a cell is no SWaT timestamp."""
    text = stamps.astype("str").str.strip().str.replace(r"\s+", " ", regex=True)
    times = pd.to_datetime(text, format=TIME_FORMAT, errors="coerce")
    # Excel may have stored a cell as a date; pandas hands that back as a datetime (ISO text).
    rest = times.isna() & stamps.notna()
    if rest.any():
        times[rest] = pd.to_datetime(text[rest], format="ISO8601", errors="coerce")
    result: TimeArray = times.to_numpy(dtype="datetime64[ns]")
    return result
