"""DAMADICS: three actuators of the Lublin sugar factory, 32 tags at 1 Hz, autumn 2001."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from producers.datasets.base import DatasetLoader, EntityData, Split
from producers.datasets.damadics_faults import FAULTS

__all__ = ["ACTUATORS", "TAGS", "DamadicsLoader"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

# Columns 2-33 of a day file (column 1 is seconds after midnight), named as in the data
# description that ships with the benchmark. That document was not at hand: three public
# codebases that read these files quote the same 32 names in this order. Actuator 1 is the
# juice inlet valve of the first evaporator, 2 the juice outlet of the fifth, 3 the steam
# boiler's water inlet.
TAGS: tuple[str, ...] = (
    *("P51_05", "P51_06", "T51_01", "F51_01", "LC51_03CV", "LC51_03X", "LC51_03PV", "TC51_05"),
    *("T51_08", "D51_01", "D51_02", "F51_02", "PC51_01", "T51_06", "P51_03", "T51_07"),
    *("P57_03", "P57_04", "T57_03", "FC57_03PV", "FC57_03CV", "FC57_03X"),
    *("P74_00", "P74_01", "T74_00", "F74_00", "LC74_20CV", "LC74_20X", "LC74_20PV", "F74_30"),
    *("P74_30", "T74_30"),
)
# Each fault was put on one actuator, and the description groups the tags by actuator.
ACTUATORS = {"actuator1": slice(0, 16), "actuator2": slice(16, 22), "actuator3": slice(22, 32)}
WIDTH = 1 + len(TAGS)
TRAIN_DAYS = ("31102001", *(f"{day:02d}112001" for day in range(1, 9)))
TEST_DAYS = ("09112001", "17112001", "20112001")
# The logger kept local time, CET (UTC+1) on every day used: summer time ended on 28 Oct 2001.
LOCAL_OFFSET = np.timedelta64(1, "h")
DAY_SECONDS = 86_400


class DamadicsLoader(DatasetLoader):
    """DAMADICS Lublin data, one entity per actuator with that actuator's tags.

    Train is 31 Oct and 1-8 Nov 2001, test 9, 17 and 20 Nov, concatenated in that order.
    Day files `DDMMYYYY.txt` (tab-separated, no header) sit in the folder or in the
    `Lublin_all_data` folder the archives unpack to. A file may hold fewer than 86,400 rows;
    its first column must rise strictly through whole seconds of the day (a row that breaks
    that is corrupt), and a gap is logged. Test rows inside a published fault on the entity's
    actuator (`damadics_faults.FAULTS`) are 1. Times are the file's day plus that second,
    read as CET and returned in UTC.
    """

    name: ClassVar[str] = "damadics"
    description: ClassVar[str] = "DAMADICS Lublin sugar factory: 3 actuators, 32 tags, 1 Hz"
    source: ClassVar[str] = (
        "https://iair.mchtr.pw.edu.pl/Damadics (Lublin_all_data_part1..4.zip, unpacked)"
    )
    folder: ClassVar[str] = "damadics"

    def _dir(self) -> Path:
        nested = self.location / "Lublin_all_data"
        return nested if (nested / f"{TRAIN_DAYS[0]}.txt").is_file() else self.location

    def is_present(self) -> bool:
        return all((self._dir() / f"{day}.txt").is_file() for day in TRAIN_DAYS + TEST_DAYS)

    def _entities(self) -> list[str]:
        return list(ACTUATORS)

    def _load(self, entity: str) -> EntityData:
        columns = ACTUATORS[entity]
        actuator = int(entity.removeprefix("actuator"))
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=TAGS[columns],
            train=self._days(TRAIN_DAYS, columns, None),
            test=self._days(TEST_DAYS, columns, actuator),
        )

    def _days(self, days: tuple[str, ...], columns: slice, actuator: int | None) -> Split:
        values, times, labels = [], [], []
        for day in days:
            seconds, table = self._day(self._dir() / f"{day}.txt")
            values.append(table[:, columns])
            midnight = np.datetime64(f"{day[4:]}-{day[2:4]}-{day[:2]}", "s")
            times.append(midnight + seconds.astype("timedelta64[s]") - LOCAL_OFFSET)
            if actuator is not None:
                label = np.zeros(len(seconds), dtype=np.int8)
                for fault in FAULTS:
                    if fault.day == day and fault.actuator == actuator:
                        label[(seconds >= fault.start) & (seconds <= fault.end)] = 1
                labels.append(label)
        utc: TimeArray = np.concatenate(times).astype("datetime64[ns]")
        return Split(np.concatenate(values), utc, np.concatenate(labels) if labels else None)

    def _day(self, path: Path) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Seconds of day and the 32 tags of one file, without its corrupt rows."""
        data = path.read_bytes()
        rows = data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
        table: FloatArray | None = None
        problems: dict[int, str] = {}
        # pandas pads short lines and rejects long ones, so equal totals mean every line is whole.
        if rows and data.count(b"\t") == rows * (WIDTH - 1):
            try:
                frame = pd.read_csv(
                    io.BytesIO(data), sep="\t", header=None, dtype=np.float64, engine="c",
                    skip_blank_lines=False,  # keeps row i on line i + 1
                )  # fmt: skip
                table = frame.to_numpy(np.float64) if frame.shape == (rows, WIDTH) else None
            except ValueError:  # a cell that is not a number: found line by line below
                pass
        if table is None:
            table, problems, padding = _read_slowly(data)
        else:  # lines of bare tabs, as the slow pass sees them
            padding = set(np.flatnonzero(np.isnan(table).all(axis=1)).tolist())
        seconds = table[:, 0]
        sound = (seconds == np.floor(seconds)) & (seconds >= 0) & (seconds < DAY_SECONDS)
        sound[list(problems.keys() | padding)] = False
        # Each second must exceed every sound one before it, so times always rise; in a
        # clean file that is one comparison per row.
        before = np.maximum.accumulate(np.where(sound, seconds, -1.0))
        rising = np.concatenate(([True], seconds[1:] > before[:-1]))
        for row in np.flatnonzero(~(sound & rising)).tolist():
            if row not in padding:
                problems.setdefault(row, f"second of day {seconds[row]:g} out of order or range")
        keep = np.ones(len(table), dtype=np.bool_)
        keep[list(padding)] = False
        for i in sorted(problems):
            self.bad_rows.report(path, i + 1, problems[i])
            keep[i] = False
        kept = seconds[keep].astype(np.int64)
        gaps = int((np.diff(kept) - 1).sum()) if len(kept) > 1 else 0
        if gaps:
            log.warning("%s: %d seconds of the day have no row", path, gaps)
        return kept, table[keep, 1:]


def _read_slowly(data: bytes) -> tuple[FloatArray, dict[int, str], set[int]]:
    """Line by line, to name corrupt lines (row index -> why) and blank ones (padding)."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    table = np.full((len(lines), WIDTH), np.nan)
    problems: dict[int, str] = {}
    padding: set[int] = set()
    for i, line in enumerate(lines):
        cells = line.rstrip("\r").split("\t")
        if not line.strip():
            padding.add(i)
        elif len(cells) != WIDTH:
            problems[i] = f"{len(cells)} fields, expected {WIDTH}"
        else:
            try:
                table[i] = [float(cell) if cell.strip() else np.nan for cell in cells]
            except ValueError:
                column = next(j for j, cell in enumerate(cells) if not _is_number(cell))
                problems[i] = f"field {column + 1} is not a number: {cells[column]!r}"
    return table, problems, padding


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
