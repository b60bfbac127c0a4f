"""The records the worker reads and writes, as the engine and the processor pass them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InMessage", "OutMessage"]


@dataclass(slots=True)
class InMessage:
    """A consumed record: where it came from and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True)
class OutMessage:
    """A record to publish; `partition` None lets the producer's partitioner choose."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
