"""Readings off the wire into numpy rows, or a reason the message cannot be used.

The hot path accepts only messages the pydantic models accept as well: a single `Reading` is
decoded and checked in one typed pass by msgspec (its struct below mirrors the model with the
same or stricter constraints), a `ReadingBatch` is parsed with orjson and checked by hand
with its rows read by numpy. Anything either is unsure about (missing values, odd types,
timestamps not in UTC "Z" form) goes through `schemas.decode`, which either accepts the
message or says precisely what is wrong with it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import orjson

from schemas import Reading, ReadingBatch, SchemaError, decode

__all__ = ["IngestError", "Rows", "parse_readings"]

FloatArray = npt.NDArray[np.float64]

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_UTC_TIME_TEXT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z"
_UTC_TIME = re.compile(_UTC_TIME_TEXT)
# Many times checked in one regex call over the times joined by newlines.
_UTC_TIMES = re.compile(rf"(?:{_UTC_TIME_TEXT}\n)*{_UTC_TIME_TEXT}")
_READING_KEYS = frozenset({"schema_version", "dataset", "entity", "seq", "event_time", "values"})
_BATCH_KEYS = frozenset(
    {"schema_version", "dataset", "entity", "first_seq", "event_times", "channels", "rows"}
)
_NUMBER_TYPES = frozenset({float, int})
_MAX_FLOAT = 1.7976931348623157e308

_Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}\Z")]
_Time = Annotated[str, msgspec.Meta(pattern=rf"^{_UTC_TIME_TEXT}\Z")]
# JSON has no NaN; a number too large for a double would come out infinite: refused here.
_Value = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
_Channel = Annotated[str, msgspec.Meta(min_length=1)]


class _FastReading(msgspec.Struct, forbid_unknown_fields=True):
    """`schemas.Reading` with no missing values, times in UTC "Z" form: what producers send."""

    dataset: _Slug
    entity: Annotated[str, msgspec.Meta(min_length=1)]
    seq: Annotated[int, msgspec.Meta(ge=0)]
    event_time: _Time
    values: Annotated[dict[_Channel, _Value], msgspec.Meta(min_length=1)]
    label: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = None
    schema_version: Literal[1] = 1


_READING = msgspec.json.Decoder(_FastReading)


class IngestError(ValueError):
    """A message that cannot be scored; `kind` is the metric label, the text the detail."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(slots=True)
class Rows:
    """Consecutive readings of one entity: seqs first_seq.., values (n, C), NaN = missing.

    A single reading off the fast path keeps its values as a list of floats (one row): the
    worker turns the single readings of one entity into one array per cycle, which costs
    far less than an array per message.
    """

    dataset: str
    entity: str
    first_seq: int
    event_times: list[str]
    channels: tuple[str, ...]
    values: FloatArray | list[float]
    labels: list[int | None] | None

    def __len__(self) -> int:
        return len(self.event_times)


def parse_readings(raw: bytes | None, max_bytes: int | None = None) -> Rows:
    """A `Reading` or `ReadingBatch` as rows; raises IngestError saying what is wrong.

    A message over `max_bytes` is refused before it is parsed: a few megabytes of JSON
    compress to kilobytes on the broker, and parsing them would stall the cycle.
    """
    if raw is None:
        raise IngestError("undecodable", "the message has no value")
    if max_bytes is not None and len(raw) > max_bytes:
        raise IngestError(
            "too_large",
            f"{len(raw)} bytes, over the limit of {max_bytes} "
            "(ANOMSTREAM_WORKER_MAX_READING_BYTES)",
        )
    fast = _fast_path(raw)
    return fast if fast is not None else _validated(raw)


def _fast_path(raw: bytes) -> Rows | None:
    # A single reading first: most messages are, and a batch fails its decoder at once
    # (an unknown key, `first_seq`), which is cheaper than searching every reading for "rows".
    single = _fast_reading(raw)
    if single is not None or not _rows_are_plain_numbers(raw):
        return single
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    version = doc.get("schema_version", 1) if isinstance(doc, dict) else None
    if type(version) is not int or version != 1:
        return None
    return _fast_batch(doc) if "rows" in doc else None


def _rows_are_plain_numbers(raw: bytes) -> bool:
    """False if a batch's rows hold anything but numbers: a string, true, false or null.

    Inside `"rows":[...]` numbers never contain a quote, 'a' or 'u', while every other
    JSON value does; each check is one memchr over the bytes. (A quote inside a JSON string
    is escaped, so `"rows":[` is the key itself.) JSON booleans would pass numpy's float
    conversion, so they must not reach it.
    """
    start = raw.find(b'"rows":[')
    if start < 0:
        return True
    # The next quote starts the next key, right after the rows' closing "]],"; anywhere
    # else it is a string inside the rows. (Single-byte finds are memchr; "]]" is not.)
    end = raw.find(b'"', start + 8)
    if end < 0:
        end = len(raw)
    elif raw[end - 3 : end] != b"]],":
        return False
    return raw.find(b"a", start + 8, end) < 0 and raw.find(b"u", start + 8, end) < 0


