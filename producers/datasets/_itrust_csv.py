"""iTrust's CSV exports (SWaT, WADI): header after notes, read fast, corrupt lines found."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from producers.datasets.base import (
    BadRows,
    DatasetError,
)

__all__ = ["CsvRows", "find_header", "read_csv_rows"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
HEADER_SEARCH = 10  # how many leading lines may be notes before the header

# A cell pandas reads as a number: empty, or a number or NA spelling, maybe with spaces
# around (spaces alone are not). Atomic groups, so a failing line cannot backtrack.
_NUMBER = (
    r"(?>[ \t]*(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:[-+]?(?:inf(?:inity)?|nan))"
    r"|<NA>|#N/A N/A|#N/A|N/A|#NA|NA|NULL|null|None|n/a|-?1\.#IND|-?1\.#QNAN)[ \t]*)?"
)
NUMBERS = re.compile(f"{_NUMBER}(?:,{_NUMBER})*")
# Ten times faster than NUMBERS, and enough for most lines: digits, dots, signs and e.
PLAIN = re.compile(r"[0-9.eE+\-,]*")


@dataclass(frozen=True)
class CsvRows:
    """Data rows of a CSV export: cells by column position, and each row's 1-based line."""

    frame: pd.DataFrame  # columns 0..width-1: numeric ones float64, the others strings
    lines: IntArray


def find_header(path: Path, first_cell: str) -> tuple[int, tuple[str, ...]]:
    """The 1-based line of the header (its first cell is `first_cell`) and its stripped cells.

    iTrust's exports put notes above the header (three lines in WADI's 14-day file, one in
    SWaT's normal run) and pad names with spaces; both are found rather than assumed.
    """
    with path.open("rb") as handle:
        for number in range(1, HEADER_SEARCH + 1):
            raw = handle.readline()
            cells = [c.strip() for c in raw.decode("utf-8-sig", "replace").split(",")]
            if cells[0].lower() == first_cell.lower():
                return number, tuple(cells)
    raise DatasetError(f"{path}: no header line starting with {first_cell!r} in its first lines")


def read_csv_rows(
    path: Path, header_line: int, width: int, numeric: range, bad_rows: BadRows
) -> CsvRows:
    """The rows below `header_line`, shared by SWaT and WADI (iTrust's CSV exports).

    Columns in `numeric` are read as float64 (an empty cell is NaN), the rest as strings.
    Corrupt lines go to `bad_rows`, in file order. A line of bare separators is padding: a
    row of NaN, or left out if a line-by-line pass ran. That pass runs only if pandas fails:
    first a quick one that catches what is not made of digits, then, if pandas still fails,
    a thorough one (about a minute for WADI) for malformed numbers such as "1.2.3".
    """
    dtype = {i: "float64" if i in numeric else "str" for i in range(width)}
    rows, separators = _count(path, header_line)
    # pandas pads short lines and rejects long ones, so equal totals mean every line is whole.
    passes = [False, True] if separators != rows * (width - 1) else [None, False, True]
    dropped: set[int] = set()  # lines left out: corrupt or padding
    last = header_line + rows
    for thorough in passes:
        if thorough is not None:
            dropped, last = _scan(path, header_line, width, numeric, bad_rows, dropped, thorough)
        try:
            frame = _pandas(path, set(range(header_line)) | {n - 1 for n in dropped}, width, dtype)
        except ValueError as error:  # ParserError (a long line) is a ValueError too
            failure = f"{path}: {error}"
            continue
        lines = [n for n in range(header_line + 1, last + 1) if n not in dropped]
        if len(frame) == len(lines):
            return CsvRows(frame, np.array(lines, dtype=np.int64))
        failure = f"{path}: read {len(frame)} rows where {len(lines)} lines were expected"
    raise DatasetError(failure)


def _pandas(path: Path, skip: set[int], width: int, dtype: dict[int, str]) -> pd.DataFrame:
    return pd.read_csv(
        path,
        header=None,
        names=list(range(width)),
        skiprows=sorted(skip),
        dtype=dtype,
        skip_blank_lines=False,  # keeps each row on a known line
        encoding="utf-8",
        encoding_errors="replace",
        engine="c",
    )


def _count(path: Path, header_line: int) -> tuple[int, int]:
    """Lines and separators below the header, without holding the file in memory."""
    rows = separators = 0
    tail = b"\n"
    with path.open("rb") as handle:
        for _ in range(header_line):
            handle.readline()
        while block := handle.read(1 << 24):
            rows += block.count(b"\n")
            separators += block.count(b",")
            tail = block[-1:]
    return rows + (tail != b"\n"), separators


def _scan(
    path: Path,
    header_line: int,
    width: int,
    numeric: range,
    bad_rows: BadRows,
    reported: set[int],
    thorough: bool,
) -> tuple[set[int], int]:
    """Reports corrupt lines not yet `reported`; returns the lines to leave out and the last."""
    dropped: set[int] = set()
    number = header_line
    # Universal newlines: \r, \n and \r\n each end a line, as they do for pandas.
    with path.open(encoding="utf-8", errors="replace", newline=None) as handle:
        for number, line in enumerate(handle, start=1):
            if number <= header_line:
                continue
            if not line.strip(", \t\n"):
                dropped.add(number)  # padding
                continue
            cells = line.rstrip("\n").split(",")
            if len(cells) != width:
                reason = f"{len(cells)} fields, expected {width}"
            else:
                part = ",".join(cells[numeric.start : numeric.stop])
                if (not thorough and PLAIN.fullmatch(part)) or NUMBERS.fullmatch(part):
                    continue
                column = next(i for i in numeric if not NUMBERS.fullmatch(cells[i]))
                reason = f"field {column + 1} is not a number: {cells[column]!r}"
            dropped.add(number)
            if number not in reported:
                bad_rows.report(path, number, reason)
    return dropped, number
