"""`anomstream worker`: the stream worker, which is `faust -A stream_app.app worker`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import positive_int
from anomstream.commands.worker_processes import run_processes
from anomstream.errors import CliError, settings_error
from producers.kafka_config import KafkaSettings
from stream_app.settings import AlertPolicy, WorkerSettings
from stream_app.topic_admin import KafkaUnavailableError, list_topics

_FAUST_LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "error": "error"}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run the stream worker: readings in, scores and alerts out",
        description=(
            "Runs `faust -A stream_app.app worker`. Settings come from the environment: "
            "ANOMSTREAM_WORKER_BOOTSTRAP (or ANOMSTREAM_KAFKA_BOOTSTRAP); "
            "ANOMSTREAM_WORKER_TOPICS (names or a ^regex, "
            "default ^readings\\..+), _GROUP_ID, _START_FROM (earliest|latest), "
            "_WORKER_ID (unique per running worker, "
            "stable across its restarts), _MODELS_DIR (or ANOMSTREAM_MODELS_DIR), _DETECTOR, "
            "_DEVICE, _STRIDE, _BATCH_MAX_MESSAGES, _BATCH_WAIT_MS, _UNKNOWN_ENTITY "
            "(deadletter|dataset|learn), _COLD_START_ROWS, _COLD_START_DETECTOR, "
            "_COLD_START_WINDOW, _COLD_START_THRESHOLD, _COLD_START_ADAPTIVE (what an entity "
            "without a model learns from its first readings under `learn`), "
            "_MODEL_REFRESH_S, _WEB_HOST and _WEB_PORT (/metrics, "
            "/healthz, /readyz; 127.0.0.1:6066), _MAX_READING_BYTES, _DEADLETTER_MAX_RAW_BYTES, "
            "_MAX_SEQ_JUMP, _CREATE_TOPICS, _STATE_REBUILD_MESSAGES, _STALL_TIMEOUT_S, "
            "_DEADLETTER_LOG_INTERVAL_S, _DATA_DIR; "
            "ANOMSTREAM_WORKER_ALERT_CONSECUTIVE, _QUIET, _UPDATE_EVERY, _TOP_CHANNELS, "
            "_STALE_AFTER_S. The Kafka login and TLS are ANOMSTREAM_KAFKA_*. "
            "The window length is the model's (anomstream train --window). "
            "Scores are published in Kafka transactions: read them with "
            "isolation.level=read_committed to see each exactly once."
        ),
    )
    parser.add_argument(
        "--loglevel",
        choices=sorted(_FAUST_LEVELS),
        default="info",
        help="the worker's log level (default info)",
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        metavar="N",
        help="run N worker processes in the same group, each its own group member and "
        "transactional id (WORKER_ID-1..N) with /metrics on WEB_PORT+0..N-1: one Python "
        "process uses one core (default 1)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Check the settings and the broker here, so that a bad one is a one-line error and
    # not a worker that starts and waits. (Run as `faust -A stream_app.app worker`, it waits
    # for an unreachable broker instead, saying so: a container may start before Kafka.)
    try:
        settings = WorkerSettings()
        AlertPolicy()
    except ValidationError as exc:
        prefix = "ANOMSTREAM_WORKER_ALERT_" if exc.title == "AlertPolicy" else "ANOMSTREAM_WORKER_"
        raise settings_error(exc, prefix) from None
    try:
        kafka = KafkaSettings()
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    if settings.bootstrap:
        kafka = kafka.model_copy(update={"bootstrap": settings.bootstrap})
    try:
        list_topics(kafka, kafka.connect_timeout_s)
    except KafkaUnavailableError as exc:
        raise CliError(
            f"{exc} (set ANOMSTREAM_WORKER_BOOTSTRAP or ANOMSTREAM_KAFKA_BOOTSTRAP)"
        ) from None
    argv = [sys.executable, "-m", "faust", "-A", "stream_app.app", "worker"]
    argv += ["--loglevel", _FAUST_LEVELS[args.loglevel]]
    sys.stdout.flush()
    if args.processes == 1:
        os.execv(sys.executable, argv)  # noqa: S606 - the worker replaces this process
    return run_processes(argv, args.processes, settings)
