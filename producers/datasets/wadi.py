"""WADI (A1, 2017): 123 sensors and actuators of iTrust's water distribution testbed, 1 Hz."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from producers.datasets._itrust_csv import find_header, read_csv_rows
from producers.datasets.base import DatasetError, DatasetLoader, EntityData, Split
from producers.datasets.wadi_attacks import ATTACKS

__all__ = ["WadiLoader", "attack_labels"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
LabelArray = npt.NDArray[np.int8]
Rows = TypeVar("Rows", FloatArray, TimeArray)

TRAIN, TEST = "WADI_14days.csv", "WADI_attackdata.csv"
# Date "9/25/2017" is month first; Time is "6:00:00.000 PM". The other forms are accepted in
# case a re-saved copy dropped the milliseconds or switched to a 24-hour clock.
TIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S.%f %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S.%f",
    "%m/%d/%Y %H:%M:%S",
)
# Singapore time (UTC+8, no daylight saving), like the attack table; returned in UTC.
LOCAL_OFFSET = np.timedelta64(8, "h")


def attack_labels(local_times: TimeArray) -> LabelArray:
    """1 for rows inside a published attack window (local times, ends inclusive), else 0."""
    labels = np.zeros(len(local_times), dtype=np.int8)
    for attack in ATTACKS:
        labels[(local_times >= attack.start) & (local_times <= attack.end)] = 1
    return labels


class WadiLoader(DatasetLoader):
    """WADI A1: train is the 14 days of normal operation, test the 2 days with 15 attacks.

    `WADI_14days.csv` has three lines of notes above its header, `WADI_attackdata.csv` none;
    the header is found by its first cell, `Row`. Channel names are the tags without their
    logging path. Tags with no value in the whole normal run are dropped and logged: in A1
    those are 2_LS_001_AL, 2_LS_002_AL, 2_P_001_STATUS and 2_P_002_STATUS, leaving 123.
    Rows with no date, time or value (the 14-day file ends with some) are padding and are
    dropped. The files hold no labels: test rows inside the windows of `wadi_attacks.ATTACKS`
    are 1. Times are read as Singapore time and returned in UTC.
    """

    name: ClassVar[str] = "wadi"
    description: ClassVar[str] = (
        "WADI A1 2017 water distribution testbed: 123 sensors/actuators, 1 Hz"
    )
    source: ClassVar[str] = (
        "iTrust, SUTD, on request: https://itrust.sutd.edu.sg/itrust-labs_datasets/ "
        "(WADI.A1_9 Oct 2017)"
    )
    folder: ClassVar[str] = "wadi"

    def is_present(self) -> bool:
        return self._find(TRAIN) is not None and self._find(TEST) is not None

    def _find(self, name: str) -> Path | None:
        return next(iter(sorted(self.location.rglob(name))), None)

    def _entities(self) -> list[str]:
        return ["wadi"]

    def _load(self, entity: str) -> EntityData:
        channels, train_values, train_times = self._read(TRAIN, drop_empty=True)
        test_tags, test_values, test_times = self._read(TEST, drop_empty=False)
        missing = set(channels) - set(test_tags)
        if missing:
            raise DatasetError(f"{self.location}: {TEST} lacks tags {sorted(missing)}")
        order = [test_tags.index(n) for n in channels]
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=channels,
            train=Split(train_values, _utc(train_times)),
            test=Split(test_values[:, order], _utc(test_times), attack_labels(test_times)),
        )

    def _read(
        self, name: str, *, drop_empty: bool
    ) -> tuple[tuple[str, ...], FloatArray, TimeArray]:
        """Tags, values and local times of one file; corrupt rows reported and dropped."""
        path = self._find(name)
        if path is None:  # deleted since is_present() looked
            raise DatasetError(f"{self.location}: {name} not found")
        header_line, cells = find_header(path, "Row")
        # Tags are logged as \\WIN-25J4RO10SBF\LOG_DATA\SUTD_WADI\LOG_DATA\<tag>: keep <tag>.
        tags = tuple(cell.rsplit("\\", 1)[-1] for cell in cells)
        last = max(i for i, tag in enumerate(tags) if tag)  # trailing unnamed cells: ignored
        # Row, Date and Time are text; so are unnamed cells after the last tag, if any.
        rows = read_csv_rows(path, header_line, len(tags), range(3, last + 1), self.bad_rows)
        numbers = rows.frame.loc[:, 3:last].set_axis(tags[3 : last + 1], axis="columns")
        # A tag with no value in the whole normal run cannot be learned from. Dropped before
        # the copy into numpy: at 1.2 million rows each copy of WADI is over a gigabyte.
        empty = [t for t in numbers.columns if numbers[t].isna().all()] if drop_empty else []
        if empty and len(numbers):
            log.info("wadi: dropped %d tags with no values in %s: %s", len(empty), name, empty)
            numbers = numbers.drop(columns=empty)
        values = numbers.to_numpy(np.float64)
        date, clock = rows.frame[1], rows.frame[2]
        times = _times(date, clock)
        padding = (date.isna() & clock.isna()).to_numpy() & np.isnan(values).all(axis=1)
        keep = ~padding
        for i in np.flatnonzero(np.isnat(times) & keep):
            reason = f"unreadable date and time {date.iloc[i]!r} {clock.iloc[i]!r}"
            self.bad_rows.report(path, int(rows.lines[i]), reason)
            keep[i] = False
        return tuple(str(t) for t in numbers.columns), _rows(values, keep), _rows(times, keep)


def _rows(array: Rows, keep: npt.NDArray[np.bool_]) -> Rows:
    """The kept rows; a view, not a gigabyte copy, when only trailing rows go (padding)."""
    count = int(keep.sum())
    return array[:count] if keep[:count].all() else array[keep]


def _times(date: pd.Series, clock: pd.Series) -> TimeArray:
    """Local times as datetime64[ns], NaT where date or time is missing or unreadable."""
    text = date.str.strip() + " " + clock.str.strip()
    times = pd.to_datetime(text, format=TIME_FORMATS[0], errors="coerce")
    for form in TIME_FORMATS[1:]:
        rest = times.isna() & text.notna()
        if not rest.any():
            break
        times[rest] = pd.to_datetime(text[rest], format=form, errors="coerce")
    result: TimeArray = times.to_numpy(dtype="datetime64[ns]")
    return result


def _utc(local_times: TimeArray) -> TimeArray:
    utc: TimeArray = (local_times - LOCAL_OFFSET).astype("datetime64[ns]")
    return utc
