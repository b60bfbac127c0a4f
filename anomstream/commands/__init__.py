"""Subcommands of `anomstream`; each module registers its parser and a `run` function."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from anomstream.commands import (
    datasets_cmd,
    evaluate_cmd,
    exporter_cmd,
    fetch_cmd,
    health_cmd,
    notify_cmd,
    replay_cmd,
    report_cmd,
    retrain_cmd,
    schemas_cmd,
    tail_cmd,
    topics_cmd,
    train_cmd,
    ui_cmd,
    worker_cmd,
)

__all__ = ["COMMANDS", "Command"]


class Command(Protocol):
    """A subcommand module: adds its parser, with `run` set as the parser's default."""

    def register(self, subparsers: argparse._SubParsersAction[Any]) -> None: ...


COMMANDS: tuple[Command, ...] = (
    datasets_cmd,
    fetch_cmd,
    replay_cmd,
    train_cmd,
    retrain_cmd,
    evaluate_cmd,
    schemas_cmd,
    topics_cmd,
    worker_cmd,
    exporter_cmd,
    tail_cmd,
    notify_cmd,
    report_cmd,
    health_cmd,
    ui_cmd,
)
