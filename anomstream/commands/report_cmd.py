"""`anomstream report`: a replay's scores, thresholds, labels and alerts as PNGs and HTML."""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from anomstream.commands.tail_cmd import dataset_argument, start_argument
from anomstream.errors import CliError, settings_error
from consumers.tail_filter import Item, Kind, StartPosition
from producers.kafka_config import KafkaSettings
from schemas import ALERTS_TOPIC, scores_topic

if TYPE_CHECKING:
    from confluent_kafka import Consumer

    from consumers.tail import TailOptions
    from producers.kafka_errors import SecurityErrors

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render a replay's scores, thresholds, labels and alerts as PNGs and HTML",
        description="Reads scores.<dataset> and alerts with read_committed, from --from up to "
        "the end offsets at start (nothing committed to Kafka), or saved runs written by "
        "`anomstream tail scores|alerts --json` (--run), and writes one PNG per entity plus "
        "index.html with a table of counts, point-wise precision/recall and incident "
        "figures, and incidents.json. It prints the incident figures: labelled incidents "
        "(runs of labelled-anomalous scores) with an overlapping alert, k of n, and alerts "
        "that overlap no incident, also per entity-hour of data.",
    )
    parser.add_argument(
        "--dataset", type=dataset_argument, required=True, help="the replayed dataset"
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=start_argument,
        metavar="WHERE",
        help="beginning (default) or a time ago: 30m, 2h, 1d",
    )
    parser.add_argument(
        "--entity", action="append", default=[], metavar="GLOB", help="entities (repeatable)"
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="default reports/<dataset>-<UTC timestamp>"
    )
    parser.add_argument(
        "--run",
        dest="runs",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a saved run (JSON lines of Score, ScoreBatch, Alert) instead of Kafka; repeatable",
    )
    parser.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (env ANOMSTREAM_KAFKA_BOOTSTRAP)"
    )
    parser.set_defaults(run=partial(run, parser))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.runs and (args.start is not None or args.bootstrap is not None):
        parser.error("--run reads saved files: --from and --bootstrap do not apply")
    start: StartPosition = args.start or StartPosition("beginning")
    if start.kind == "latest":
        parser.error("--from latest would read nothing: use beginning or a time ago")
    # Imported here so that `--help` and argument errors need neither matplotlib nor Kafka.
    from consumers.report_data import collect, read_runs
    from consumers.report_incidents import summarise
    from consumers.report_render import write_report

    if args.runs:
        try:
            items = read_runs(args.runs)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        where = ", ".join(str(p) for p in args.runs)
    else:
        items = _read_kafka(args.bootstrap, args.dataset, start)
        where = f"{scores_topic(args.dataset)} and {ALERTS_TOPIC}"
    series = collect(items, args.dataset, tuple(args.entity))
    if not series:
        wanted = f" for entities {' '.join(args.entity)}" if args.entity else ""
        raise CliError(f"no scores of dataset {args.dataset}{wanted} found in {where}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out if args.out is not None else Path("reports") / f"{args.dataset}-{stamp}"
    index = write_report(out, args.dataset, series)
    print(f"anomstream report: {len(series)} entities -> {index}")
    _, total = summarise(series)
    print("\n".join(total.lines()) if total else "no labelled scores: incidents not judged")
    return 0


def _read_kafka(bootstrap: str | None, dataset: str, start: StartPosition) -> list[Item]:
    from consumers.tail import TailError, TailOptions

    try:
        settings = KafkaSettings(bootstrap=bootstrap) if bootstrap else KafkaSettings()
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    options = TailOptions(
        kind="scores",
        kafka=settings,
        topics=(scores_topic(dataset),),
        start=start,
        connect_timeout_s=settings.connect_timeout_s,
    )
    try:
        return _read_until_end(options)
    except TailError as exc:
        raise CliError(str(exc)) from None


def _consumer(options: TailOptions, errors: SecurityErrors) -> Consumer:
    from confluent_kafka import Consumer

    return Consumer(
        {
            **options.kafka.client_config(),
            # Required by the client; never joined, since partitions are assigned directly.
            "group.id": f"anomstream-report-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            # The end of what is readable now (the last stable offset with an open
            # transaction) ends a partition, so an open transaction cannot hold the report.
            "enable.partition.eof": True,
            "client.id": "anomstream-report",
            "log_level": 2,
            "error_cb": errors,
        }
    )


def _read_until_end(options: TailOptions) -> list[Item]:
    """Scores and alerts from the start position up to the end offsets taken now."""
    from dataclasses import replace

    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    from consumers.tail import TailError, start_offsets, topic_partitions, unreachable
    from consumers.tail_filter import decode_items
    from producers.kafka_errors import SecurityErrors
    from schemas import SchemaError

    errors = SecurityErrors()
    consumer = _consumer(options, errors)
    try:
        partitions = topic_partitions(consumer, options, options.connect_timeout_s, errors)
        alerts = replace(options, topics=(ALERTS_TOPIC,))
        try:
            partitions.update(topic_partitions(consumer, alerts, options.connect_timeout_s))
        except TailError:
            pass  # No alerts topic yet: a report of scores alone.
        now = datetime.now(UTC)
        starts = start_offsets(consumer, partitions, options.start, options.connect_timeout_s, now)
        ends: dict[tuple[str, int], int] = {}
        for topic, numbers in partitions.items():
            for number in numbers:
                try:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, number), timeout=options.connect_timeout_s
                    )
                except KafkaException:
                    raise unreachable(options) from None
                ends[(topic, number)] = high
        pending = {key for key, high in ends.items() if high > 0}
        consumer.assign([tp for tp in starts if (tp.topic, tp.partition) in pending])
        items: list[Item] = []
        quiet_since = time.monotonic()
        while pending:
            messages = consumer.consume(500, timeout=0.5)
            if messages:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 3 * options.connect_timeout_s:
                raise TailError(f"no progress reading from {options.bootstrap}; giving up")
            for message in messages:
                key = (message.topic() or "", message.partition() or 0)
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise TailError(f"{key[0]}[{key[1]}]: {error.str()}")
                    pending.discard(key)
                    continue
                offset = message.offset() or 0
                if key not in pending or offset >= ends[key]:
                    pending.discard(key)
                    continue
                kind: Kind = "alerts" if key[0] == ALERTS_TOPIC else "scores"
                try:
                    items.extend(decode_items(kind, message.value() or b""))
                except SchemaError as exc:
                    log.warning("skipping %s[%s]@%s: %s", *key, offset, exc)
                if offset + 1 >= ends[key]:
                    pending.discard(key)
        return items
    finally:
        consumer.close()
