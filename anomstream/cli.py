"""The `anomstream` command: parses arguments and hands each subcommand its `run`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from anomstream import __version__
from anomstream.commands import COMMANDS
from anomstream.errors import CliError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, never with the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="anomstream",
        description="Streaming anomaly detection on multivariate telemetry, over Kafka.",
        epilog="Settings come from ANOMSTREAM_* environment variables; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"anomstream {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("ANOMSTREAM_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (env ANOMSTREAM_LOG_LEVEL, default INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        status: int = args.run(args)
    except CliError as exc:
        print(f"anomstream {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"anomstream {args.command}: interrupted", file=sys.stderr)
        return 130
    return status
