"""The worker's settings, from `ANOMSTREAM_WORKER_*` environment variables."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from detectors.pipeline import TrainConfig
from detectors.registry import DEFAULT_ADAPTIVE, DEFAULT_DETECTOR, DETECTORS, detector_class
from detectors.thresholds import THRESHOLDS
from schemas.topics import parse_topic_selection

__all__ = ["AlertPolicy", "WorkerSettings"]


class AlertPolicy(BaseSettings):
    """When an incident opens, how often it is updated, when it resolves."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_WORKER_ALERT_")

    # Consecutive anomalous scores before an alert opens (1 = the first one).
    consecutive: int = Field(default=3, ge=1)
    # A single score at least this many times the (positive) threshold opens an alert at
    # once: a spike is over before `consecutive` scores have come. 0: never.
    open_ratio: float = Field(default=5.0, ge=0)
    # Consecutive normal scores after which an open alert resolves.
    quiet: int = Field(default=20, ge=1)
    # An open alert is re-published with its peak and top channels every this many scores.
    update_every: int = Field(default=100, ge=1)
    # How many channels alerts and anomalous scores name as likely root causes.
    top_channels: int = Field(default=3, ge=0, le=10)
    # An open alert of an entity that sent no reading for this many seconds of the worker's
    # wall time is resolved as `stale` (a stopped stream never sends the quiet scores that
    # would resolve it). Wall time, not event time: event time stops with the stream. 0: never.
    stale_after_s: float = Field(default=300.0, ge=0)


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
    # Which trained detector to serve. None: per entity, the most recently trained one when
    # the worker first meets it, then that detector only (a newer model of another detector,
    # e.g. from `anomstream evaluate --detector ae`, never replaces it).
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
    # Readings of an entity with no model of its own: dead-letter them, score them with
    # the dataset's shared model (models/<dataset>/_default/...) when there is one, or
    # learn the entity's own model from its first `cold_start_rows` readings (`learn`).
    unknown_entity: Literal["deadletter", "dataset", "learn"] = "dataset"
    # Cold start (`unknown_entity=learn`): how many readings an entity's probation takes,
    # and what is trained on them, as `anomstream train --cold-start` would (the model is
    # saved under models_dir like any other, so restarts and other workers serve it).
    cold_start_rows: int = Field(default=2000, ge=10)
    cold_start_detector: str = DEFAULT_DETECTOR
    cold_start_window: int = Field(default=100, ge=2)
    cold_start_threshold: str = "pot"
    cold_start_adaptive: bool = DEFAULT_ADAPTIVE
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
    # The worker's HTTP server: /metrics, /healthz, /readyz. Loopback unless asked (compose
    # sets 0.0.0.0 so that Prometheus in another container can scrape it).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    # faust's own data directory, created private (0700). Default: under
    # $XDG_STATE_HOME (~/.local/state)/anomstream/worker-<worker id>.
    data_dir: Path | None = None
    # How often consumer lag is measured for the metrics.
    lag_interval_s: float = Field(default=5.0, gt=0)
    # A reading larger than this is dead-lettered (`too_large`) before it is parsed.
    max_reading_bytes: int = Field(default=1_048_576, ge=1024)
    # Dead letters keep at most this many bytes of the message (and say so), so that a
    # dead letter always fits on the topic the message could not.
    deadletter_max_raw_bytes: int = Field(default=65_536, ge=0, le=524_288)
    # A seq more than this far past the entity's last one is dead-lettered (`seq_jump`)
    # instead of moving the entity there; the next reading that continues from it confirms
    # a real jump.
    max_seq_jump: int = Field(default=1_000_000, ge=1)
    # Create missing output topics (alerts, deadletter, scores.<dataset>) with the project's
    # topic settings, logging each; false: log an error naming the topic and wait.
    create_topics: bool = True
    # When a partition has committed offsets but its state was lost (state topic deleted),
    # windows are rebuilt from up to this many readings before the committed offset.
    state_rebuild_messages: int = Field(default=100_000, ge=0)
    # /healthz fails and the worker exits non-zero when its engine loop has not come round
    # for this long: a stalled worker is restarted instead of silently scoring nothing.
    stall_timeout_s: float = Field(default=120.0, ge=10)
    # Dead letters are summarised in the log (per reason and entity) at most this often.
    deadletter_log_interval_s: float = Field(default=30.0, gt=0)

    @field_validator("detector", "cold_start_detector")
    @classmethod
    def _known_detector(cls, value: str | None) -> str | None:
        if value is not None and value not in DETECTORS:
            raise ValueError(f"unknown detector {value!r}; known: {', '.join(DETECTORS)}")
        return value

    @field_validator("cold_start_detector")
    @classmethod
    def _quick_to_train(cls, value: str) -> str:
        if detector_class(value).uses_torch:
            # A probation trains inside the worker's cycle: seconds, not a deep model's minutes.
            raise ValueError(
                f"{value} trains for minutes, too long for the worker's cycle: train it with "
                "`anomstream train` and let the worker serve it"
            )
        return value

    @field_validator("cold_start_threshold")
    @classmethod
    def _known_threshold(cls, value: str) -> str:
        if value not in THRESHOLDS:
            raise ValueError(f"unknown threshold {value!r}; known: {', '.join(THRESHOLDS)}")
        return value

    @model_validator(mode="after")
    def _probation_fills_a_window(self) -> WorkerSettings:
        # train() needs windows for both fitting and the validation tail.
        if self.unknown_entity == "learn" and self.cold_start_rows < 2 * self.cold_start_window:
            raise ValueError(
                f"cold_start_rows={self.cold_start_rows} is too few for windows of "
                f"{self.cold_start_window}: at least {2 * self.cold_start_window}"
            )
        return self

    def cold_start_config(self) -> TrainConfig:
        """What an entity's probation trains: `anomstream train`'s defaults otherwise."""
        return TrainConfig(
            detector=self.cold_start_detector,
            params={"seed": 0},
            window=self.cold_start_window,
            threshold={"kind": self.cold_start_threshold},
            adaptive={} if self.cold_start_adaptive else None,
        )

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

    def faust_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        state_home = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(state_home) / "anomstream" / f"worker-{self.worker_id}"
