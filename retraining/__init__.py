"""Retraining from the stream: new model versions from a time range of `readings.<dataset>`,
leaving out alerted and labelled readings, deployed only past a false-alarm guard."""

from retraining.deployed import Overrides
from retraining.entity_retrain import EntityOptions, EntityOutcome
from retraining.lock import RetrainBusyError
from retraining.runner import RunSummary, retrain_once
from retraining.schedule import run_every
from retraining.settings import ENV_PREFIX, RetrainSettings
from retraining.stream_reader import StreamReadError

__all__ = [
    "ENV_PREFIX",
    "EntityOptions",
    "EntityOutcome",
    "Overrides",
    "RetrainBusyError",
    "RetrainSettings",
    "RunSummary",
    "StreamReadError",
    "retrain_once",
    "run_every",
]
