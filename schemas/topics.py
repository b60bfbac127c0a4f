"""Kafka topic names and the topic layout the system needs, defined in one place."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas._types import SLUG_PATTERN

__all__ = [
    "ALERTS_TOPIC",
    "DATASETS",
    "DEADLETTER_TOPIC",
    "TopicSettings",
    "TopicSpec",
    "check_dataset",
    "parse_topic_selection",
    "readings_topic",
    "scores_topic",
    "topic_specs",
]

ALERTS_TOPIC: Final = "alerts"
DEADLETTER_TOPIC: Final = "deadletter"
DATASETS: Final = (
    "skab", "smd", "smap", "msl", "swat", "wadi", "damadics", "synthetic", "csv", "sql",
)  # fmt: skip

_SLUG = re.compile(SLUG_PATTERN)
_MS_PER_HOUR = 3_600_000


def check_dataset(dataset: str) -> str:
    """Return `dataset` if it is a valid slug (what topic names may embed), else raise."""
    if len(dataset) > 64 or not _SLUG.fullmatch(dataset):
        raise ValueError(
            f"dataset {dataset!r} is not a slug: lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit, at most 64 characters"
        )
    return dataset


def parse_topic_selection(text: str) -> list[str]:
    """Comma-separated topic names, where an entry starting with '^' is a regular expression
    (as confluent-kafka subscribes); raises ValueError for none or a bad expression."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    if not entries:
        raise ValueError("no topics: give topic names or a ^pattern")
    for entry in entries:
        if entry.startswith("^"):
            try:
                re.compile(entry)
            except re.error as exc:
                raise ValueError(f"{entry!r} is not a regular expression: {exc}") from None
    return entries


def readings_topic(dataset: str) -> str:
    """The topic carrying a dataset's readings, keyed by entity."""
    return f"readings.{check_dataset(dataset)}"


def scores_topic(dataset: str) -> str:
    """The topic carrying a dataset's scores, keyed by entity."""
    return f"scores.{check_dataset(dataset)}"


class TopicSettings(BaseSettings):
    """Topic layout from `ANOMSTREAM_TOPIC_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_TOPIC_")

    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    readings_retention_hours: float = Field(default=24, gt=0)
    scores_retention_hours: float = Field(default=72, gt=0)
    alerts_retention_hours: float = Field(default=720, gt=0)
    deadletter_retention_hours: float = Field(default=720, gt=0)
    # NoDecode: a list field would otherwise be parsed from the environment as JSON only,
    # and `ANOMSTREAM_TOPIC_DATASETS=skab,smd` must work; JSON is handled below.
    datasets: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DATASETS))

    @field_validator("datasets", mode="before")
    @classmethod
    def _split_datasets(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("datasets")
    @classmethod
    def _check_datasets(cls, datasets: list[str]) -> list[str]:
        for dataset in datasets:
            check_dataset(dataset)
        # Duplicates would list a topic twice for creation; keep the first occurrence.
        return list(dict.fromkeys(datasets))


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create: name, partitions, replication and topic-level config."""

    name: str
    partitions: int
    replication_factor: int
    # Excluded from the hash because a dict is unhashable; equality still compares it.
    config: dict[str, str] = field(default_factory=dict, hash=False)


def _retention(hours: float) -> dict[str, str]:
    return {"retention.ms": str(round(hours * _MS_PER_HOUR))}


def topic_specs(settings: TopicSettings | None = None) -> list[TopicSpec]:
    """Every topic the system needs: readings and scores per dataset, alerts, dead letters."""
    s = settings if settings is not None else TopicSettings()

    def spec(name: str, hours: float) -> TopicSpec:
        return TopicSpec(name, s.partitions, s.replication_factor, _retention(hours))

    specs = []
    for dataset in s.datasets:
        specs.append(spec(readings_topic(dataset), s.readings_retention_hours))
        specs.append(spec(scores_topic(dataset), s.scores_retention_hours))
    specs.append(spec(ALERTS_TOPIC, s.alerts_retention_hours))
    specs.append(spec(DEADLETTER_TOPIC, s.deadletter_retention_hours))
    return specs
