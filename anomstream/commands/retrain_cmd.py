"""`anomstream retrain`: new model versions from a time range of the stream, guarded."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import positive_int
from anomstream.commands.model_options import param_argument
from anomstream.commands.tail_cmd import dataset_argument
from anomstream.errors import CliError, settings_error
from detectors.registry import DETECTORS
from detectors.thresholds import THRESHOLDS
from producers.kafka_config import KafkaSettings

if TYPE_CHECKING:
    from retraining import RetrainSettings

_ENV = "ANOMSTREAM_RETRAIN_"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="retrain each entity's model from a time range of its readings in Kafka",
        description="Reads readings.<dataset> (read_committed) over a time range and, per "
        "entity with a deployed model, leaves out the readings inside its alerts (from the "
        "alerts topic) and those labelled anomalous, trains a new version the way "
        "`anomstream train` does, with the deployed version's detector and settings, and "
        "judges both on the latest held-out readings. The new version is deployed (the "
        "next v<N>, which running workers pick up) unless its false-alarm rate there is "
        "worse than the deployed one's by more than the margin; then it is kept as a "
        "candidate under <model>/candidates/, which workers never load. The dataset and "
        "the range, schedule and guard options can also be set by environment variables "
        f"{_ENV}<OPTION> (e.g. {_ENV}SINCE=24h); the broker by ANOMSTREAM_KAFKA_*.",
    )
    parser.add_argument(
        "dataset",
        nargs="?",
        type=dataset_argument,
        help=f"the dataset whose readings.<dataset> to read (env {_ENV}DATASET)",
    )
    parser.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="GLOB",
        help="entities to retrain (repeatable, shell globs); default all in the range",
    )
    _add_range_arguments(parser.add_argument_group("range and schedule (Kafka timestamps)"))
    _add_guard_arguments(parser.add_argument_group("what is trained on; the promotion guard"))
    _add_model_arguments(parser.add_argument_group("model (default: the deployed version's)"))
    connection = parser.add_argument_group("connection and models")
    connection.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (env ANOMSTREAM_KAFKA_BOOTSTRAP)"
    )
    connection.add_argument(
        "--models-dir", help="artifact root (env ANOMSTREAM_MODELS_DIR, default ./models)"
    )
    parser.set_defaults(run=run)


def _add_range_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--since",
        metavar="DURATION",
        help=f"the last DURATION: 30m, 6h, 1d (env {_ENV}SINCE, default 24h)",
    )
    group.add_argument(
        "--from",
        dest="range_from",
        metavar="TIME",
        help="from this ISO-8601 time, e.g. 2026-01-01T06:00:00Z, UTC without a zone "
        f"(env {_ENV}FROM)",
    )
    group.add_argument(
        "--to",
        dest="range_to",
        metavar="TIME",
        help=f"up to this time (env {_ENV}TO; default: the topic's end when the run starts)",
    )
    group.add_argument(
        "--every",
        metavar="DURATION",
        help="run again every DURATION (e.g. 24h) until stopped, each run on the last "
        f"--since (env {_ENV}EVERY; default once)",
    )


def _add_guard_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--holdout",
        type=_fraction,
        metavar="FRACTION",
        help="the latest share of each entity's readings, which judges the models and is "
        f"not trained on (env {_ENV}HOLDOUT, default 0.2)",
    )
    group.add_argument(
        "--margin",
        type=_fraction,
        metavar="FRACTION",
        help="how much larger a share of false alarms than the deployed model's a new one "
        f"may have and still be deployed (env {_ENV}MARGIN, default 0.01)",
    )
    group.add_argument(
        "--min-rows",
        type=positive_int,
        metavar="N",
        help="retrain only entities with at least N readings left after the exclusions "
        f"(env {_ENV}MIN_ROWS, default 500)",
    )
    group.add_argument(
        "--alert-lookback",
        metavar="DURATION",
        help="also read alerts from this long before the range, as one opened earlier may "
        f"cover it (env {_ENV}ALERT_LOOKBACK, default 24h)",
    )
    group.add_argument(
        "--include-alerts",
        action="store_true",
        default=None,
        help="train on readings inside alerts too: they were false alarms of an operating "
        f"point to accept, e.g. a drift that keeps an alert open (env {_ENV}INCLUDE_ALERTS)",
    )
    group.add_argument("--dry-run", action="store_true", help="train and judge; save nothing")


def _add_model_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--detector",
        choices=list(DETECTORS),
        help="train another detector (a running worker stays on the detector it serves "
        "unless ANOMSTREAM_WORKER_DETECTOR names this one)",
    )
    group.add_argument(
        "--param",
        action="append",
        default=[],
        type=param_argument,
        metavar="K=V",
        help="detector hyperparameter (JSON value)",
    )
    group.add_argument("--window", type=positive_int, help="window length in rows")
    group.add_argument("--threshold", choices=list(THRESHOLDS), help="label-free threshold")
    group.add_argument(
        "--threshold-param",
        action="append",
        default=[],
        type=param_argument,
        metavar="K=V",
        help="threshold parameter, e.g. q=0.999 (quantile) or risk=1e-4 (pot)",
    )
    group.add_argument(
        "--train-stride", type=positive_int, default=1, help="stride between training windows"
    )
    group.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="deep detectors: where to train"
    )


_SETTING_OPTIONS = (
    "dataset", "since", "range_from", "range_to", "every", "holdout", "margin", "min_rows",
    "alert_lookback", "include_alerts", "models_dir",
)  # fmt: skip


def settings(args: argparse.Namespace) -> RetrainSettings:
    """RetrainSettings from the environment, with the options given on the command line."""
    from retraining import RetrainSettings

    given = {name: getattr(args, name) for name in _SETTING_OPTIONS}
    try:
        result = RetrainSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise _settings_error(exc, given) from None
    return result


def _settings_error(exc: ValidationError, given: dict[str, Any]) -> CliError:
    """One line naming the option, or the environment variable, behind the first error."""
    error = exc.errors()[0]
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return CliError(f"bad retrain settings: {message}")
    # Fields with an alias are reported by it (ANOMSTREAM_RETRAIN_FROM), others by name.
    name = str(error["loc"][0]).lower().removeprefix(_ENV.lower())
    field = {"from": "range_from", "to": "range_to"}.get(name, name)
    option = field.removeprefix("range_")
    if given.get(field) is not None:
        return CliError(f"bad --{option.replace('_', '-')}: {message}")
    return CliError(f"bad setting {_ENV}{option.upper()}: {message}")


def run(args: argparse.Namespace) -> int:
    from detectors.base import DetectorError
    from detectors.pipeline import check_detector_params
    from retraining import (
        EntityOptions,
        Overrides,
        RetrainBusyError,
        StreamReadError,
        retrain_once,
        run_every,
    )

    config = settings(args)
    if config.dataset is None:
        raise CliError(f"which dataset? give it as an argument or set {_ENV}DATASET")
    if args.detector is not None:
        try:  # a bad --param fails before anything is read
            check_detector_params(args.detector, dict(args.param))
        except DetectorError as exc:
            raise CliError(str(exc)) from None
    try:
        kafka = KafkaSettings(**({"bootstrap": args.bootstrap} if args.bootstrap else {}))
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_KAFKA_") from None
    options = EntityOptions(
        models_dir=config.models_dir,
        dataset=config.dataset,
        overrides=Overrides(
            detector=args.detector,
            params=dict(args.param),
            window=args.window,
            threshold=args.threshold,
            threshold_params=dict(args.threshold_param),
            train_stride=args.train_stride,
            device=args.device,
        ),
        holdout=config.holdout,
        margin=config.margin,
        min_rows=config.min_rows,
        include_alerts=config.include_alerts,
        dry_run=args.dry_run,
    )
    stop = threading.Event()
    if config.every is not None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

    def job() -> None:
        summary = retrain_once(config, kafka, options, args.entity)
        for outcome in summary.outcomes:
            print(outcome.line(), flush=True)
        print(summary.line(), flush=True)

    try:
        run_every(job, config.every, stop)
    except (DetectorError, RetrainBusyError, StreamReadError) as exc:
        raise CliError(str(exc)) from None
    return 0
