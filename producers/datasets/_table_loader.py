"""The loader of the user's own tables (files, a SQL query): entities, and a split per entity."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

from producers.datasets._table_check import Columns, RawTable, Table, check_table
from producers.datasets.base import (
    BadRowPolicy,
    DatasetError,
    DatasetLoader,
    EntityData,
    Split,
)

__all__ = ["TableLoader"]

Source = Path | str


class TableLoader(DatasetLoader):
    """Rows from one or more sources, each checked once (`_table_check`), split per entity.

    Train is the first `train_fraction` of each entity's rows, test the rest. Without
    `entity_column` each source is one entity (`_default_entity`); with it, a source may
    hold several, and an entity's rows must all be in one source.
    """

    # Rows of a source with no order of its own (a SQL result) are sorted by time.
    order_by_time: ClassVar[bool] = False

    def __init__(
        self,
        data_dir: Path,
        *,
        on_bad_row: BadRowPolicy = "fail",
        timestamp_column: str = "timestamp",
        label_column: str | None = None,
        guess_label: bool = True,
        entity_column: str | None = None,
        train_fraction: float = 0.5,
    ) -> None:
        super().__init__(data_dir, on_bad_row=on_bad_row)
        if not 0 < train_fraction < 1:
            raise DatasetError(f"train_fraction must be between 0 and 1, got {train_fraction}")
        self.columns = Columns(timestamp_column, label_column, guess_label, entity_column)
        self.train_fraction = train_fraction
        # Each source is read once, so a skipped row is reported once, not on every load.
        self._tables: dict[Source, Table] = {}

    @abstractmethod
    def _sources(self) -> list[Source]:
        """The sources in order: files, or the one query."""

    @abstractmethod
    def _read(self, source: Source) -> RawTable:
        """The rows of one source, unchecked."""

    @abstractmethod
    def _default_entity(self, source: Source) -> str:
        """The entity of a source's rows when no column names it."""

    def _table(self, source: Source) -> Table:
        if source not in self._tables:
            self._tables[source] = check_table(
                self._read(source),
                self.columns,
                self.bad_rows,
                default_entity=self._default_entity(source),
                order_by_time=self.order_by_time,
            )
        return self._tables[source]

    def _owners(self) -> dict[str, Source]:
        """Entity -> the source holding it, in order of first appearance."""
        owners: dict[str, Source] = {}
        for source in self._sources():
            if self.columns.entity is None:
                names = [self._default_entity(source)]
            else:
                names = list(dict.fromkeys(self._table(source).entities.tolist()))
            for entity in names:
                if entity in owners:
                    raise DatasetError(
                        f"entity {entity!r} is in both {owners[entity]} and {source}; "
                        f"keep each entity's rows in one source"
                    )
                owners[entity] = source
        return owners

    def _entities(self) -> list[str]:
        return list(self._owners())

    def _load(self, entity: str) -> EntityData:
        source = self._owners()[entity]
        table = self._table(source)
        rows = table.entities == entity
        values, times = table.values[rows], table.timestamps[rows]
        labels = None if table.labels is None else table.labels[rows]
        cut = int(len(values) * self.train_fraction)
        if cut == 0 or cut == len(values):
            raise DatasetError(
                f"{source}: entity {entity!r} has {len(values)} rows, too few to split into "
                f"train and test at train_fraction={self.train_fraction}"
            )
        return EntityData(
            dataset=self.name,
            entity=entity,
            channels=table.channels,
            train=Split(values[:cut], times[:cut], None if labels is None else labels[:cut]),
            test=Split(values[cut:], times[cut:], None if labels is None else labels[cut:]),
        )
