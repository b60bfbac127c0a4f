"""`anomstream schemas`: write the JSON Schema of every message type."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schemas import write_json_schemas


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "schemas",
        help="write the JSON Schema of every message type",
        description="Writes <Type>.schema.json for every message on the topics, generated "
        "from the pydantic models, for consumers in other languages and for kcat users.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("json-schema"),
        help="directory to write into, created if missing (default: ./json-schema)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for path in write_json_schemas(args.out):
        print(path)
    return 0
