"""`anomstream ui`: the live web view and the HTTP API."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from pydantic import ValidationError

from anomstream.errors import CliError, settings_error
from producers.kafka_config import KafkaSettings


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve the live web view and the HTTP API (/api/v1, docs at /docs)",
        description=(
            "Reads scores.<dataset> and alerts with read_committed (no consumer group) and "
            "serves pages (overview, entity charts, alerts, models) that update live, and the "
            "HTTP API under /api/v1 (POST /score scores readings without Kafka). Settings "
            "come from the environment: ANOMSTREAM_UI_HOST (default 127.0.0.1), _PORT "
            "(8088), _TOKEN (a bearer token the API then requires), _LOOKBACK (1h: how far "
            "back it starts), _SCORES_TOPICS (a regex, default scores\\..+), "
            "_POINTS_PER_ENTITY (1000), _MAX_ENTITIES (5000), _RECENT_ALERTS (1000), "
            "_MAX_BODY_BYTES (1 MiB), _MODELS_DIR (or ANOMSTREAM_MODELS_DIR), _WORKER_GROUP "
            "(or ANOMSTREAM_WORKER_GROUP_ID), _BOOTSTRAP (or ANOMSTREAM_KAFKA_BOOTSTRAP; "
            "login and TLS from ANOMSTREAM_KAFKA_*). Ctrl-C or SIGTERM stops it."
        ),
    )
    parser.add_argument("--host", help="address to serve on (env ANOMSTREAM_UI_HOST)")
    parser.add_argument("--port", type=int, help="port to serve on (env ANOMSTREAM_UI_PORT)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from web.settings import UiSettings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = UiSettings(**overrides)
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_UI_") from None
    try:
        kafka = settings.kafka(KafkaSettings())
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    # Told in one line rather than by a server that dies in its log.
    try:
        with socket.create_server((settings.host, settings.port)):
            pass
    except OSError as exc:
        raise CliError(f"cannot serve on {settings.host}:{settings.port}: {exc}") from None
    from web.server import serve

    serve(settings, kafka)
    return 0
