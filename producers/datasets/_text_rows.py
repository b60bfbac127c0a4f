"""Delimited text rows read fast with pandas, and line by line only to find a corrupt line."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from producers.datasets.base import (
    BadRows,
)

__all__ = ["Rows", "keep_rows", "natural_key", "read_rows"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def natural_key(name: str) -> list[str | int]:
    """Sort key that orders the numbers inside names numerically (machine-1-2 < machine-1-10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Rows:
    """A delimited file's data lines; a corrupt line has a NaN row and an entry in `problems`."""

    values: FloatArray
    text: list[str]  # the first column when read as text, else empty
    problems: dict[int, str]  # row index -> why that line is corrupt
    first_line: int  # 1-based line number of row 0


def read_rows(path: Path, *, sep: str, width: int, header: bool, text_first: bool) -> Rows:
    """Read a numeric delimited file with pandas, or line by line when a line is corrupt."""
    data = path.read_bytes()
    body = data.partition(b"\n")[2] if header else data
    rows = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    # pandas pads short lines with NaN and rejects long ones; equal separator counts in total
    # then mean every line has exactly `width` fields, so the fast path needs no line loop.
    if rows and body.count(sep.encode()) == rows * (width - 1):
        try:
            # Letting pandas infer the numeric dtypes is twice as fast as asking for float64.
            frame = pd.read_csv(
                io.BytesIO(body),
                sep=sep,
                header=None,
                dtype={0: str} if text_first else None,
                keep_default_na=False,
                na_values=[""],
                quoting=csv.QUOTE_NONE,
                skip_blank_lines=False,
            )
        except ValueError:  # malformed text or bytes: found line by line below
            frame = None
        if frame is not None and frame.shape == (rows, width):
            numbers = frame.iloc[:, int(text_first) :]
            # A non-number makes pandas fall back to object (or bool) for its column.
            if all(dtype.kind in "iuf" for dtype in numbers.dtypes):
                text = frame[0].fillna("").tolist() if text_first else []
                return Rows(numbers.to_numpy(np.float64), text, {}, 1 + int(header))
    return _read_slowly(body, sep, width, text_first, 1 + int(header))


def _read_slowly(body: bytes, sep: str, width: int, text_first: bool, first_line: int) -> Rows:
    lines = body.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    values = np.full((len(lines), width - int(text_first)), np.nan)
    text = [""] * len(lines) if text_first else []
    problems: dict[int, str] = {}
    for i, line in enumerate(lines):
        cells = line.rstrip("\r").split(sep)
        if len(cells) != width:
            problems[i] = f"{len(cells)} fields, expected {width}"
            continue
        if text_first:
            text[i] = cells.pop(0)
        for j, cell in enumerate(cells):
            try:
                values[i, j] = float(cell) if cell.strip() else np.nan
            except ValueError:
                problems[i] = f"not a number in field {j + 1 + int(text_first)}: {cell!r}"
                break
    return Rows(values, text, problems, first_line)


def keep_rows(
    bad_rows: BadRows, path: Path, rows: int, problems: dict[int, str], first: int
) -> BoolArray:
    """Report corrupt rows in file order (the first one raises under "fail"); mask of the rest."""
    keep = np.ones(rows, dtype=np.bool_)
    for i in sorted(problems):
        bad_rows.report(path, first + i, problems[i])
        keep[i] = False
    return keep
