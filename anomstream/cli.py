"""The `anomstream` command: parses arguments and hands each subcommand its `run`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from anomstream import __version__
from anomstream.commands import COMMANDS
from anomstream.errors import CliError

__all__ = ["main"]

_SIGPIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for a process the signal ended


class _HelpFormatter(argparse.HelpFormatter):
    """Ends an option's help with its default, unless the help already names it or there is
    none worth showing (no value, an off switch, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return action.help
        return f"{text} (default %(default)s)".lstrip()


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, never with the whole usage block; every
    subcommand's --help shows the defaults (subparsers are made of this class too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

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
    try:
        try:
            status = _main(argv)
        finally:
            # Written out here, also after --help, so that a reader gone away (`| head`)
            # is caught below.
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: stop quietly, as `yes | head` does. Python flushes
        # stdout again at exit; pointing it at devnull keeps that from failing a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _SIGPIPE_STATUS
    return status


def _main(argv: Sequence[str] | None) -> int:
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
