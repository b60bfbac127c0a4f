"""Users' own CSV files: a timestamp column, numeric channels, optional label and entity."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from producers.datasets.base import (
    BadRowPolicy,
    DatasetError,
    DatasetLoader,
    DatasetMissingError,
    EntityData,
    Split,
)

__all__ = ["CsvLoader"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
LabelArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

# Cells read as missing (NaN) rather than as corrupt; compared after strip and lower-case.
NA_TOKENS = ("", "nan", "na", "n/a", "null", "none")
# Without `label_column`, a column with one of these names (any case) is the label: as a
# channel it would hand the model the answer.
LABEL_NAMES = ("label", "anomaly", "is_anomaly", "attack")


@dataclass(frozen=True)
class _Table:
    """The good rows of one file in file order, with the entity and line of each."""

    channels: tuple[str, ...]
    values: FloatArray
    timestamps: TimeArray
    labels: LabelArray | None
    entities: ObjectArray
    lines: IntArray


class _Reasons:
    """The first problem found on each row of a file, as text; empty where there is none."""

    def __init__(self, text: pd.DataFrame) -> None:
        self.text = text
        self.by_row: ObjectArray = np.full(len(text), "", dtype=object)

    def flag(self, bad: BoolArray, column: str, why: str) -> None:
        for row in np.flatnonzero(bad & (self.by_row == "")):
            self.by_row[row] = f"column {column!r}: {self.text[column].iloc[row]!r} {why}"


def _mostly(ok: BoolArray, present: BoolArray) -> bool:
    """Whether most non-missing cells of a column parse; an all-empty column counts as yes."""
    return int((ok & present).sum()) * 2 >= int(present.sum())


def _timestamps(text: pd.Series[str], reasons: _Reasons, column: str) -> TimeArray:
    """Epoch seconds when the column is mostly numbers, else ISO 8601; NaT where neither."""
    numbers = pd.to_numeric(text, errors="coerce")
    if _mostly(numbers.notna().to_numpy(), (text != "").to_numpy()):
        times = pd.to_datetime(numbers, unit="s", utc=True, errors="coerce")
    else:
        # utc=True reads naive times as UTC and converts the ones with an offset.
        times = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    reasons.flag(times.isna().to_numpy(), column, "is neither ISO 8601 nor epoch seconds")
    utc: TimeArray = times.dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    return utc


def _channels(file: Path, text: pd.DataFrame, reasons: _Reasons) -> dict[str, FloatArray]:
    """The numeric columns of `text`, NaN where missing; flags cells that are not numbers."""
    channels: dict[str, FloatArray] = {}
    for column in map(str, text.columns):
        numbers = pd.to_numeric(text[column], errors="coerce").to_numpy(dtype=np.float64)
        present = ~text[column].str.lower().isin(NA_TOKENS).to_numpy()
        finite = np.isfinite(numbers)
        # A column of words (a state, an operator's note) is not a channel; a column of
        # numbers with a few broken cells is one, with those rows reported.
        if not _mostly(finite, present):
            log.info("%s: column %r is not numeric, so not a channel", file, column)
            continue
        reasons.flag(present & ~finite, column, "is not a finite number")
        channels[column] = np.where(present, numbers, np.nan)
    return channels


class CsvLoader(DatasetLoader):
    """CSV files of your own: `path` is one file or a folder of `*.csv`, one entity per file.

    With `entity_column`, a file holds several entities, told apart by that column. Times
    are ISO 8601 (naive ones are UTC) or epoch seconds, strictly increasing per entity.
    Every other numeric column is a channel; an empty cell (or nan, NA, null) is missing.
    Train is the first `train_fraction` of each entity's rows, test the rest. The label
    column (0/1) is `label_column`, else the one column named as in `LABEL_NAMES` (any
    case; two such columns are an error), else none; `guess_label=False` takes no column
    as the label, whatever its name. Labels go with both splits; detectors fit without
    them, and the train labels are there for reference only.
    """

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "your own CSV files: a timestamp column and numeric columns"
    source: ClassVar[str] = "your own files: one .csv, or a folder of them, given as the path"
    folder: ClassVar[str] = "csv"

    def __init__(
        self,
        data_dir: Path,
        *,
        on_bad_row: BadRowPolicy = "fail",
        path: Path | None = None,
        timestamp_column: str = "timestamp",
        label_column: str | None = None,
        guess_label: bool = True,
        entity_column: str | None = None,
        train_fraction: float = 0.5,
        separator: str = ",",
    ) -> None:
        super().__init__(data_dir, on_bad_row=on_bad_row)
        if not 0 < train_fraction < 1:
            raise DatasetError(f"train_fraction must be between 0 and 1, got {train_fraction}")
        if path is not None:
            self.location = path
        self.timestamp_column = timestamp_column
        self.label_column = label_column
        self.guess_label = guess_label
        self.entity_column = entity_column
        self.train_fraction = train_fraction
        self.separator = separator
        # Each file is parsed once, so a skipped row is reported once, not on every load.
        self._tables: dict[Path, _Table] = {}

    def is_present(self) -> bool:
        return self.location.is_file() or any(self.location.glob("*.csv"))

    def require(self) -> None:
        # The base message asks to download and unpack; here the files are the user's own.
        if not self.is_present():
            raise DatasetMissingError(
                f"no CSV data at {self.location}: give one .csv file, or a folder of them, "
                f"as the path (default: <data dir>/{self.folder})"
            )

    def _files(self) -> list[Path]:
        return [self.location] if self.location.is_file() else sorted(self.location.glob("*.csv"))

    def _owners(self) -> dict[str, Path]:
        """Entity -> the file holding it, in order of first appearance."""
        if self.entity_column is None:
            return {file.stem: file for file in self._files()}
        owners: dict[str, Path] = {}
        for file in self._files():
            for entity in dict.fromkeys(self._table(file).entities.tolist()):
                if entity in owners:
                    raise DatasetError(
                        f"entity {entity!r} is in both {owners[entity]} and {file}; "
                        f"keep each entity's rows in one file"
                    )
                owners[entity] = file
        return owners

    def _entities(self) -> list[str]:
        return list(self._owners())

    def _load(self, entity: str) -> EntityData:
        file = self._owners()[entity]
        table = self._table(file)
        rows = table.entities == entity
        values, times = table.values[rows], table.timestamps[rows]
        labels = None if table.labels is None else table.labels[rows]
        cut = int(len(values) * self.train_fraction)
        if cut == 0 or cut == len(values):
            raise DatasetError(
                f"{file}: entity {entity!r} has {len(values)} rows, too few to split into "
                f"train and test at train_fraction={self.train_fraction}"
            )
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=table.channels,
            train=Split(values[:cut], times[:cut], None if labels is None else labels[:cut]),
            test=Split(values[cut:], times[cut:], None if labels is None else labels[cut:]),
        )

    def _table(self, file: Path) -> _Table:
        if file not in self._tables:
            self._tables[file] = self._read(file)
        return self._tables[file]

    def _text(self, file: Path) -> pd.DataFrame:
        """Every cell of `file` as stripped text; blank lines kept so row i is line i + 2."""
        try:
            frame = pd.read_csv(
                file, sep=self.separator, dtype=str, na_filter=False, skip_blank_lines=False
            )
        except (OSError, ValueError) as error:
            raise DatasetError(f"{file}: cannot read as CSV: {error}") from error
        for column in (self.timestamp_column, self.label_column, self.entity_column):
            if column is not None and column not in frame.columns:
                raise DatasetError(
                    f"{file}: no column {column!r}; its columns are {list(frame.columns)}"
                )
        # Short rows come back as NaN even with na_filter off.
        text = frame.fillna("")
        for column in text.columns:
            text[column] = text[column].str.strip()
        return text

    def _label_column(self, file: Path, columns: list[str]) -> str | None:
        """`label_column`, or the one column named like a label, or None."""
        taken = {self.timestamp_column, self.entity_column, self.label_column}
        found = [c for c in columns if c.strip().lower() in LABEL_NAMES and c not in taken]
        if self.label_column is not None and found:
            log.warning(
                "%s: column %s looks like a label but is read as a channel, since the "
                "label column is %r", file, ", ".join(map(repr, found)), self.label_column,
            )  # fmt: skip
        if self.label_column is not None or not self.guess_label:
            return self.label_column
        if len(found) > 1:
            raise DatasetError(
                f"{file}: columns {', '.join(map(repr, found))} could each be the label; "
                "name it (--label-column NAME), or use none (--no-label-column)"
            )
        if found:
            log.info(
                "%s: column %r is the label, not a channel (--label-column NAME names "
                "another, --no-label-column uses none)", file, found[0],
            )  # fmt: skip
            return found[0]
        return None

    def _read(self, file: Path) -> _Table:
        text = self._text(file)
        reasons = _Reasons(text)
        times = _timestamps(text[self.timestamp_column], reasons, self.timestamp_column)
        label_column = self._label_column(file, list(map(str, text.columns)))
        labels = None
        if label_column is not None:
            numbers = pd.to_numeric(text[label_column], errors="coerce").to_numpy()
            reasons.flag(~np.isin(numbers, (0, 1)), label_column, "is not a label (0 or 1)")
            labels = np.where(numbers == 1, 1, 0).astype(np.int8)
        if self.entity_column is None:
            entities = np.full(len(text), file.stem, dtype=object)
        else:
            entities = text[self.entity_column].to_numpy(dtype=object)
            reasons.flag(entities == "", self.entity_column, "names no entity")
        special = [self.timestamp_column, label_column, self.entity_column]
        channels = _channels(file, text.drop(columns=[c for c in special if c]), reasons)
        blank = (text == "").all(axis=1).to_numpy()
        lines = np.arange(len(text), dtype=np.int64) + 2
        bad = (reasons.by_row != "") & ~blank
        for row in np.flatnonzero(bad):
            self.bad_rows.report(file, int(lines[row]), str(reasons.by_row[row]))
        keep = ~bad & ~blank
        values = np.empty((len(text), len(channels)))
        for i, column in enumerate(channels.values()):
            values[:, i] = column
        table = _Table(
            channels=tuple(channels),
            values=values[keep],
            timestamps=times[keep],
            labels=None if labels is None else labels[keep],
            entities=entities[keep],
            lines=lines[keep],
        )
        _check_order(file, table)
        return table


def _check_order(file: Path, table: _Table) -> None:
    """Raise naming the first line whose time is not after its entity's previous row."""
    # A stable sort groups each entity's rows and keeps them in file order.
    order = np.argsort(table.entities, kind="stable")
    times, entities, lines = table.timestamps[order], table.entities[order], table.lines[order]
    wrong = np.flatnonzero((entities[1:] == entities[:-1]) & (times[1:] <= times[:-1]))
    if wrong.size:
        first = wrong[np.argmin(lines[wrong + 1])]
        raise DatasetError(
            f"{file}:{lines[first + 1]}: timestamp {times[first + 1]} is not after "
            f"{times[first]} on line {lines[first]}; times must increase per entity"
        )
