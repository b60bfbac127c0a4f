"""Dataset names to loader classes, imported only when a dataset is used."""

from __future__ import annotations

import importlib
from typing import Final

from producers.datasets.base import DatasetError, DatasetLoader

__all__ = ["LOADERS", "UnknownDatasetError", "loader_class"]

# name -> "module:Class"; importing lazily keeps `anomstream --help` fast and lets a
# loader with heavier needs (openpyxl for SWaT's .xlsx) cost nothing until it is used.
LOADERS: Final[dict[str, str]] = {
    "skab": "producers.datasets.skab:SkabLoader",
    "smd": "producers.datasets.smd:SmdLoader",
    "smap": "producers.datasets.smap_msl:SmapLoader",
    "msl": "producers.datasets.smap_msl:MslLoader",
    "swat": "producers.datasets.swat:SwatLoader",
    "wadi": "producers.datasets.wadi:WadiLoader",
    "damadics": "producers.datasets.damadics:DamadicsLoader",
    "synthetic": "producers.datasets.synthetic:SyntheticLoader",
    "csv": "producers.datasets.csv_file:CsvLoader",
    "sql": "producers.datasets.sql_query:SqlLoader",
}


class UnknownDatasetError(DatasetError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")


def loader_class(name: str) -> type[DatasetLoader]:
    """The loader class registered under `name`."""
    try:
        target = LOADERS[name]
    except KeyError:
        raise UnknownDatasetError(name) from None
    module_name, _, class_name = target.partition(":")
    loader: type[DatasetLoader] = getattr(importlib.import_module(module_name), class_name)
    return loader