def _common_ok(doc: dict[str, object], seq_key: str) -> bool:
    dataset, entity, seq = doc.get("dataset"), doc.get("entity"), doc.get(seq_key)
    return (
        type(dataset) is str
        and _SLUG.fullmatch(dataset) is not None
        and type(entity) is str
        and entity != ""
        and type(seq) is int
        and seq >= 0
    )


def _numeric(rows: object, shape: tuple[int, int]) -> FloatArray | None:
    """Rows of numbers as (n, C) float64, or None for anything else (the models decide).

    `_rows_are_plain_numbers` has ruled out strings, booleans and null already; orjson
    refuses NaN and infinity, so the numbers are finite.
    """
    n, width = shape
    if type(rows) is not list or len(rows) != n:
        return None
    for row in rows:
        if type(row) is not list or len(row) != width:
            return None
    try:
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * width)
    except (TypeError, ValueError):
        return None  # nested lists
    return flat.reshape(n, width)


def _labels_ok(labels: object, count: int) -> bool:
    if labels is None:
        return True
    return (
        isinstance(labels, list)
        and len(labels) == count
        and all(label is None or (type(label) is int and 0 <= label <= 1) for label in labels)
    )


def _fast_batch(doc: dict[str, object]) -> Rows | None:
    if not _BATCH_KEYS <= doc.keys() <= _BATCH_KEYS | {"labels"}:
        return None
    if not _common_ok(doc, "first_seq"):
        return None
    times, channels, rows = doc["event_times"], doc["channels"], doc["rows"]
    if not isinstance(times, list) or not times or not isinstance(channels, list) or not channels:
        return None
    # A time with a newline in it would pass the joined check as two: refuse any newline.
    if not all(type(t) is str for t in times) or any("\n" in t for t in times):
        return None
    if _UTC_TIMES.fullmatch("\n".join(times)) is None:
        return None
    if not all(type(c) is str and c for c in channels) or len(set(channels)) != len(channels):
        return None
    values = _numeric(rows, (len(times), len(channels)))
    labels = doc.get("labels")
    if values is None or not _labels_ok(labels, len(times)):
        return None
    return Rows(
        dataset=str(doc["dataset"]),
        entity=str(doc["entity"]),
        first_seq=int(doc["first_seq"]),  # type: ignore[call-overload]
        event_times=times,
        channels=tuple(channels),
        values=values,
        labels=labels,  # type: ignore[arg-type]
    )


def _fast_reading(raw: bytes) -> Rows | None:
    try:
        reading = _READING.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None  # the validated path decides, and says why
    return Rows(
        dataset=reading.dataset,
        entity=reading.entity,
        first_seq=reading.seq,
        event_times=[reading.event_time],
        channels=tuple(reading.values),
        values=list(reading.values.values()),
        labels=None if reading.label is None else [reading.label],
    )


def _validated(raw: bytes) -> Rows:
    try:
        if b'"rows"' in raw:
            return _from_batch(decode(raw, ReadingBatch))
        return _from_reading(decode(raw, Reading))
    except SchemaError as exc:
        if not exc.field and ("JSON" in exc.reason or "UTF-8" in exc.reason):
            raise IngestError("undecodable", str(exc)) from None
        kind = "non_finite" if "finite" in exc.reason else "schema"
        raise IngestError(kind, str(exc)) from None


def _utc(time: datetime) -> str:
    return time.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_float(value: float | None) -> float:
    return math.nan if value is None else value


def _from_batch(batch: ReadingBatch) -> Rows:
    values = np.array([[_as_float(v) for v in row] for row in batch.rows], dtype=np.float64)
    return Rows(
        dataset=batch.dataset,
        entity=batch.entity,
        first_seq=batch.first_seq,
        event_times=[_utc(t) for t in batch.event_times],
        channels=tuple(batch.channels),
        values=values.reshape(len(batch.rows), len(batch.channels)),
        labels=batch.labels,
    )


def _from_reading(reading: Reading) -> Rows:
    return Rows(
        dataset=reading.dataset,
        entity=reading.entity,
        first_seq=reading.seq,
        event_times=[_utc(reading.event_time)],
        channels=tuple(reading.values),
        values=np.array([[_as_float(v) for v in reading.values.values()]], dtype=np.float64),
        labels=None if reading.label is None else [reading.label],
    )
