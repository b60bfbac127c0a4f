"""The worker's settings, from `ANOMSTREAM_WORKER_*` environment variables."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import parse_topic_selection

__all__ = ["AlertPolicy", "WorkerSettings"]


class AlertPolicy(BaseSettings):
    """When an incident opens, how often it is updated, when it resolves."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_WORKER_ALERT_")

    # Consecutive anomalous scores before an alert opens (1 = the first one).
    consecutive: int = Field(default=3, ge=1)
    # Consecutive normal scores after which an open alert resolves.
    quiet: int = Field(default=20, ge=1)
    # An open alert is re-published with its peak and top channels every this many scores.
    update_every: int = Field(default=100, ge=1)
    # How many channels alerts and anomalous scores name as likely root causes.
    top_channels: int = Field(default=3, ge=0, le=10)


class WorkerSettings(BaseSettings):
    """Where to read, where the models are, how to batch and what to do with odd input."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_WORKER_", populate_by_name=True)

    # The worker's own broker setting wins over ANOMSTREAM_KAFKA_BOOTSTRAP when given.
    bootstrap: str | None = None
    # Comma-separated topics; an entry starting with '^' is a regular expression.
    topics: str = r"^readings\..+"
    group_id: str = "anomstream-worker"
    # Where a group with no committed offsets starts: the whole retained topic, or new data.
    start_from: Literal["earliest", "latest"] = "earliest"
    # Names this worker's transactional producer: stable across restarts so a restarted
    # worker fences its crashed predecessor; distinct for workers running side by side.
    worker_id: str = Field(default_factory=socket.gethostname)
    models_dir: Path = Field(
        default=Path("models"),
        validation_alias=AliasChoices("ANOMSTREAM_WORKER_MODELS_DIR", "ANOMSTREAM_MODELS_DIR"),
    )
    # Which trained detector to use when an entity has several; None: the newest.
    detector: str | None = None
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        validation_alias=AliasChoices("ANOMSTREAM_WORKER_DEVICE", "ANOMSTREAM_DEVICE"),
    )
    # Score every `stride`-th reading once its window is full (1 = every reading).
    stride: int = Field(default=1, ge=1)
    # One cycle reads at most this many messages, waiting up to batch_wait_ms for them.
    batch_max_messages: int = Field(default=5000, ge=1)
    batch_wait_ms: int = Field(default=20, ge=0)
    # Readings of an entity with no model of its own: dead-letter them, or score them
    # with the dataset's shared model (models/<dataset>/_default/...) when there is one.
    unknown_entity: Literal["deadletter", "dataset"] = "dataset"
    # Threads for torch's CPU kernels. One per worker: librdkafka and the engine need the
    # other cores, and oversubscribed torch ran 20-40x slower on a 2-core machine.
    torch_threads: int = Field(default=1, ge=1)
    # How often the models directory is checked for new versions.
    model_refresh_s: float = Field(default=5.0, gt=0)
    # The compacted topic holding per-entity state (sequence, alert) for restarts.
    state_topic: str = ""
    transaction_timeout_ms: int = Field(default=10_000, ge=1000)
    # How long the group waits for a worker that stopped answering (kill -9, a lost host)
    # before its partitions move; a worker stopped cleanly leaves at once.
    session_timeout_ms: int = Field(default=10_000, ge=6000)
    # faust's web server port; it serves /metrics.
    web_port: int = Field(default=6066, ge=0, le=65535)
    # How often consumer lag is measured for the metrics.
    lag_interval_s: float = Field(default=5.0, gt=0)

    @field_validator("topics")
    @classmethod
    def _check_topics(cls, value: str) -> str:
        parse_topic_selection(value)
        return value

    def topic_list(self) -> list[str]:
        return parse_topic_selection(self.topics)

    def state_topic_name(self) -> str:
        return self.state_topic or f"{self.group_id}-state"

    def transactional_id(self) -> str:
        return f"{self.group_id}-{self.worker_id}"
