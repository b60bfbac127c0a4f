"""`anomstream topics list|create`: the topic layout from settings, created idempotently."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from anomstream.errors import CliError, settings_error
from producers.kafka_config import KafkaSettings
from schemas import TopicSettings, TopicSpec, topic_specs


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "topics",
        help="list or create the project's Kafka topics",
        description="Topics follow ANOMSTREAM_TOPIC_* settings: PARTITIONS, "
        "REPLICATION_FACTOR, DATASETS (comma-separated) and *_RETENTION_HOURS.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="print the topics the settings call for")
    listing.set_defaults(run=run_list)
    create = actions.add_parser("create", help="create missing topics; existing ones are kept")
    create.add_argument(
        "--bootstrap",
        help="Kafka bootstrap servers (env ANOMSTREAM_KAFKA_BOOTSTRAP, default 127.0.0.1:9092)",
    )
    create.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the cluster"
    )
    create.set_defaults(run=run_create)


def _specs() -> list[TopicSpec]:
    try:
        return topic_specs(TopicSettings())
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_TOPIC_") from None


def _describe(spec: TopicSpec) -> str:
    hours = int(spec.config.get("retention.ms", "0")) / 3_600_000
    return (
        f"{spec.name}\tpartitions={spec.partitions}\t"
        f"replication={spec.replication_factor}\tretention={hours:g}h"
    )


def run_list(args: argparse.Namespace) -> int:
    for spec in _specs():
        print(_describe(spec))
    return 0


def run_create(args: argparse.Namespace) -> int:
    # Imported here so `anomstream topics list` and `--help` need no Kafka client library.
    from stream_app.topic_admin import KafkaUnavailableError, ensure_topics

    try:
        kafka = KafkaSettings(**({"bootstrap": args.bootstrap} if args.bootstrap else {}))
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    try:
        outcomes = ensure_topics(kafka, _specs(), timeout_s=args.timeout)
    except KafkaUnavailableError as exc:
        raise CliError(str(exc)) from None
    for outcome in outcomes:
        note = f"\t({outcome.note})" if outcome.note else ""
        print(f"{outcome.status}\t{outcome.name}{note}")
    return 0
