"""The message models on the topics, and helpers that fill readings from floats or arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol, TypeAlias

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from schemas._types import (
    MAX_TOP_CHANNELS,
    AlertState,
    ChannelContribution,
    ChannelName,
    DatasetSlug,
    FiniteFloat,
    Label,
    Message,
    NonEmptyStr,
    SeqNumber,
    Timestamp,
)

__all__ = [
    "Alert",
    "DeadLetter",
    "Reading",
    "ReadingBatch",
    "Score",
    "ScoreBatch",
    "channel_values",
    "to_row",
    "to_rows",
]

TopChannels = list[ChannelContribution]


class Reading(Message):
    """One row of telemetry for one entity; `None` marks a missing channel value."""

    dataset: DatasetSlug
    entity: NonEmptyStr
    seq: SeqNumber = Field(description="Per-entity sequence number; +1 for each reading.")
    event_time: Timestamp
    values: dict[ChannelName, float | None] = Field(min_length=1)
    label: Label | None = Field(
        default=None,
        description="Ground truth (1 = anomalous) for evaluation only; never fed to a detector.",
    )


class ReadingBatch(Message):
    """Consecutive rows of one entity, channel names sent once; seqs are first_seq + row."""

    dataset: DatasetSlug
    entity: NonEmptyStr
    first_seq: SeqNumber
    event_times: list[Timestamp] = Field(min_length=1)
    channels: list[ChannelName] = Field(min_length=1)
    rows: list[list[float | None]]
    labels: list[Label | None] | None = None

    # Field validators rather than one model validator, so that an error names the field.
    # They rely on declaration order: `info.data` holds only fields validated before them.
    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise PydanticCustomError("duplicate_channel", "channel names must be unique")
        return channels

    @field_validator("rows")
    @classmethod
    def _rows_match(cls, rows: list[list[float | None]], info: ValidationInfo) -> Any:
        times, channels = info.data.get("event_times"), info.data.get("channels")
        if times is not None and len(rows) != len(times):
            raise PydanticCustomError(
                "row_count",
                "{rows} rows for {times} event times; expected one row per event time",
                {"rows": len(rows), "times": len(times)},
            )
        if channels is not None:
            width = len(channels)
            for index, row in enumerate(rows):
                if len(row) != width:
                    raise PydanticCustomError(
                        "row_length",
                        "row {index} has {got} values; expected {width}, one per channel",
                        {"index": index, "got": len(row), "width": width},
                    )
        return rows

    @field_validator("labels")
    @classmethod
    def _labels_match(cls, labels: list[int | None] | None, info: ValidationInfo) -> Any:
        times = info.data.get("event_times")
        if labels is not None and times is not None and len(labels) != len(times):
            raise PydanticCustomError(
                "label_count",
                "{labels} labels for {times} event times; expected one per row",
                {"labels": len(labels), "times": len(times)},
            )
        return labels

    def readings(self) -> list[Reading]:
        """Expand into one `Reading` per row, with seqs first_seq, first_seq + 1, ..."""
        labels = self.labels if self.labels is not None else [None] * len(self.rows)
        # The batch is already validated, and every Reading field is implied by a batch field
        # (non-empty channels, slug, finite values), so validating again would only cost time.
        return [
            Reading.model_construct(
                dataset=self.dataset,
                entity=self.entity,
                seq=self.first_seq + offset,
                event_time=event_time,
                values=dict(zip(self.channels, row, strict=True)),
                label=label,
            )
            for offset, (event_time, row, label) in enumerate(
                zip(self.event_times, self.rows, labels, strict=True)
            )
        ]


class Score(Message):
    """The detector's verdict on one reading; higher scores are more anomalous."""

    dataset: DatasetSlug
    entity: NonEmptyStr
    seq: SeqNumber
    event_time: Timestamp
    score: FiniteFloat
    threshold: FiniteFloat
    # Kept as sent rather than recomputed from score and threshold: the decision rule
    # (> or >=, calibration) belongs to the threshold object, not to the schema.
    is_anomaly: bool
    detector: NonEmptyStr
    model_version: NonEmptyStr
    top_channels: TopChannels = Field(default_factory=list, max_length=MAX_TOP_CHANNELS)
    label: Label | None = Field(
        default=None, description="The reading's ground-truth label, passed through when sent."
    )
    ingested_at: Timestamp | None = Field(
        default=None, description="When the stream app read the reading."
    )
    scored_at: Timestamp


