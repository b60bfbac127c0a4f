"""`anomstream datasets`: each registered dataset, where its loader looks, whether it is there."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from anomstream.commands.dataset_options import add_data_dir_argument, data_dir
from producers.datasets import LOADERS, loader_class
from producers.fetch_sources import SOURCES, NoFetch, guidance

_COLUMNS = ("dataset", "status", "location", "description")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list the datasets, where each is looked for and whether it is there",
        description="Status is present, missing (with how to get it), no fetch (nothing to "
        "download) or unavailable (its loader cannot be imported).",
    )
    add_data_dir_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    parser.set_defaults(run=run)


def describe(name: str, root: Path) -> dict[str, Any]:
    """What `anomstream datasets` says about one dataset; `present` is None where moot."""
    row: dict[str, Any] = {"dataset": name, "status": "unavailable", "present": None}
    try:
        cls = loader_class(name)
    except ImportError as exc:  # a loader whose optional dependency is not installed
        return row | {"location": None, "description": "", "next": f"cannot import: {exc}"}
    row |= {"description": cls.description, "location": str(root / cls.folder)}
    plan = SOURCES.get(name)
    if isinstance(plan, NoFetch):
        # Not instantiated: such loaders need no data root and may want other arguments.
        return row | {"status": "no fetch", "location": None, "next": plan.reason}
    loader = cls(root)
    present = loader.is_present()
    return row | {
        "status": "present" if present else "missing",
        "present": present,
        "location": str(loader.location),
        "next": None if present else guidance(name, loader),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [[str(row[c] or "-") for c in _COLUMNS] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(_COLUMNS)]
    lines = [[c.upper() for c in _COLUMNS], *cells]
    # The last column is left ragged: padding a description only adds trailing blanks.
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    ]
    todo = [f"  {row['dataset']}: {row['next']}" for row in rows if row["present"] is False]
    broken = [
        f"  {row['dataset']}: {row['next']}" for row in rows if row["status"] == "unavailable"
    ]
    if todo:
        text += ["", "To get the missing ones:", *todo]
    if broken:
        text += ["", "Loaders that cannot be imported:", *broken]
    return "\n".join(text)


def run(args: argparse.Namespace) -> int:
    root = data_dir(args)
    rows = [describe(name, root) for name in LOADERS]
    print(json.dumps(rows, indent=2) if args.json else _table(rows))
    return 0
