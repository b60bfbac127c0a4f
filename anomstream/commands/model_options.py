"""Options shared by `train` and `evaluate`: dataset, detector, windowing, threshold."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from anomstream.commands.dataset_options import add_dataset_arguments, open_loader, positive_int
from anomstream.errors import CliError
from detectors.registry import DETECTORS, detector_class
from detectors.thresholds import THRESHOLDS
from producers.datasets import LOADERS, DatasetLoader
from producers.replay import select_entities

__all__ = ["add_model_arguments", "entities", "loader", "models_dir", "train_config"]


def _param(text: str) -> tuple[str, Any]:
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
        "--detector", required=True, choices=list(DETECTORS), help=", ".join(DETECTORS)
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
        type=_param,
        metavar="K=V",
        help="detector hyperparameter, e.g. --param epochs=5 (JSON values)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the detector's random seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def loader(args: argparse.Namespace) -> DatasetLoader:
    return open_loader(args)


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
    if detector_class(args.detector).uses_torch:
        params.setdefault("device", args.device)
        params.setdefault("progress", not args.no_progress)
    try:
        check_detector_params(args.detector, params)
    except DetectorError as exc:
        raise CliError(str(exc)) from None
    if args.window < 2:
        raise CliError("--window must be at least 2")
    return TrainConfig(
        detector=args.detector,
        params=params,
        window=args.window,
        train_stride=args.train_stride,
        threshold={"kind": args.threshold},
    )
