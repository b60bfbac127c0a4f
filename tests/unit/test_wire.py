"""The hot-path encoders write what `encode` writes: same fields, same decoded message."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from producers.row_blocks import rfc3339_utc
from schemas import (
    Reading,
    ReadingBatch,
    Score,
    ScoreBatch,
    decode,
    encode,
    encode_reading,
    encode_reading_batch,
    encode_score,
    encode_score_batch,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def random_value(rng: random.Random) -> float | None:
    kind = rng.randrange(3)
    return rng.uniform(-1e6, 1e6) if kind == 0 else rng.random() * 1e-9 if kind == 1 else None


def random_values(rng: random.Random, width: int) -> list[float | None]:
    return [random_value(rng) for _ in range(width)]


@pytest.mark.parametrize("seed", range(20))
def test_encode_reading_matches_the_model(seed: int) -> None:
    rng = random.Random(seed)
    channels = [f"c{i}" for i in range(rng.randint(1, 40))]
    fields = {
        "dataset": "smd",
        "entity": f"machine-{seed}",
        "seq": rng.randint(0, 10**9),
        "event_time": T0 + timedelta(microseconds=rng.randint(0, 10**12)),
        "values": dict(zip(channels, random_values(rng, len(channels)), strict=True)),
        "label": rng.choice([None, 0, 1]),
    }

    fast = encode_reading(**fields)  # type: ignore[arg-type]

    model = Reading.model_validate(fields)
    assert decode(fast, Reading) == model
    assert json.loads(fast).keys() == json.loads(encode(model)).keys()


def test_encode_reading_batch_matches_the_model_with_numpy_rows_and_nan() -> None:
    rows = np.array([[1.5, np.nan], [0.25, 2e-7]])
    times_ns = np.array([0, 1_500_000], dtype=np.int64) + 1_700_000_000_000_000_000
    fields = {
        "dataset": "skab",
        "entity": "valve1/0",
        "first_seq": 10,
        "event_times": rfc3339_utc(times_ns),
        "channels": ["a", "b"],
        "labels": [0, 1],
    }

    fast = encode_reading_batch(rows=rows, **fields)  # type: ignore[arg-type]

    decoded = decode(fast, ReadingBatch)
    assert decoded.rows == [[1.5, None], [0.25, 2e-7]]
    assert decoded.event_times[1] - decoded.event_times[0] == timedelta(microseconds=1500)
    expected = ReadingBatch.model_validate({**fields, "rows": [[1.5, None], [0.25, 2e-7]]})
    assert decoded == expected
    assert json.loads(fast).keys() == json.loads(encode(expected)).keys()


def test_nan_is_written_as_null_never_as_nan() -> None:
    fast = encode_reading(
        dataset="x", entity="e", seq=0, event_time=T0, values={"a": math.nan}, label=None
    )

    assert b"NaN" not in fast
    assert json.loads(fast)["values"] == {"a": None}


def test_whole_seconds_are_written_like_pydantic() -> None:
    times = np.array([0, 1_000_000_000], dtype=np.int64)

    assert rfc3339_utc(times) == ["1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z"]
    assert rfc3339_utc(times + 5_000)[0] == "1970-01-01T00:00:00.000005Z"


def test_encode_score_batch_matches_the_model_with_numpy_columns() -> None:
    scores = np.array([0.25, 7.5, 1e-12])
    fields = {
        "dataset": "smd",
        "entity": "machine-1-1",
        "first_seq": 40,
        "event_times": rfc3339_utc(np.array([0, 1, 2], dtype=np.int64) * 10**9),
        "labels": [0, 1, None],
        "top_channels": [[], [{"channel": "cpu", "contribution": 3.5}], []],
        "threshold": 2.0,
        "detector": "pca",
        "model_version": "v3",
        "ingested_at": T0,
        "scored_at": T0 + timedelta(milliseconds=5),
    }
    wire = encode_score_batch(**fields, scores=scores, is_anomaly=scores > 2.0)  # type: ignore[arg-type]
    decoded = decode(wire, ScoreBatch)
    expected = ScoreBatch(**fields, scores=scores.tolist(), is_anomaly=[False, True, False])  # type: ignore[arg-type]
    assert decoded == expected
    assert json.loads(wire) == json.loads(encode(expected))


@pytest.mark.parametrize("label", [None, 0, 1])
def test_encode_score_matches_the_model(label: int | None) -> None:
    fields = {
        "dataset": "skab",
        "entity": "valve1",
        "seq": 7,
        "event_time": "2026-03-01T12:00:00.250000Z",
        "score": float(np.float64(3.25)),
        "threshold": 1.5,
        "is_anomaly": True,
        "detector": "pca",
        "model_version": "v1",
        "top_channels": [{"channel": "temp", "contribution": 0.75}],
        "label": label,
        "ingested_at": None,
        "scored_at": T0,
    }
    wire = encode_score(**fields)  # type: ignore[arg-type]
    assert decode(wire, Score) == Score(**fields)  # type: ignore[arg-type]
    assert json.loads(wire) == json.loads(encode(decode(wire, Score)))
