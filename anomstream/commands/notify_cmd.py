"""`anomstream notify`: each alert event to Alertmanager and/or a webhook, exactly once."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import positive_int
from anomstream.errors import CliError, settings_error
from consumers.notify_settings import ENV_PREFIX, NotifySettings
from producers.kafka_config import KafkaSettings

_DESCRIPTION = (
    "Reads the alerts topic with read_committed in its own consumer group and sends every "
    "alert event (opened, updated, resolved) to Alertmanager (POST /api/v2/alerts: labels "
    "alertname, dataset, entity, severity; the top channels among the annotations; endsAt "
    "once resolved) and/or a webhook (a POST of the Alert's JSON, with an Idempotency-Key "
    "header). A failed send is retried with exponential backoff; an event's offset is "
    "committed only after every receiver answered 2xx, so a restart neither loses nor "
    "repeats one. A receiver that stays down: --on-failure block (default) keeps retrying, "
    "deadletter gives up after --max-attempts or --give-up-after and writes the event, with "
    "the reason, to the dead-letter topic. Every option has an environment variable "
    f"{ENV_PREFIX}<NAME>; others: _ALERT_NAME (AnomstreamAnomaly), _SEVERITY (warning), "
    "_OPEN_ALERT_TTL_S (3600: how long Alertmanager shows an open incident without a newer "
    "event), _TIMEOUT_S (10, per request), _RETRY_INITIAL_S (1), _RETRY_MAX_S (60), "
    "_DEADLETTER_TOPIC (deadletter), _SESSION_TIMEOUT_S (45), _POLL_TIMEOUT_S (0.5); login "
    "and TLS from "
    "ANOMSTREAM_KAFKA_*. SIGTERM or Ctrl-C stops it; an event still being retried is "
    "delivered after the restart."
)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "notify", help="send alert events to Alertmanager or a webhook", description=_DESCRIPTION
    )
    to = parser.add_argument_group("receivers (at least one)")
    to.add_argument(
        "--alertmanager", metavar="URL",
        help=f"Alertmanager's base URL, e.g. http://localhost:9093 ({ENV_PREFIX}ALERTMANAGER_URL)",
    )  # fmt: skip
    to.add_argument(
        "--webhook", metavar="URL",
        help=f"POST each event's Alert JSON here ({ENV_PREFIX}WEBHOOK_URL)",
    )  # fmt: skip
    failing = parser.add_argument_group("a receiver that stays down")
    failing.add_argument(
        "--on-failure", choices=["block", "deadletter"],
        help=f"keep retrying, or give up and dead-letter ({ENV_PREFIX}ON_FAILURE, default block)",
    )  # fmt: skip
    failing.add_argument(
        "--max-attempts", type=positive_int, metavar="N",
        help=f"deadletter: give up after N attempts ({ENV_PREFIX}MAX_ATTEMPTS, default 10)",
    )  # fmt: skip
    failing.add_argument(
        "--give-up-after", type=_seconds, metavar="SECONDS",
        help=f"deadletter: give up SECONDS after the first attempt ({ENV_PREFIX}GIVE_UP_AFTER_S)",
    )  # fmt: skip
    source = parser.add_argument_group("source")
    source.add_argument("--topic", help=f"the alerts topic ({ENV_PREFIX}TOPIC, default alerts)")
    source.add_argument(
        "--group-id", help=f"consumer group ({ENV_PREFIX}GROUP_ID, default anomstream-notify)"
    )
    source.add_argument(
        "--from", dest="start_from", choices=["earliest", "latest"],
        help=f"where a new group starts ({ENV_PREFIX}START_FROM, default latest)",
    )  # fmt: skip
    source.add_argument(
        "--bootstrap",
        help=f"Kafka bootstrap servers ({ENV_PREFIX}BOOTSTRAP or ANOMSTREAM_KAFKA_BOOTSTRAP)",
    )
    parser.set_defaults(run=run)


_OPTIONS = {
    "alertmanager": "alertmanager_url",
    "webhook": "webhook_url",
    "on_failure": "on_failure",
    "max_attempts": "max_attempts",
    "give_up_after": "give_up_after_s",
    "topic": "topic",
    "group_id": "group_id",
    "start_from": "start_from",
    "bootstrap": "bootstrap",
}


def settings(args: argparse.Namespace) -> tuple[NotifySettings, KafkaSettings]:
    """The options given on the command line over the environment's settings."""
    given = {field: getattr(args, option) for option, field in _OPTIONS.items()}
    try:
        notify = NotifySettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise settings_error(exc, ENV_PREFIX) from None
    try:
        return notify, notify.kafka(KafkaSettings())
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None


def run(args: argparse.Namespace) -> int:
    notify, kafka = settings(args)
    # Imported here so `--help` and a bad setting need no Kafka or HTTP client library.
    import httpx

    from consumers.notify import Notifier, NotifyError, build_targets

    # httpx logs every request at INFO with its whole URL, a webhook's token among it; the
    # notifier logs failures itself, naming receivers by host and port only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with httpx.Client(timeout=notify.timeout_s) as client:
        try:
            Notifier(notify, kafka, build_targets(notify, client)).run(stop)
        except NotifyError as exc:
            raise CliError(str(exc)) from None
    return 0
