"""Dataset options of replay, train and evaluate: data root, bad rows, csv, sql, synthetic."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from anomstream.errors import settings_error
from producers.datasets import DatasetLoader, DataSettings, SqlSettings, loader_class

__all__ = [
    "add_data_dir_argument",
    "add_dataset_arguments",
    "data_dir",
    "open_loader",
    "positive_int",
    "sql_settings",
]


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1, with a one-line message otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_data_dir_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="data root (env ANOMSTREAM_DATA_DIR, default data/raw)"
    )


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The `data` group: where datasets live, bad rows, and the csv/sql/synthetic options."""
    data = parser.add_argument_group("data")
    add_data_dir_argument(data)
    data.add_argument(
        "--on-bad-row",
        choices=["fail", "skip"],
        default="fail",
        help="a corrupt row stops the command (fail) or is reported and skipped",
    )
    data.add_argument(
        "--path",
        type=Path,
        help="csv: a .csv, .jsonl or .parquet file (read by extension), or a folder of them",
    )
    data.add_argument(
        "--url",
        help="sql: database URL, e.g. postgresql://user@host:5432/db (env ANOMSTREAM_SQL_URL, "
        "the better place for a password; PGPASSWORD and ~/.pgpass work too)",
    )
    data.add_argument(
        "--query", help="sql: the SELECT whose rows to read (env ANOMSTREAM_SQL_QUERY)"
    )
    data.add_argument("--timestamp-column", default="timestamp", help="csv, sql: timestamp column")
    labels = data.add_mutually_exclusive_group()
    labels.add_argument(
        "--label-column",
        metavar="NAME",
        help="csv, sql: the 0/1 label column, never a channel (default: the column named "
        "label, anomaly, is_anomaly or attack, in any case, if there is one)",
    )
    labels.add_argument(
        "--no-label-column",
        action="store_true",
        help="csv, sql: no column is the label, whatever its name (all numeric ones are channels)",
    )
    data.add_argument(
        "--entity-column",
        metavar="NAME",
        help="csv, sql: the column naming each row's entity, so one file holds several "
        "(default: one entity per file, named after it; sql: one entity, 'sql')",
    )
    data.add_argument("--config", type=Path, help="synthetic: sensor config (TOML)")
    data.add_argument("--entities", type=positive_int, help="synthetic: number of entities")
    data.add_argument("--data-seed", type=int, help="synthetic: random seed of the data")


def data_dir(args: argparse.Namespace) -> Path:
    """`--data-dir` if given, else the `ANOMSTREAM_DATA_DIR` setting."""
    if args.data_dir is not None:
        given: Path = args.data_dir
        return given
    try:
        return DataSettings().data_dir
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_") from None


def sql_settings(args: argparse.Namespace) -> SqlSettings:
    """`ANOMSTREAM_SQL_*` settings, with `--url` and `--query` over them where given."""
    given = {"url": args.url, "query": args.query}
    try:
        return SqlSettings(**{key: value for key, value in given.items() if value is not None})
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_SQL_") from None


def open_loader(args: argparse.Namespace) -> DatasetLoader:
    """The loader of `args.dataset`, with the options that dataset takes."""
    extra: dict[str, Any] = {}
    if args.dataset in ("csv", "sql"):
        extra = {
            "timestamp_column": args.timestamp_column,
            "label_column": args.label_column,
            "guess_label": not args.no_label_column,
            "entity_column": args.entity_column,
        }
        if args.dataset == "csv":
            extra["path"] = args.path
        else:
            extra["settings"] = sql_settings(args)
    elif args.dataset == "synthetic":
        extra = {"config": args.config, "entities": args.entities, "seed": args.data_seed}
    loader: DatasetLoader = loader_class(args.dataset)(
        data_dir(args), on_bad_row=args.on_bad_row, **extra
    )
    return loader
