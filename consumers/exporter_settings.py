"""The Prometheus exporter's settings, from `ANOMSTREAM_EXPORTER_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from producers.kafka_config import KafkaSettings
from schemas.topics import parse_topic_selection

__all__ = ["ExporterSettings"]


class ExporterSettings(BaseSettings):
    """Where to read the worker's outputs, where to serve /metrics, how many entities to label."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_EXPORTER_")

    # The exporter's own broker setting wins over ANOMSTREAM_KAFKA_BOOTSTRAP when given.
    bootstrap: str | None = None
    # Comma-separated topics; an entry starting with '^' is a regular expression.
    topics: str = r"^scores\..+,alerts"
    # Its own consumer group: the exporter is a view and must not take records from others.
    group_id: str = "anomstream-exporter"
    # Where a group with no committed offsets starts. `latest` (the default) shows live data
    # only; `earliest` first replays everything retained into the counters.
    start_from: Literal["earliest", "latest"] = "latest"
    # The address /metrics is served on (9464 is Prometheus' customary exporter port):
    # loopback unless asked; compose sets 0.0.0.0 for Prometheus in another container.
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    # At most this many (dataset, entity) pairs get their own label; later ones share
    # entity="_other", so a flood of entity names cannot flood Prometheus with series.
    max_entities: int = Field(default=1000, ge=1)
    # One consume call returns at most this many records, waiting up to poll_timeout_s;
    # the timeout also bounds how long a stop signal waits.
    batch_max_messages: int = Field(default=1000, ge=1)
    poll_timeout_s: float = Field(default=0.5, gt=0, le=10)

    @field_validator("topics")
    @classmethod
    def _check_topics(cls, value: str) -> str:
        parse_topic_selection(value)
        return value

    def topic_list(self) -> list[str]:
        return parse_topic_selection(self.topics)

    def kafka(self, shared: KafkaSettings) -> KafkaSettings:
        """The shared ANOMSTREAM_KAFKA_* settings (login, TLS), with this bootstrap if set."""
        if not self.bootstrap:
            return shared
        return shared.model_copy(update={"bootstrap": self.bootstrap})
