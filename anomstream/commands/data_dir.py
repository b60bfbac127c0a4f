"""The `--data-dir` option that every dataset command shares, and its resolution."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from anomstream.errors import settings_error
from producers.datasets import DataSettings

__all__ = ["add_data_dir_argument", "data_dir"]


def add_data_dir_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="data root (env ANOMSTREAM_DATA_DIR, default data/raw)"
    )


def data_dir(args: argparse.Namespace) -> Path:
    """`--data-dir` if given, else the `ANOMSTREAM_DATA_DIR` setting."""
    if args.data_dir is not None:
        given: Path = args.data_dir
        return given
    try:
        return DataSettings().data_dir
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_") from None
