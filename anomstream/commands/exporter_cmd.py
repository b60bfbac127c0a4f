"""`anomstream exporter`: the worker's scores and alerts as Prometheus metrics on /metrics."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any

from pydantic import ValidationError

from anomstream.errors import CliError, settings_error
from consumers.exporter_settings import ExporterSettings
from producers.kafka_config import KafkaSettings


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "exporter",
        help="serve the worker's scores and alerts as Prometheus metrics",
        description=(
            "Reads scores.<dataset> and alerts with read_committed in its own consumer group "
            "and serves /metrics. Settings come from the environment: "
            "ANOMSTREAM_EXPORTER_BOOTSTRAP (or ANOMSTREAM_KAFKA_BOOTSTRAP; login and TLS always "
            "from ANOMSTREAM_KAFKA_*), _TOPICS (names or "
            "a ^regex, default ^scores\\..+,alerts), _GROUP_ID (default anomstream-exporter), "
            "_START_FROM (earliest|latest, default latest), _HOST (default 0.0.0.0), _PORT "
            "(default 9464), _MAX_ENTITIES (default 1000; later entities share "
            'entity="_other"), _BATCH_MAX_MESSAGES, _POLL_TIMEOUT_S. '
            "SIGTERM or Ctrl-C stops it cleanly."
        ),
    )
    parser.set_defaults(run=run)


def _settings() -> tuple[ExporterSettings, KafkaSettings]:
    try:
        settings = ExporterSettings()
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_EXPORTER_") from None
    # The login and TLS settings are the shared ones even when the exporter names its broker.
    try:
        return settings, settings.kafka(KafkaSettings())
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None


def run(args: argparse.Namespace) -> int:
    settings, kafka = _settings()
    # Imported here so `--help` and a bad setting need no Kafka client library.
    from consumers.exporter import Exporter

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        Exporter(settings, kafka).run(stop)
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        raise CliError(f"cannot serve /metrics on {settings.host}:{settings.port}: {exc}") from None
    return 0
