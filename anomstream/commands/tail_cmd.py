"""`anomstream tail [alerts|scores]`: follow the worker's committed alerts or scores live."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from functools import partial
from typing import Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import positive_int
from anomstream.errors import CliError, settings_error
from consumers.tail_filter import StartPosition, TailFilter, parse_start
from producers.kafka_config import KafkaSettings
from schemas import ALERTS_TOPIC, AlertState, scores_topic
from schemas.topics import check_dataset

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def start_argument(text: str) -> StartPosition:
    try:
        return parse_start(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dataset_argument(text: str) -> str:
    try:
        return check_dataset(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _seconds(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="follow the alerts or scores the worker publishes, live",
        description="Reads the alerts topic or scores.<dataset> with read_committed (only what "
        "the worker's transactions committed) and prints one line per alert or score. "
        "Nothing is committed to Kafka. Ctrl-C stops (exit status 130).",
    )
    parser.add_argument(
        "what",
        nargs="?",
        choices=["alerts", "scores"],
        default="alerts",
        help="the alerts topic (default) or scores.<dataset>",
    )
    source = parser.add_argument_group("source")
    source.add_argument(
        "--dataset",
        type=dataset_argument,
        help="scores: read scores.<dataset> (required unless --topic-pattern); "
        "alerts: show this dataset's alerts only",
    )
    source.add_argument(
        "--topic-pattern",
        type=_pattern,
        metavar="REGEX",
        help=r"scores: read every topic whose whole name matches, e.g. 'scores\..*'; "
        "topics created later are picked up",
    )
    source.add_argument(
        "--from",
        dest="start",
        type=start_argument,
        default=StartPosition("latest"),
        metavar="WHERE",
        help="latest (default: new messages only), beginning, or a time ago: 30s, 10m, 2h, 1d",
    )
    source.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (env ANOMSTREAM_KAFKA_BOOTSTRAP)"
    )
    select = parser.add_argument_group("filters")
    select.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="GLOB",
        help="entities to show (repeatable, shell globs)",
    )
    select.add_argument(
        "--min-score",
        type=_number,
        metavar="X",
        help="scores at least X; for alerts, a peak score at least X",
    )
    select.add_argument(
        "--state",
        action="append",
        default=[],
        choices=[s.value for s in AlertState],
        help="alerts in this state only (repeatable)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json",
        action="store_true",
        help="each message exactly as sent, one JSON object per line (a ScoreBatch stays "
        "one line, shown when any of its readings passes the filters)",
    )
    output.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="color the human lines: auto = when stdout is a terminal and NO_COLOR is unset",
    )
    output.add_argument(
        "--limit", type=positive_int, metavar="N", help="stop after N printed lines"
    )
    output.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="stop after SECONDS without a new line printed (default: run until Ctrl-C)",
    )
    parser.set_defaults(run=partial(run, parser))


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations argparse cannot express: one-line error, exit status 2."""
    if args.what == "scores":
        if args.dataset is None and args.topic_pattern is None:
            parser.error("tail scores needs --dataset or --topic-pattern")
        if args.dataset is not None and args.topic_pattern is not None:
            parser.error("--dataset and --topic-pattern cannot be combined for scores")
        if args.state:
            parser.error("--state applies to alerts only")
    elif args.topic_pattern is not None:
        parser.error("--topic-pattern applies to scores only")


def _color(choice: str) -> bool:
    if choice == "auto":
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return choice == "always"


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    _check(parser, args)
    # Imported here so that `--help` and argument errors need no Kafka client library.
    from consumers.tail import TailError, TailOptions, tail
    from consumers.tail_format import HumanPrinter, JsonPrinter, Printer

    try:
        settings = KafkaSettings(**({"bootstrap": args.bootstrap} if args.bootstrap else {}))
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    if args.topic_pattern is not None:
        topics: tuple[str, ...] = ()
    elif args.what == "scores":
        topics = (scores_topic(args.dataset),)
    else:
        topics = (ALERTS_TOPIC,)
    options = TailOptions(
        kind=args.what,
        kafka=settings,
        topics=topics,
        topic_pattern=args.topic_pattern,
        start=args.start,
        filter=TailFilter(
            dataset=args.dataset,
            entity_globs=tuple(args.entity),
            min_score=args.min_score,
            states=frozenset(AlertState(s) for s in args.state),
        ),
        limit=args.limit,
        idle_timeout_s=args.timeout,
        connect_timeout_s=settings.connect_timeout_s,
    )
    out = sys.stdout.buffer
    printer: Printer = JsonPrinter(out) if args.json else HumanPrinter(out, _color(args.color))
    # Ctrl-C and SIGTERM set a flag that the loop checks between messages, so the tail
    # stops at a clean point instead of wherever a KeyboardInterrupt would land.
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        counts = tail(options, printer, out, stop)
        out.flush()
    except TailError as exc:
        raise CliError(str(exc)) from None
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    print(f"anomstream tail: {counts.line()}", file=sys.stderr)
    return 130 if counts.stopped_by == "interrupted" else 0
