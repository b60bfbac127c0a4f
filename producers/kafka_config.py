"""Kafka connection settings shared by every process: `ANOMSTREAM_KAFKA_*`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KafkaSettings"]


class KafkaSettings(BaseSettings):
    """Where the cluster is and how producers batch; tuned for throughput on loopback."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_KAFKA_")

    bootstrap: str = "127.0.0.1:9092"
    # How long to wait for the cluster to answer before calling it unreachable.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    linger_ms: int = Field(default=20, ge=0)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"

    def producer_config(self, client_id: str) -> dict[str, str | int | bool]:
        """confluent-kafka settings for an idempotent producer (no duplicates on retry)."""
        return {
            "bootstrap.servers": self.bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": self.linger_ms,
            "compression.type": self.compression,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            # Errors surface through delivery reports and our own reachability check;
            # librdkafka's per-attempt connection logs would only repeat them.
            "log_level": 2,
        }
