"""`anomstream health`: one screen of per-dataset health; exit status 1 when any is not ok."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import positive_int
from anomstream.commands.model_options import models_dir
from anomstream.errors import CliError, settings_error
from consumers.tail_filter import parse_duration
from producers.kafka_config import KafkaSettings
from schemas.topics import check_dataset

_DEFAULT_MAX_LAG = 1000  # the same as consumers.health.DEFAULT_MAX_LAG, without the import


def _dataset(text: str) -> str:
    try:
        return check_dataset(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> timedelta:
    """Seconds (`60`) or a duration (`30s`, `10m`, `2h`, `1d`, `1h30m`)."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return timedelta(seconds=seconds)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "health",
        help="one screen of per-dataset health: rates, anomaly ratio, lag, alerts, models",
        description="For each dataset (--dataset, else every one with a readings topic and a "
        "trained model or messages in the window): readings (rows, a ReadingBatch counts "
        "each) and scores per second over the window, the anomalous fraction of those "
        "scores, the worker group's lag on readings.<dataset>, alerts still open, dead "
        "letters in the window, and the newest trained model. Topics are read with "
        "read_committed; nothing is committed to Kafka. A dataset is `ok` unless it has no "
        "scores in the window, a lag above --max-lag, or dead letters in the window. "
        "Exit status: 0 when every dataset is ok, 1 when one is not or the check failed "
        "(unreachable broker), 2 for bad arguments.",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        type=_dataset,
        help="check this dataset (repeatable; default: every dataset with a readings topic "
        "and a trained model or traffic in the window)",
    )
    parser.add_argument(
        "--window",
        type=_duration,
        default=timedelta(seconds=60),
        metavar="SECONDS",
        help="rates, anomaly ratio and dead letters over this many seconds (default 60; "
        "30s, 10m, 2h also work)",
    )
    parser.add_argument(
        "--alerts-window",
        type=_duration,
        default=timedelta(hours=24),
        metavar="DURATION",
        help="alerts opened and not resolved within this time are open (default 24h)",
    )
    parser.add_argument(
        "--group",
        help="the worker's consumer group, for the lag (default: env "
        "ANOMSTREAM_WORKER_GROUP_ID, else anomstream-worker)",
    )
    parser.add_argument(
        "--max-lag",
        type=_non_negative,
        default=_DEFAULT_MAX_LAG,
        metavar="N",
        help=f"a lag above N messages (a ReadingBatch is one) is not ok (default "
        f"{_DEFAULT_MAX_LAG})",
    )
    parser.add_argument(
        "--models-dir", type=Path, help="model root (env ANOMSTREAM_MODELS_DIR, default ./models)"
    )
    parser.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (env ANOMSTREAM_KAFKA_BOOTSTRAP)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=30,
        metavar="SECONDS",
        help="give up reading the window's records after this long (default 30)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    parser.set_defaults(run=run)


def _group(args: argparse.Namespace) -> str:
    if args.group:
        return str(args.group)
    from stream_app.settings import WorkerSettings

    try:
        return WorkerSettings().group_id
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_WORKER_") from None


def run(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and argument errors need no Kafka client library.
    from consumers.health import HealthError, HealthOptions, gather
    from consumers.health_format import all_ok, format_json, format_table

    try:
        settings = KafkaSettings(**({"bootstrap": args.bootstrap} if args.bootstrap else {}))
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    group = _group(args)
    options = HealthOptions(
        kafka=settings,
        group=group,
        models_dir=models_dir(args),
        datasets=tuple(dict.fromkeys(args.dataset)),
        window=args.window,
        alerts_window=args.alerts_window,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=float(args.timeout),
    )
    try:
        report = gather(options)
    except HealthError as exc:
        raise CliError(str(exc)) from None
    healths, idle = report.datasets, report.idle
    if args.json:
        sys.stdout.write(format_json(healths, group, args.max_lag, idle))
    else:
        window_s = args.window.total_seconds()
        sys.stdout.write(format_table(healths, window_s, args.max_lag, idle))
    return 0 if all_ok(healths, args.max_lag) else 1
