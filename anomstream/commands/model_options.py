"""Options shared by `train` and `evaluate`: dataset, detector, windowing, threshold."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from anomstream.commands.dataset_options import add_dataset_arguments, open_loader, positive_int
from anomstream.errors import CliError
from detectors.registry import DEFAULT_ADAPTIVE, DEFAULT_DETECTOR, DETECTORS, detector_class
from detectors.thresholds import THRESHOLDS
from producers.datasets import LOADERS, DatasetLoader
from producers.replay import select_entities

__all__ = [
    "add_model_arguments",
    "entities",
    "loader",
    "models_dir",
    "param_argument",
    "train_config",
]


def param_argument(text: str) -> tuple[str, Any]:
    """argparse type of KEY=VALUE options: the value as JSON, or else a bare string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw  # a bare word is a string


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset", choices=list(LOADERS), metavar="DATASET", help=", ".join(LOADERS)
    )
    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        choices=list(DETECTORS),
        help=f"{', '.join(DETECTORS)} (default {DEFAULT_DETECTOR}, the best in general "
        "in docs/RESULTS.md)",
    )
    parser.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="GLOB",
        help="entities (repeatable, shell globs); default all",
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--cold-start",
        type=positive_int,
        metavar="N",
        help="no training split: learn from the first N rows of each entity's stream and "
        "score the rest, as a stream with no history would be (the probation period)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        help="artifact root (env ANOMSTREAM_MODELS_DIR, default ./models)",
    )
    parser.add_argument("--window", type=int, default=100, help="window length in rows")
    parser.add_argument(
        "--train-stride",
        type=positive_int,
        default=1,
        help="stride between training windows (larger trains faster)",
    )
    parser.add_argument(
        "--threshold",
        default="pot",
        choices=list(THRESHOLDS),
        help="label-free threshold on the training split's tail (default pot)",
    )
    parser.add_argument(
        "--device",
        default=os.environ.get("ANOMSTREAM_DEVICE", "auto"),
        choices=["auto", "cpu", "cuda"],
        help="deep detectors: where to run (env ANOMSTREAM_DEVICE)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=param_argument,
        metavar="K=V",
        help="detector hyperparameter, e.g. --param epochs=5 (JSON values)",
    )
    parser.add_argument(
        "--adaptive",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_ADAPTIVE,
        help="judge each channel's contribution against its own recent past, frozen while "
        "the score is over the threshold (detectors/adaptive.py; default %(default)s)",
    )
    parser.add_argument(
        "--adapt",
        action="append",
        default=[],
        type=param_argument,
        metavar="K=V",
        help="adaptive setting: span, hold, max_freeze, floor (readings; implies --adaptive)",
    )
    parser.add_argument(
        "--health",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sensor-health rules: a channel that goes missing, or repeats one exact value "
        "for 10 readings where training never held still, is an anomaly "
        "(detectors/sensor_health.py; default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the detector's random seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def loader(args: argparse.Namespace) -> DatasetLoader:
    dataset = open_loader(args)
    dataset.cold_start_rows = args.cold_start
    return dataset


def entities(args: argparse.Namespace, dataset: DatasetLoader) -> list[str]:
    return select_entities(dataset.entities(), args.entity)


def models_dir(args: argparse.Namespace) -> Path:
    given: Path | None = args.models_dir
    return given or Path(os.environ.get("ANOMSTREAM_MODELS_DIR", "models"))


def train_config(args: argparse.Namespace) -> Any:
    """The TrainConfig of the arguments; a bad --param is a CliError before any data loads."""
    from detectors.base import DetectorError
    from detectors.pipeline import TrainConfig, check_detector_params

    params: dict[str, Any] = {"seed": args.seed, **dict(args.param)}
    try:
        deep = detector_class(args.detector).uses_torch
    except DetectorError as exc:
        raise CliError(str(exc)) from None
    if deep:
        params.setdefault("device", args.device)
        params.setdefault("progress", not args.no_progress)
    try:
        check_detector_params(args.detector, params)
    except DetectorError as exc:
        raise CliError(str(exc)) from None
    if args.window < 2:
        raise CliError("--window must be at least 2")
    adaptive: dict[str, Any] | None = None
    if args.adapt and not args.adaptive:
        raise CliError("--adapt sets adaptive scoring, which --no-adaptive turns off")
    if args.adaptive:
        from detectors.adaptive import Adaptation

        adaptive = dict(args.adapt)
        try:
            Adaptation.from_dict(adaptive)
        except (TypeError, ValueError) as exc:
            raise CliError(f"--adapt: {exc}") from None
    return TrainConfig(
        adaptive=adaptive,
        detector=args.detector,
        params=params,
        window=args.window,
        train_stride=args.train_stride,
        threshold={"kind": args.threshold},
        health=args.health,
    )
