"""Users' own files: CSV, JSON lines or Parquet, with a timestamp column and numeric channels."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from producers.datasets._table_check import LABEL_NAMES, NA_TOKENS, RawTable
from producers.datasets._table_files import SUFFIXES, read_table
from producers.datasets._table_loader import Source, TableLoader
from producers.datasets.base import BadRowPolicy, DatasetMissingError

__all__ = ["LABEL_NAMES", "NA_TOKENS", "CsvLoader"]


class CsvLoader(TableLoader):
    """Files of your own: `path` is one file or a folder of them, one entity per file.

    A file is read by its extension: `.csv` (and any other) as CSV, `.jsonl`/`.ndjson` as
    one JSON object per line, `.parquet` as Parquet; a folder holds any mix of them. With
    `entity_column`, a file holds several entities, told apart by that column. Times are
    ISO 8601 (naive ones are UTC), epoch seconds or, in JSON and Parquet, typed times;
    strictly increasing per entity. Every other numeric column is a channel; an empty
    cell (or nan, NA, null) is missing. Train is the first `train_fraction` of each
    entity's rows, test the rest. The label column (0/1) is `label_column`, else the one
    column named as in `LABEL_NAMES` (any case; two such columns are an error), else none;
    `guess_label=False` takes no column as the label, whatever its name. Labels go with
    both splits; detectors fit without them, and the train labels are there for reference
    only. A corrupt row is named by file and line (a Parquet file's by row, from 1).
    """

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = (
        "your own CSV, JSON lines or Parquet files: a timestamp column and numeric columns"
    )
    source: ClassVar[str] = "your own files: one .csv/.jsonl/.parquet, or a folder of them"
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
        super().__init__(
            data_dir,
            on_bad_row=on_bad_row,
            timestamp_column=timestamp_column,
            label_column=label_column,
            guess_label=guess_label,
            entity_column=entity_column,
            train_fraction=train_fraction,
        )
        if path is not None:
            self.location = path
        self.separator = separator

    def is_present(self) -> bool:
        return bool(self._files())

    def require(self) -> None:
        # The base message asks to download and unpack; here the files are the user's own.
        if not self.is_present():
            raise DatasetMissingError(
                f"no data files at {self.location}: give one {', '.join(SUFFIXES)} file, or "
                f"a folder of them, as the path (default: <data dir>/{self.folder})"
            )

    def _files(self) -> list[Path]:
        if self.location.is_file():
            return [self.location]
        if not self.location.is_dir():
            return []
        files = self.location.iterdir()
        return sorted(f for f in files if f.suffix.lower() in SUFFIXES and f.is_file())

    def _sources(self) -> list[Source]:
        return list(self._files())

    def _read(self, source: Source) -> RawTable:
        return read_table(Path(source), self.separator)

    def _default_entity(self, source: Source) -> str:
        return Path(source).stem
