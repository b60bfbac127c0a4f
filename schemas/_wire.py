"""Encoders for the replay's hot path: the same JSON as `encode`, without building models.

`encode(Reading.model_construct(...))` spends most of its time in pydantic's generic
`model_construct`; orjson writes the same document from plain values about four times faster
(benchmarks/replay.py). The caller vouches for what validation would check (finite values,
aware datetimes, slugs); tests/unit/test_wire.py holds these to `decode` and the models' fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson

from schemas._types import SCHEMA_VERSION

__all__ = ["encode_reading", "encode_reading_batch", "encode_score", "encode_score_batch"]

# Z rather than +00:00, as pydantic writes UTC; numpy arrays written natively; NaN -> null.
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY


def encode_reading(
    *,
    dataset: str,
    entity: str,
    seq: int,
    event_time: datetime | str,
    values: Mapping[str, float | None],
    label: int | None,
) -> bytes:
    """JSON of the `Reading` with these fields, as `encode` would write it.

    `event_time` may be an aware datetime or an RFC 3339 string in UTC ("...Z"); NaN values
    are written as null.
    """
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset,
            "entity": entity,
            "seq": seq,
            "event_time": event_time,
            "values": values,
            "label": label,
        },
        option=_OPTIONS,
    )


def encode_reading_batch(
    *,
    dataset: str,
    entity: str,
    first_seq: int,
    event_times: Sequence[datetime | str],
    channels: Sequence[str],
    rows: Sequence[Sequence[float | None]] | object,
    labels: Sequence[int | None] | None,
) -> bytes:
    """JSON of the `ReadingBatch` with these fields, as `encode` would write it.

    `rows` may be nested sequences or a C-contiguous 2-D float numpy array (written by
    orjson in C, NaN as null).
    """
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset,
            "entity": entity,
            "first_seq": first_seq,
            "event_times": event_times,
            "channels": channels,
            "rows": rows,
            "labels": labels,
        },
        option=_OPTIONS,
    )


def encode_score(
    *,
    dataset: str,
    entity: str,
    seq: int,
    event_time: datetime | str,
    score: float,
    threshold: float,
    is_anomaly: bool,
    detector: str,
    model_version: str,
    top_channels: Sequence[Mapping[str, object]],
    label: int | None,
    ingested_at: datetime | str | None,
    scored_at: datetime | str,
) -> bytes:
    """JSON of the `Score` with these fields, as `encode` would write it."""
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset,
            "entity": entity,
            "seq": seq,
            "event_time": event_time,
            "score": score,
            "threshold": threshold,
            "is_anomaly": is_anomaly,
            "detector": detector,
            "model_version": model_version,
            "top_channels": top_channels,
            "label": label,
            "ingested_at": ingested_at,
            "scored_at": scored_at,
        },
        option=_OPTIONS,
    )


def encode_score_batch(
    *,
    dataset: str,
    entity: str,
    first_seq: int,
    event_times: Sequence[datetime | str],
    scores: Sequence[float] | object,
    is_anomaly: Sequence[bool] | object,
    labels: Sequence[int | None] | None,
    top_channels: Sequence[Sequence[Mapping[str, object]]],
    threshold: float,
    detector: str,
    model_version: str,
    ingested_at: datetime | str | None,
    scored_at: datetime | str,
) -> bytes:
    """JSON of the `ScoreBatch` with these fields, as `encode` would write it.

    `scores` and `is_anomaly` may be 1-D numpy arrays (float64, bool); `top_channels` holds
    {"channel", "contribution"} mappings, one list per reading, or is empty.
    """
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset,
            "entity": entity,
            "first_seq": first_seq,
            "event_times": event_times,
            "scores": scores,
            "is_anomaly": is_anomaly,
            "labels": labels,
            "top_channels": top_channels,
            "threshold": threshold,
            "detector": detector,
            "model_version": model_version,
            "ingested_at": ingested_at,
            "scored_at": scored_at,
        },
        option=_OPTIONS,
    )
