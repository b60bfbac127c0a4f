"""A table of the user's rows, from any source, checked into arrays under the bad-row policy.

CSV, JSON lines, Parquet and SQL rows all come here as a pandas DataFrame: cells read from
text (a CSV) and typed cells (a Parquet float, a SQL timestamp) go through the same checks,
so a row is kept, skipped or refused for the same reasons whatever it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from producers.datasets.base import BadRows, DatasetError

__all__ = ["LABEL_NAMES", "NA_TOKENS", "Columns", "RawTable", "Table", "check_table"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
LabelArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

# Cells read as missing (NaN) rather than as corrupt; compared after strip and lower-case.
NA_TOKENS = ("", "nan", "na", "n/a", "null", "none")
# Without a label column named, a column with one of these names (any case) is the label:
# as a channel it would hand the model the answer.
LABEL_NAMES = ("label", "anomaly", "is_anomaly", "attack")


@dataclass(frozen=True)
class Columns:
    """The columns with a role, as the user named them; every other numeric one is a channel."""

    timestamp: str = "timestamp"
    label: str | None = None
    guess_label: bool = True
    entity: str | None = None


@dataclass(frozen=True)
class RawTable:
    """Rows as a source gave them, before any check.

    `numbers` names each row in messages: its line in a text file, else its 1-based position
    (`unit` says which). `problems` holds rows the reader already found bad (a line that is
    not JSON), by row index, so that every bad row is reported in order.
    """

    source: Path | str
    frame: pd.DataFrame
    numbers: IntArray
    unit: str = "line"
    problems: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """The good rows of one source in its order, with the entity and number of each."""

    channels: tuple[str, ...]
    values: FloatArray
    timestamps: TimeArray
    labels: LabelArray | None
    entities: ObjectArray
    numbers: IntArray


class _Reasons:
    """The first problem found on each row, as text; empty where there is none."""

    def __init__(self, raw: RawTable) -> None:
        self.frame = raw.frame
        self.by_row: ObjectArray = np.full(len(raw.frame), "", dtype=object)
        for row, why in raw.problems.items():
            self.by_row[row] = why

    def flag(self, bad: BoolArray, column: str, why: str) -> None:
        for row in np.flatnonzero(bad & (self.by_row == "")):
            cell = self.frame[column].iloc[row]
            shown = cell.item() if isinstance(cell, np.generic) else cell
            self.by_row[row] = f"column {column!r}: {shown!r} {why}"


def _is_number(column: pd.Series[Any]) -> bool:
    return ptypes.is_numeric_dtype(column.dtype) or ptypes.is_bool_dtype(column.dtype)


def _text(column: pd.Series[Any]) -> pd.Series[str]:
    """Each cell as stripped text, "" where missing (a CSV's cells are text already)."""
    if isinstance(column.dtype, pd.StringDtype):
        stripped: pd.Series[str] = column.fillna("").str.strip()
        return stripped
    cells = column.astype(object).where(column.notna(), "")
    text: pd.Series[str] = cells.astype(str).str.strip()
    return text


def _names(column: pd.Series[Any]) -> pd.Series[str]:
    """Entity names: text, where a whole number is named without a decimal point."""
    if ptypes.is_float_dtype(column.dtype):
        numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
        given = numbers[~np.isnan(numbers)]
        if bool(np.all((given == np.floor(given)) & (np.abs(given) < 2**53))):
            # JSON's 7 becomes 7.0 in a column with a gap; the entity is still "7".
            column = column.astype("Int64")
    return _text(column)


def _numbers(column: pd.Series[Any]) -> tuple[FloatArray, BoolArray]:
    """Each cell as a float (NaN where it is none) and whether it is there at all."""
    if _is_number(column):
        numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
        present: BoolArray = ~np.isnan(numbers)
        return numbers, present
    text = _text(column)
    parsed = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return parsed, ~text.str.lower().isin(NA_TOKENS).to_numpy()


def _mostly(ok: BoolArray, present: BoolArray) -> bool:
    """Whether most non-missing cells of a column parse; an all-empty column counts as yes."""
    return int((ok & present).sum()) * 2 >= int(present.sum())


def _timestamps(column: pd.Series[Any], reasons: _Reasons, name: str) -> TimeArray:
    """Times as they are, epoch seconds from numbers, else ISO 8601 text; NaT where none."""
    # utc=True reads naive times as UTC and converts the ones with a zone or an offset.
    times: pd.Series[pd.Timestamp]
    why = "is neither ISO 8601 nor epoch seconds"
    if ptypes.is_datetime64_any_dtype(column.dtype):
        times, why = pd.to_datetime(column, utc=True), "is not a time"
    elif _is_number(column):
        seconds = pd.Series(_numbers(column)[0])
        times = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
    else:
        text = _text(column)
        numbers = pd.to_numeric(text, errors="coerce")
        if _mostly(numbers.notna().to_numpy(), (text != "").to_numpy()):
            times = pd.to_datetime(numbers, unit="s", utc=True, errors="coerce")
        else:
            times = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    reasons.flag(times.isna().to_numpy(), name, why)
    utc: TimeArray = times.dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    return utc


def _channels(source: Path | str, frame: pd.DataFrame, reasons: _Reasons) -> dict[str, FloatArray]:
    """The numeric columns of `frame`, NaN where missing; flags cells that are not numbers."""
    channels: dict[str, FloatArray] = {}
    for column in map(str, frame.columns):
        numbers, present = _numbers(frame[column])
        finite = np.isfinite(numbers)
        # A column of words (a state, an operator's note) is not a channel; a column of
        # numbers with a few broken cells is one, with those rows reported.
        if not _mostly(finite, present):
            log.info("%s: column %r is not numeric, so not a channel", source, column)
            continue
        reasons.flag(present & ~finite, column, "is not a finite number")
        channels[column] = np.where(present, numbers, np.nan)
    return channels


def _label_column(source: Path | str, names: list[str], columns: Columns) -> str | None:
    """The label column named, or the one column named like a label, or None."""
    taken = {columns.timestamp, columns.entity, columns.label}
    found = [c for c in names if c.strip().lower() in LABEL_NAMES and c not in taken]
    if columns.label is not None and found:
        log.warning(
            "%s: column %s looks like a label but is read as a channel, since the "
            "label column is %r", source, ", ".join(map(repr, found)), columns.label,
        )  # fmt: skip
    if columns.label is not None or not columns.guess_label:
        return columns.label
    if len(found) > 1:
        raise DatasetError(
            f"{source}: columns {', '.join(map(repr, found))} could each be the label; "
            "name it (--label-column NAME), or use none (--no-label-column)"
        )
    if found:
        log.info(
            "%s: column %r is the label, not a channel (--label-column NAME names "
            "another, --no-label-column uses none)", source, found[0],
        )  # fmt: skip
        return found[0]
    return None


def _check_columns(raw: RawTable, columns: Columns) -> list[str]:
    names = list(map(str, raw.frame.columns))
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DatasetError(f"{raw.source}: more than one column named {', '.join(twice)}")
    for column in (columns.timestamp, columns.label, columns.entity):
        if column is not None and column not in names:
            raise DatasetError(f"{raw.source}: no column {column!r}; its columns are {names}")
    return names


def check_table(
    raw: RawTable,
    columns: Columns,
    bad_rows: BadRows,
    *,
    default_entity: str,
    order_by_time: bool = False,
) -> Table:
    """Check every row of `raw`, report the bad ones to `bad_rows` in order, keep the rest.

    Rows without `columns.entity` all belong to `default_entity`. With `order_by_time` (rows
    whose source has no order of its own, as a SQL result), the good rows are sorted by time
    first; either way times must then increase strictly per entity.
    """
    names = _check_columns(raw, columns)
    frame = raw.frame.reset_index(drop=True)
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if objects:
        # Typed sources give Python objects where a column has gaps or mixed kinds (True
        # beside None, 7 beside None): pandas' nullable types make numbers of them again.
        frame[objects] = frame[objects].convert_dtypes()
    raw = RawTable(raw.source, frame, raw.numbers, raw.unit, raw.problems)
    reasons = _Reasons(raw)
    times = _timestamps(frame[columns.timestamp], reasons, columns.timestamp)
    label_column = _label_column(raw.source, names, columns)
    labels = None
    if label_column is not None:
        numbers = _numbers(frame[label_column])[0]
        reasons.flag(~np.isin(numbers, (0, 1)), label_column, "is not a label (0 or 1)")
        labels = np.where(numbers == 1, 1, 0).astype(np.int8)
    if columns.entity is None:
        entities = np.full(len(frame), default_entity, dtype=object)
    else:
        entities = _names(frame[columns.entity]).to_numpy(dtype=object)
        reasons.flag(entities == "", columns.entity, "names no entity")
    special = [c for c in (columns.timestamp, label_column, columns.entity) if c is not None]
    channels = _channels(raw.source, frame.drop(columns=special), reasons)
    bad = reasons.by_row != ""
    for row in np.flatnonzero(bad):
        bad_rows.report(raw.source, int(raw.numbers[row]), str(reasons.by_row[row]))
    keep = np.flatnonzero(~bad)
    if order_by_time:
        keep = keep[np.argsort(times[keep], kind="stable")]
    values = np.empty((len(frame), len(channels)))
    for i, column in enumerate(channels.values()):
        values[:, i] = column
    table = Table(
        channels=tuple(channels),
        values=values[keep],
        timestamps=times[keep],
        labels=None if labels is None else labels[keep],
        entities=entities[keep],
        numbers=raw.numbers[keep],
    )
    _check_order(raw, table)
    return table


def _check_order(raw: RawTable, table: Table) -> None:
    """Raise naming the first row whose time is not after its entity's previous row."""
    # A stable sort groups each entity's rows and keeps them in the table's order.
    order = np.argsort(table.entities, kind="stable")
    times, entities = table.timestamps[order], table.entities[order]
    numbers = table.numbers[order]
    wrong = np.flatnonzero((entities[1:] == entities[:-1]) & (times[1:] <= times[:-1]))
    if wrong.size:
        first = wrong[np.argmin(numbers[wrong + 1])]
        raise DatasetError(
            f"{raw.source}:{numbers[first + 1]}: timestamp {times[first + 1]} is not after "
            f"{times[first]} on {raw.unit} {numbers[first]}; times must increase per entity"
        )
