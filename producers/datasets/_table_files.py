"""The user's own files read into raw tables: CSV, JSON lines and Parquet, told by extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd

from producers.datasets._table_check import RawTable
from producers.datasets.base import DatasetError

__all__ = ["SUFFIXES", "read_table"]

Reader = Callable[[Path, str], RawTable]


def _read_csv(file: Path, separator: str) -> RawTable:
    """Every cell as stripped text; blank lines dropped, every row keeps its line number."""
    try:
        frame = pd.read_csv(file, sep=separator, dtype=str, na_filter=False, skip_blank_lines=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{file}: cannot read as CSV: {error}") from error
    # Short rows come back as NaN even with na_filter off.
    text = frame.fillna("")
    for column in text.columns:
        text[column] = text[column].str.strip()
    # Kept blank lines mean row i is line i + 2 (after the header).
    lines = np.arange(len(text), dtype=np.int64) + 2
    blank = (text == "").all(axis=1).to_numpy()
    return RawTable(file, text[~blank], lines[~blank])


def _read_jsonl(file: Path, separator: str) -> RawTable:
    """One JSON object per line, its keys the columns; a line that is not one is a bad row."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: dict[int, str] = {}
    try:
        with file.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    record, problems[len(records)] = {}, f"not JSON: {error}"
                if not isinstance(record, dict):
                    record, problems[len(records)] = {}, f"not a JSON object: {line[:40]!r}"
                records.append(record)
                lines.append(number)
    except OSError as error:
        raise DatasetError(f"{file}: cannot read: {error}") from error
    # Keys missing from some objects are missing cells there; columns in order of first use.
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    return RawTable(file, frame, np.array(lines, dtype=np.int64), problems=problems)


def _read_parquet(file: Path, separator: str) -> RawTable:
    """A Parquet file's columns with their types; rows are named by position (row 1, ...)."""
    try:
        frame = pd.read_parquet(file)
    except ImportError as error:
        raise DatasetError(f"{file}: reading Parquet needs pyarrow: {error}") from error
    # pyarrow's errors derive from these (ArrowInvalid from ValueError, and so on).
    except (OSError, ValueError, NotImplementedError) as error:
        raise DatasetError(f"{file}: cannot read as Parquet: {error}") from error
    if any(name is not None for name in frame.index.names):
        # Written from a frame indexed by time (or entity): the index is a column again.
        frame = frame.reset_index()
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return RawTable(file, frame, rows, unit="row")


# Lower-case extension -> reader; anything else is read as CSV.
_READERS: Final[dict[str, Reader]] = {
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".parquet": _read_parquet,
}
SUFFIXES: Final = tuple(_READERS)


def read_table(file: Path, separator: str = ",") -> RawTable:
    """The rows of `file`, read by its extension (`separator` is for CSV only)."""
    return _READERS.get(file.suffix.lower(), _read_csv)(file, separator)
