"""`anomstream replay`: publish a dataset's readings to `readings.<dataset>`, paced."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import add_dataset_arguments, open_loader, positive_int
from anomstream.errors import CliError, settings_error
from producers.datasets import LOADERS, DatasetError
from producers.kafka_config import KafkaSettings
from producers.replay import ReplayOptions, load_entities, replay
from producers.sinks import DryRunSink, KafkaSink, Sink, SinkError
from schemas import readings_topic

log = logging.getLogger(__name__)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="publish a dataset's readings onto Kafka as live telemetry",
        description="Publishes readings to readings.<dataset>, keyed by entity, in event-time "
        "order across entities. Ground-truth labels travel in the messages for evaluation. "
        "Ctrl-C stops cleanly after flushing, with a summary.",
    )
    parser.add_argument(
        "dataset", choices=list(LOADERS), metavar="DATASET", help=f"one of: {', '.join(LOADERS)}"
    )
    select = parser.add_argument_group("selection")
    select.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="GLOB",
        help="entities to replay (repeatable, shell globs); default all",
    )
    select.add_argument(
        "--split", choices=["test", "train"], default="test", help="which split to replay"
    )
    select.add_argument(
        "--limit", type=positive_int, metavar="N", help="stop after N readings in all"
    )
    select.add_argument(
        "--loop",
        action="store_true",
        help="start over at the end, time and seq continuing (until Ctrl-C)",
    )
    pace = parser.add_argument_group("pace (default: --speed 1, as recorded)")
    exclusive = pace.add_mutually_exclusive_group()
    exclusive.add_argument(
        "--speed",
        type=_positive_float,
        metavar="X",
        help="event-time multiplier: 60 replays an hour in a minute",
    )
    exclusive.add_argument("--rate", type=_positive_float, metavar="N", help="readings per second")
    exclusive.add_argument("--max", action="store_true", help="as fast as the broker takes it")
    pace.add_argument(
        "--batch-rows",
        type=positive_int,
        default=1,
        metavar="N",
        help="pack N consecutive rows of one entity per message (ReadingBatch)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--dry-run", action="store_true", help="write JSON lines to stdout instead of Kafka"
    )
    out.add_argument("--bootstrap", help="Kafka bootstrap servers (env ANOMSTREAM_KAFKA_BOOTSTRAP)")
    out.add_argument("--topic", help="publish here instead of readings.<dataset>")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_dataset_arguments(parser)
    parser.set_defaults(run=run)


def _sink(args: argparse.Namespace, topic: str) -> Sink:
    if args.dry_run:
        return DryRunSink()
    try:
        settings = KafkaSettings(**({"bootstrap": args.bootstrap} if args.bootstrap else {}))
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    return KafkaSink(settings, topic)


def run(args: argparse.Namespace) -> int:
    speed = None if (args.max or args.rate) else (args.speed or 1.0)
    options = ReplayOptions(
        entity_globs=args.entity,
        split=args.split,
        limit=args.limit,
        loop=args.loop,
        speed=speed,
        rate=args.rate,
        batch_rows=args.batch_rows,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    topic = args.topic or readings_topic(args.dataset)
    try:
        entities = load_entities(open_loader(args), options.entity_globs, options.progress)
        sink = _sink(args, topic)
        destination = "stdout" if args.dry_run else topic
        log.info(
            "replaying %d %s entities (%s split) to %s",
            len(entities),
            args.dataset,
            options.split,
            destination,
        )
        summary = replay(entities, sink, options)
    except (DatasetError, SinkError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"anomstream replay: {summary.line()}", file=sys.stderr)
    if summary.interrupted:
        return 130
    return 1 if summary.counts.failed else 0
