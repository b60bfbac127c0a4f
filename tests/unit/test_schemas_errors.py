"""Every message model rejects bad input with one SchemaError that names the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import (
    MAX_TOP_CHANNELS,
    MESSAGE_TYPES,
    Alert,
    DeadLetter,
    Reading,
    ReadingBatch,
    SchemaError,
    Score,
    ScoreBatch,
    decode,
    encode,
)

NAIVE = "2024-03-01T12:00:00"
NAN, INF = float("nan"), float("inf")
T0 = "2024-03-01T12:00:00Z"

# A valid JSON payload per model; each case below breaks exactly one thing in it.
VALID: dict[type[BaseModel], dict[str, Any]] = {
    Reading: {
        "dataset": "skab", "entity": "valve1", "seq": 3, "event_time": T0,
        "values": {"temp": 20.5, "flow": None}, "label": 1,
    },
    ReadingBatch: {
        "dataset": "smd", "entity": "m", "first_seq": 0, "event_times": [T0, T0],
        "channels": ["a", "b"], "rows": [[1.0, None], [2.0, 3.0]], "labels": [0, 1],
    },
    Score: {
        "dataset": "skab", "entity": "valve1", "seq": 3, "event_time": T0, "score": 4.5,
        "threshold": 2.0, "is_anomaly": True, "detector": "pca", "model_version": "1",
        "top_channels": [{"channel": "temp", "contribution": 0.5}], "scored_at": T0,
    },
    ScoreBatch: {
        "dataset": "smd", "entity": "m", "first_seq": 0, "event_times": [T0, T0],
        "scores": [0.5, 4.5], "is_anomaly": [False, True], "labels": [0, 1],
        "top_channels": [[], [{"channel": "a", "contribution": 0.5}]], "threshold": 2.0,
        "detector": "pca", "model_version": "1", "scored_at": T0,
    },
    Alert: {
        "alert_id": "a1", "dataset": "skab", "entity": "valve1", "state": "resolved",
        "start_seq": 3, "end_seq": 9, "start_time": T0, "end_time": "2024-03-01T12:01:00Z",
        "peak_score": 7.0, "threshold": 2.0, "top_channels": [], "detector": "pca",
        "model_version": "1", "emitted_at": T0,
    },
    DeadLetter: {
        "raw": "_w==", "key": None, "source_topic": "readings.skab", "partition": 0,
        "offset": 1, "reason": "bad", "failed_at": T0,
    },
}  # fmt: skip

Change = Callable[[dict[str, Any]], None]


def setting(field: str, value: Any) -> Change:
    def change(payload: dict[str, Any]) -> None:
        payload[field] = value

    return change


def dropping(field: str) -> Change:
    def change(payload: dict[str, Any]) -> None:
        del payload[field]

    return change


# Generic breakages every model must reject.
GENERIC = [
    (model, change, field)
    for model in MESSAGE_TYPES.values()
    for change, field in [
        (setting("surprise", 1), "surprise"),
        (setting("schema_version", 2), "schema_version"),
        (dropping(next(iter(VALID[model]))), next(iter(VALID[model]))),
    ]
]

SPECIFIC: list[tuple[type[BaseModel], Change, str]] = [
    (Reading, setting("seq", "three"), "seq"),
    (Reading, setting("seq", -1), "seq"),
    (Reading, setting("dataset", "SKAB"), "dataset"),
    (Reading, setting("dataset", "readings.skab"), "dataset"),
    (Reading, setting("dataset", "x" * 65), "dataset"),
    (Reading, setting("entity", ""), "entity"),
    (Reading, setting("event_time", NAIVE), "event_time"),
    (Reading, setting("event_time", "yesterday"), "event_time"),
    (Reading, setting("values", {"temp": NAN}), "values.temp"),
    (Reading, setting("values", {"temp": INF}), "values.temp"),
    (Reading, setting("values", {"temp": "hot"}), "values.temp"),
    (Reading, setting("values", {}), "values"),
    (Reading, setting("values", [1.0]), "values"),
    (Reading, setting("label", 2), "label"),
    (ReadingBatch, setting("rows", [[1.0, None]]), "rows"),
    (ReadingBatch, setting("rows", [[1.0], [2.0, 3.0]]), "rows"),
    (ReadingBatch, setting("rows", [[1.0, NAN], [2.0, 3.0]]), "rows.0.1"),
    (ReadingBatch, setting("labels", [0]), "labels"),
    (ReadingBatch, setting("channels", ["a", "a"]), "channels"),
    (ReadingBatch, setting("event_times", []), "event_times"),
    (ReadingBatch, setting("event_times", [T0, NAIVE]), "event_times.1"),
    (ReadingBatch, setting("first_seq", -5), "first_seq"),
    (Score, setting("score", NAN), "score"),
    (Score, setting("threshold", INF), "threshold"),
    (Score, setting("is_anomaly", "maybe"), "is_anomaly"),
    (Score, setting("scored_at", NAIVE), "scored_at"),
    (Score, setting("ingested_at", NAIVE), "ingested_at"),
    (Score, setting("detector", ""), "detector"),
    (Score, setting("top_channels", [{"channel": "t", "contribution": 1.0, "x": 1}]),
     "top_channels.0.x"),
    (Score, setting("top_channels", [{"channel": "t", "contribution": 1.0}] * 11),
     "top_channels"),  # one more than MAX_TOP_CHANNELS
    (Alert, setting("state", "closed"), "state"),
    (Alert, setting("end_seq", None), "end_seq"),
    (Alert, dropping("end_time"), "end_time"),
    (Alert, setting("end_seq", 2), "end_seq"),
    (Alert, setting("end_time", "2024-03-01T11:00:00Z"), "end_time"),
    (Alert, setting("peak_score", NAN), "peak_score"),
    (Alert, setting("emitted_at", NAIVE), "emitted_at"),
    (DeadLetter, setting("raw", "not base64!"), "raw"),
    (DeadLetter, setting("partition", -1), "partition"),
    (DeadLetter, setting("offset", "first"), "offset"),
    (DeadLetter, setting("reason", ""), "reason"),
    (DeadLetter, setting("failed_at", NAIVE), "failed_at"),
]  # fmt: skip


def _id(case: Any) -> str:
    return case.__name__ if isinstance(case, type) else ""


CASES = [
    pytest.param(model, change, field, id=f"{model.__name__}-{field}-{i}")
    for i, (model, change, field) in enumerate(GENERIC + SPECIFIC)
]


@pytest.mark.parametrize(("model", "change", "field"), CASES)
def test_rejects_with_field_named(model: type[BaseModel], change: Change, field: str) -> None:
    payload = json.loads(json.dumps(VALID[model]))
    change(payload)
    # json.dumps writes NaN/Infinity literals, as a careless producer would.
    with pytest.raises(SchemaError) as info:
        decode(json.dumps(payload).encode(), model)
    err = info.value
    assert (err.model, err.field) == (model.__name__, field)
    assert str(err).startswith(f"{model.__name__}.{field}: {err.reason}")


@pytest.mark.parametrize("model", list(MESSAGE_TYPES.values()), ids=_id)
def test_valid_payloads_are_valid(model: type[BaseModel]) -> None:
    # Guards the cases above: each must fail because of its change, not the base payload.
    assert json.loads(encode(decode(json.dumps(VALID[model]), model)))["schema_version"] == 1


def test_nan_message_names_the_channel() -> None:
    payload = dict(VALID[Reading], values={"temp": NAN})
    with pytest.raises(SchemaError, match=r"^Reading\.values\.temp: Input should be a finite"):
        decode(json.dumps(payload), Reading)


def test_top_channels_up_to_the_limit_are_accepted() -> None:
    top = [{"channel": f"c{i}", "contribution": 1.0} for i in range(MAX_TOP_CHANNELS)]
    score = decode(json.dumps(dict(VALID[Score], top_channels=top)), Score)
    assert len(score.top_channels) == MAX_TOP_CHANNELS == 10


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"{not json", "Invalid JSON"),
        (b"", "Invalid JSON"),
        ("[1, 2]", "object"),
        (b'{"dataset": "\xff\xfe"}', "not valid UTF-8"),
        (b"\xff{}", "not valid UTF-8"),
    ],
    ids=["garbage", "empty", "array", "bad-utf8-in-string", "bad-utf8-first-byte"],
)
def test_whole_message_errors_have_empty_field(data: bytes | str, needle: str) -> None:
    with pytest.raises(SchemaError) as info:
        decode(data, Reading)
    assert info.value.field == ""
    assert needle in info.value.reason
    assert str(info.value).startswith("Reading: ")
