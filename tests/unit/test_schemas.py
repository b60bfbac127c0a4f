"""Message models: round trips, missing values, frozen instances and batch expansion."""

from __future__ import annotations

import base64
import doctest
import json
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError

import schemas._messages
from schemas import (
    MESSAGE_TYPES,
    Alert,
    AlertState,
    ChannelContribution,
    DeadLetter,
    Reading,
    ReadingBatch,
    SchemaError,
    Score,
    ScoreBatch,
    channel_values,
    decode,
    encode,
    encode_key,
    to_row,
    to_rows,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
TOP = [ChannelContribution(channel="temp", contribution=0.75)]


def sample(model: type[BaseModel]) -> BaseModel:
    """A valid instance of every message type, with optional fields filled in."""
    samples: dict[type[BaseModel], Callable[[], BaseModel]] = {
        Reading: lambda: Reading(
            dataset="skab", entity="valve1", seq=3, event_time=T0,
            values={"temp": 20.5, "flow": None}, label=1,
        ),
        ReadingBatch: lambda: ReadingBatch(
            dataset="smd", entity="machine-1-1", first_seq=10, event_times=[T0, T1],
            channels=["cpu", "mem"], rows=[[0.5, None], [0.25, 1.0]], labels=[0, None],
        ),
        Score: lambda: Score(
            dataset="skab", entity="valve1", seq=3, event_time=T0, score=4.5, threshold=2.0,
            is_anomaly=True, detector="pca", model_version="2024-03-01.1", top_channels=TOP,
            label=1, ingested_at=T0, scored_at=T1,
        ),
        ScoreBatch: lambda: ScoreBatch(
            dataset="smd", entity="machine-1-1", first_seq=10, event_times=[T0, T1],
            scores=[0.5, 4.5], is_anomaly=[False, True], labels=[0, None],
            top_channels=[[], TOP], threshold=2.0, detector="pca", model_version="3",
            ingested_at=T0, scored_at=T1,
        ),
        Alert: lambda: Alert(
            alert_id="skab-valve1-3", dataset="skab", entity="valve1",
            state=AlertState.RESOLVED, start_seq=3, end_seq=9, start_time=T0, end_time=T1,
            peak_score=7.25, threshold=2.0, top_channels=TOP, detector="pca",
            model_version="1", emitted_at=T1,
        ),
        DeadLetter: lambda: DeadLetter(
            raw=b"\xff\xfe{not json", key=b"\x80valve", source_topic="readings.skab",
            partition=2, offset=41, reason="not UTF-8", failed_at=T1,
        ),
    }  # fmt: skip
    return samples[model]()


ALL_MODELS = list(MESSAGE_TYPES.values())


def test_message_types_cover_every_model() -> None:
    assert set(MESSAGE_TYPES) == {
        "Reading",
        "ReadingBatch",
        "Score",
        "ScoreBatch",
        "Alert",
        "DeadLetter",
    }


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_round_trip_equals(model: type[BaseModel]) -> None:
    message = sample(model)
    data = encode(message)
    back = decode(data, model)
    assert back == message
    assert encode(back) == data
    assert decode(data.decode("utf-8"), model) == message  # str input too


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_json_carries_schema_version_and_no_nan(model: type[BaseModel]) -> None:
    data = encode(sample(model))
    assert json.loads(data)["schema_version"] == 1
    assert b"NaN" not in data and b"Infinity" not in data


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_frozen(model: type[BaseModel]) -> None:
    message = sample(model)
    name = next(iter(type(message).model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(message, name, getattr(message, name))


def test_nan_value_becomes_null_and_none_back() -> None:
    values = channel_values(["temp", "flow"], [20.5, float("nan")])
    reading = Reading(dataset="skab", entity="v", seq=0, event_time=T0, values=values)
    data = encode(reading)
    assert json.loads(data)["values"] == {"temp": 20.5, "flow": None}
    assert b'"flow":null' in data
    assert decode(data, Reading).values["flow"] is None


def test_unvalidated_nan_still_encodes_as_null() -> None:
    # model_construct skips validation; the encoder must still never write NaN.
    reading = Reading.model_construct(
        dataset="skab", entity="v", seq=0, event_time=T0, values={"temp": float("nan")}
    )
    assert json.loads(encode(reading))["values"] == {"temp": None}


def test_batch_rows_from_nan_become_null() -> None:
    rows = to_rows([[1.0, float("nan")], [float("nan"), 2.0]])
    batch = ReadingBatch(
        dataset="smd", entity="m", first_seq=0, event_times=[T0, T1], channels=["a", "b"],
        rows=rows,
    )  # fmt: skip
    assert json.loads(encode(batch))["rows"] == [[1.0, None], [None, 2.0]]
    assert decode(encode(batch), ReadingBatch).rows == [[1.0, None], [None, 2.0]]


@pytest.mark.parametrize(
    "raw", [b"", bytes(range(256)), b"\xff\xfe\xfd", "ünïcode".encode()], ids=repr
)
def test_dead_letter_bytes_round_trip(raw: bytes) -> None:
    letter = DeadLetter(
        raw=raw, key=raw or None, source_topic="readings.skab", partition=0, offset=0,
        reason="bad", failed_at=T0,
    )  # fmt: skip
    data = encode(letter)
    assert data.decode("utf-8")  # the envelope itself is always valid UTF-8 JSON
    assert base64.urlsafe_b64decode(json.loads(data)["raw"]) == raw
    back = decode(data, DeadLetter)
    assert back.raw == raw and back.key == (raw or None)


def test_dead_letter_accepts_standard_base64_from_other_tools() -> None:
    payload = json.loads(encode(sample(DeadLetter)))
    payload["raw"] = base64.b64encode(bytes(range(256))).decode()
    assert decode(json.dumps(payload), DeadLetter).raw == bytes(range(256))


def test_batch_expands_into_consecutive_readings() -> None:
    batch = sample(ReadingBatch)
    assert isinstance(batch, ReadingBatch)
    readings = batch.readings()
    assert [r.seq for r in readings] == [10, 11]
    assert [r.event_time for r in readings] == [T0, T1]
    assert readings[0].values == {"cpu": 0.5, "mem": None}
    assert [r.label for r in readings] == [0, None]
    # Built without validation for speed; a validated copy must be identical.
    assert [Reading.model_validate(r.model_dump()) for r in readings] == readings


def test_batch_without_labels_expands_to_unlabelled_readings() -> None:
    batch = ReadingBatch(
        dataset="smd", entity="m", first_seq=0, event_times=[T0], channels=["a"], rows=[[1.0]]
    )
    assert [r.label for r in batch.readings()] == [None]


def test_alert_may_stay_open_without_an_end() -> None:
    alert = sample(Alert).model_copy(update={"state": AlertState.OPENED})
    payload = json.loads(encode(alert))
    del payload["end_seq"], payload["end_time"]
    opened = decode(json.dumps(payload), Alert)
    assert opened.state is AlertState.OPENED and opened.end_seq is None


def test_encode_key_is_utf8_entity() -> None:
    assert encode_key("machine-1-1") == b"machine-1-1"
    assert encode_key("vanne-é") == "vanne-é".encode()
    with pytest.raises(ValueError, match="non-empty"):
        encode_key("")


class _FakeArray:
    """Stands in for a numpy array: only `tolist()` is used."""

    def __init__(self, data: list[Any]) -> None:
        self.data = data

    def tolist(self) -> list[Any]:
        return self.data


def test_value_helpers_use_tolist_and_map_nan_to_none() -> None:
    assert to_row(_FakeArray([1.0, float("nan")])) == [1.0, None]
    assert to_rows(_FakeArray([[float("nan")], [2.0]])) == [[None], [2.0]]
    assert channel_values(["a"], _FakeArray([float("nan")])) == {"a": None}
    with pytest.raises(ValueError, match="2 values for 1 channels"):
        channel_values(["a"], [1.0, 2.0])


def test_value_helpers_accept_numpy_arrays() -> None:
    np = pytest.importorskip("numpy")
    matrix = np.array([[1.5, np.nan], [np.nan, 2.5]], dtype=np.float32)
    assert to_rows(matrix) == [[1.5, None], [None, 2.5]]
    assert channel_values(["a", "b"], matrix[0]) == {"a": 1.5, "b": None}


def test_docstring_examples() -> None:
    result = doctest.testmod(schemas._messages)
    assert result.attempted >= 3 and result.failed == 0


def test_schema_error_is_one_value_error_that_pickles() -> None:
    with pytest.raises(SchemaError) as info:
        decode(b'{"dataset": "skab"}', Reading)
    err = info.value
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object
    assert (again.model, again.field, again.reason, str(again)) == (
        err.model, err.field, err.reason, str(err),
    )  # fmt: skip
    assert err.field == "entity" and len(err.errors) == 4 and "(and 3 more errors)" in str(err)


def test_a_score_batch_expands_to_one_score_per_reading() -> None:
    batch = sample(ScoreBatch)
    assert isinstance(batch, ScoreBatch)
    scores = batch.expand()
    assert [s.seq for s in scores] == [10, 11]
    assert [s.is_anomaly for s in scores] == [False, True]
    assert scores[1].top_channels == TOP and scores[0].top_channels == []
    assert [s.label for s in scores] == [0, None]
    # Each expanded score is a valid Score on its own.
    for score in scores:
        assert decode(encode(score), Score) == score


def test_a_score_batch_with_a_missing_score_names_the_field() -> None:
    batch = sample(ScoreBatch)
    data = batch.model_dump(mode="json")
    data["scores"] = [1.0]
    with pytest.raises(SchemaError) as caught:
        decode(orjson.dumps(data), ScoreBatch)
    assert caught.value.field == "scores"