class ScoreBatch(Message):
    """Scores of consecutive readings of one entity (a scored `ReadingBatch`); seqs are
    first_seq + position. Lists run in parallel; `top_channels` is empty where normal."""

    dataset: DatasetSlug
    entity: NonEmptyStr
    first_seq: SeqNumber
    event_times: list[Timestamp] = Field(min_length=1)
    scores: list[FiniteFloat]
    is_anomaly: list[bool]
    labels: list[Label | None] | None = None
    top_channels: list[TopChannels] = Field(default_factory=list)
    threshold: FiniteFloat
    detector: NonEmptyStr
    model_version: NonEmptyStr
    ingested_at: Timestamp | None = None
    scored_at: Timestamp

    @field_validator("scores", "is_anomaly", "labels", "top_channels")
    @classmethod
    def _one_per_reading(cls, values: list[Any] | None, info: ValidationInfo) -> Any:
        times = info.data.get("event_times")
        # top_channels may be left empty when no reading of the batch is anomalous.
        empty_ok = info.field_name == "top_channels" and not values
        if values is not None and times is not None and len(values) != len(times):
            if not empty_ok:
                raise PydanticCustomError(
                    "length",
                    "{got} entries for {times} event times; expected one per reading",
                    {"got": len(values), "times": len(times)},
                )
        return values

    def expand(self) -> list[Score]:
        """One `Score` per reading, with seqs first_seq, first_seq + 1, ..."""
        n = len(self.event_times)
        labels = self.labels if self.labels is not None else [None] * n
        tops = self.top_channels or [[] for _ in range(n)]
        return [
            Score.model_construct(
                dataset=self.dataset,
                entity=self.entity,
                seq=self.first_seq + i,
                event_time=self.event_times[i],
                score=self.scores[i],
                threshold=self.threshold,
                is_anomaly=self.is_anomaly[i],
                detector=self.detector,
                model_version=self.model_version,
                top_channels=tops[i],
                label=labels[i],
                ingested_at=self.ingested_at,
                scored_at=self.scored_at,
            )
            for i in range(n)
        ]


class Alert(Message):
    """One step of an incident's lifecycle on one entity: opened, updated or resolved."""

    alert_id: NonEmptyStr
    dataset: DatasetSlug
    entity: NonEmptyStr
    state: AlertState
    start_seq: SeqNumber
    end_seq: SeqNumber | None = Field(default=None, validate_default=True)
    start_time: Timestamp
    end_time: Timestamp | None = Field(default=None, validate_default=True)
    peak_score: FiniteFloat
    threshold: FiniteFloat
    top_channels: TopChannels = Field(default_factory=list, max_length=MAX_TOP_CHANNELS)
    detector: NonEmptyStr
    model_version: NonEmptyStr
    emitted_at: Timestamp
    resolved_by: Literal["quiet", "stale"] | None = Field(
        default=None,
        description=(
            "Why a resolved alert closed: `quiet` (enough normal scores in a row) or `stale` "
            "(no reading of the entity for the worker's ALERT_STALE_AFTER_S of wall time)."
        ),
    )

    # `validate_default=True` above makes these run when the end is omitted too, so a
    # resolved alert without an end is reported against the missing field.
    @field_validator("end_seq", "end_time")
    @classmethod
    def _end_after_start(cls, end: Any, info: ValidationInfo) -> Any:
        start_name = "start_seq" if info.field_name == "end_seq" else "start_time"
        if end is None:
            if info.data.get("state") is AlertState.RESOLVED:
                raise PydanticCustomError("missing", "required when state is resolved")
            return end
        start = info.data.get(start_name)
        if start is not None and end < start:
            raise PydanticCustomError(
                "end_before_start", "must not be before {start_name}", {"start_name": start_name}
            )
        return end


class DeadLetter(Message):
    """A message that could not be processed: its raw bytes, origin and the reason."""

    raw: bytes = Field(
        description="The message value as read (its first bytes when `truncated`); base64 in JSON."
    )
    key: bytes | None = Field(default=None, description="The message key; base64 in JSON.")
    source_topic: NonEmptyStr
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    reason: NonEmptyStr
    failed_at: Timestamp
    # A dead letter must fit where the original did not: an oversized value keeps its head
    # and its size; the source position finds the whole message.
    truncated: bool = Field(default=False, description="`raw` holds only the value's first bytes.")
    raw_size: int | None = Field(
        default=None, ge=0, description="The value's size in bytes, when `raw` is truncated."
    )


class _HasToList(Protocol):
    """Anything with numpy's `tolist()`; lets numpy stay an optional dependency here."""

    def tolist(self) -> Any: ...


ArrayLike: TypeAlias = _HasToList | Iterable[float | None]
MatrixLike: TypeAlias = _HasToList | Iterable[Iterable[float | None]]


def _plain(values: Any) -> Any:
    # `tolist()` turns a whole numpy array into Python floats in one C call, which is
    # far cheaper than converting numpy scalars one at a time in the loops below.
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else values


def to_row(values: ArrayLike) -> list[float | None]:
    """One row of values with NaN (numpy's missing marker) replaced by None.

    >>> to_row([1.0, float("nan"), None, 3])
    [1.0, None, None, 3]
    """
    # `v != v` is the NaN test that needs no import and no call per value; None and
    # anything else pass through untouched, so validation still sees wrong types.
    return [None if v != v else v for v in _plain(values)]


def to_rows(matrix: MatrixLike) -> list[list[float | None]]:
    """Rows of a 2-D array or nested sequence, NaN replaced by None.

    >>> to_rows([[1.0, float("nan")], [2.0, 3.0]])
    [[1.0, None], [2.0, 3.0]]
    """
    return [to_row(row) for row in _plain(matrix)]


def channel_values(channels: Sequence[str], values: ArrayLike) -> dict[str, float | None]:
    """The `Reading.values` mapping: channel name to value, NaN replaced by None.

    Infinite values are kept, so that validating the Reading rejects them loudly.

    >>> channel_values(["temp", "flow"], [20.5, float("nan")])
    {'temp': 20.5, 'flow': None}
    """
    row = to_row(values)
    if len(row) != len(channels):
        raise ValueError(f"{len(row)} values for {len(channels)} channels")
    return dict(zip(channels, row, strict=True))
