"""`anomstream train`: fit a detector per entity and save versioned artifacts."""

from __future__ import annotations

import argparse
from typing import Any

from anomstream.commands import model_options
from anomstream.errors import CliError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a detector per entity of a dataset",
        description="Fits the detector on the head of each entity's training split and sets "
        "its threshold on the tail, without labels. Saves <models>/<dataset>/<entity>/"
        "<detector>/v<N>/ (meta.json + state.npz, loadable without running code).",
    )
    model_options.add_model_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detectors.base import DetectorError
    from evaluation.runner import train_entities
    from producers.datasets import DatasetError

    config = model_options.train_config(args)  # a bad --param fails before data loads
    try:
        dataset = model_options.loader(args)
        paths = train_entities(
            dataset,
            model_options.entities(args, dataset),
            config,
            model_options.models_dir(args),
            progress=not args.no_progress,
        )
    except (DatasetError, DetectorError) as exc:
        raise CliError(str(exc)) from None
    for path in paths:
        print(path)
    return 0
