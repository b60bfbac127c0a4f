"""The web view's settings, from `ANOMSTREAM_UI_*` environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.tail_filter import parse_duration
from producers.kafka_config import KafkaSettings

__all__ = ["UiSettings"]


class UiSettings(BaseSettings):
    """Where to read, what to keep in memory, where and for whom to serve."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_UI_", populate_by_name=True)

    # Its own broker setting wins over ANOMSTREAM_KAFKA_BOOTSTRAP when given.
    bootstrap: str | None = None
    # The score topics to show (a regular expression over topic names); alerts are read too.
    scores_topics: str = r"scores\..+"
    # How far back the view starts when it starts: scores and alerts of the last hour.
    lookback: str = "1h"
    # Loopback unless asked (compose sets 0.0.0.0 and publishes the port on 127.0.0.1).
    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535)
    # With a token, /api/v1 (but /healthz and /readyz) asks for `Authorization: Bearer ...`.
    token: SecretStr | None = None
    # Bounded memory: the newest scores kept per entity, the entities kept (later ones are
    # counted, not shown), the resolved alerts kept beside every open one.
    points_per_entity: int = Field(default=1000, ge=10, le=100_000)
    max_entities: int = Field(default=5000, ge=1)
    recent_alerts: int = Field(default=1000, ge=1)
    # Request bodies (POST /api/v1/score) larger than this are refused with 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    models_dir: Path = Field(
        default=Path("models"),
        validation_alias=AliasChoices("ANOMSTREAM_UI_MODELS_DIR", "ANOMSTREAM_MODELS_DIR"),
    )
    # The worker's consumer group, whose lag the models page shows.
    worker_group: str = Field(
        default="anomstream-worker",
        validation_alias=AliasChoices("ANOMSTREAM_UI_WORKER_GROUP", "ANOMSTREAM_WORKER_GROUP_ID"),
    )

    @field_validator("lookback")
    @classmethod
    def _check_lookback(cls, value: str) -> str:
        parse_duration(value)
        return value

    def lookback_delta(self) -> timedelta:
        return parse_duration(self.lookback)

    def kafka(self, shared: KafkaSettings) -> KafkaSettings:
        """The shared ANOMSTREAM_KAFKA_* settings (login, TLS), with this bootstrap if set."""
        if not self.bootstrap:
            return shared
        return shared.model_copy(update={"bootstrap": self.bootstrap})
