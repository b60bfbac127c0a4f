"""The synthetic dataset's TOML config: sensors, their signals and the anomalies injected."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from producers.datasets.base import DatasetError

__all__ = [
    "DEFAULT_CONFIG",
    "Anomaly",
    "AnomalyKind",
    "Constant",
    "Gaussian",
    "RandomWalk",
    "Sensor",
    "Signal",
    "Sine",
    "SyntheticConfig",
    "Uniform",
    "read_config",
]

DEFAULT_CONFIG: Traversable = files("producers.datasets") / "synthetic_default.toml"

AnomalyKind = Literal["spike", "level_shift", "drift", "noise_burst", "stuck", "dropout"]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Gaussian(_Model):
    """Independent draws around `mean`."""

    kind: Literal["gaussian"]
    mean: float = 0.0
    std: NonNegative = 1.0


class Uniform(_Model):
    """Independent draws in [low, high)."""

    kind: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class Sine(_Model):
    """A daily or process cycle: mean + amplitude * sin(2 pi t / period_s + phase)."""

    kind: Literal["sine"]
    mean: float = 0.0
    amplitude: float
    period_s: Positive
    phase: float = 0.0  # radians


class RandomWalk(_Model):
    """Slow wandering (tank level, ambient temperature); reflected inside [low, high] if set."""

    kind: Literal["random_walk"]
    start: float = 0.0
    step_std: Positive
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if (self.low is None) != (self.high is None):
            raise ValueError("set both low and high, or neither")
        if self.low is not None and self.high is not None:
            if not self.low <= self.start <= self.high:
                raise ValueError(f"start ({self.start}) must lie in [low, high]")
            if self.low >= self.high:
                raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class Constant(_Model):
    """A set point; give the sensor `noise_std` to make it look measured."""

    kind: Literal["constant"]
    value: float


Signal = Annotated[Gaussian | Uniform | Sine | RandomWalk | Constant, Field(discriminator="kind")]


class Anomaly(_Model):
    """One kind of anomaly injected into the test split of one sensor.

    `ratio` is the fraction of test rows inside these anomalies; `duration` the min/max
    rows of one anomaly; `magnitude` the min/max size in standard deviations of the
    sensor's normal (train) signal, with a random sign. `stuck` and `dropout` ignore it.
    """

    kind: AnomalyKind
    ratio: float = Field(ge=0, le=0.5)
    duration: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (1, 1)
    magnitude: tuple[NonNegative, NonNegative] = (4.0, 8.0)

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        for field in ("duration", "magnitude"):
            low, high = getattr(self, field)
            if low > high:
                raise ValueError(f"{field}: min ({low}) above max ({high})")
        return self


class Sensor(_Model):
    """One channel: a normal signal, white measurement noise on top, and its anomalies."""

    name: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    signal: Signal
    noise_std: NonNegative = 0.0
    anomalies: tuple[Anomaly, ...] = ()


class SyntheticConfig(_Model):
    """The whole generator: sizes, rate, start time, seed and the sensors (one per channel)."""

    rate_hz: Positive = 1.0
    train_rows: Annotated[int, Field(ge=1)]
    test_rows: Annotated[int, Field(ge=1)]
    entities: Annotated[int, Field(ge=1)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    # Naive times are taken as UTC, like every timestamp in the datasets.
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    sensors: tuple[Sensor, ...]

    @field_validator("start")
    @classmethod
    def _utc(cls, start: datetime) -> datetime:
        return start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        # Checked here rather than with min_length, which pydantic also reports, misleadingly,
        # when the tuple is only empty because every sensor in it failed validation.
        if not self.sensors:
            raise ValueError("sensors: at least one sensor is needed")
        names = [sensor.name for sensor in self.sensors]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate sensor names: {', '.join(duplicates)}")
        return self


def _where(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """`sensors[2] (flow).signal.sine.amplitud`: the index alone is hard to find in a file."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
            if loc[:i] == ("sensors",):
                try:
                    parts[-1] += f" ({raw['sensors'][item]['name']})"
                except (KeyError, IndexError, TypeError):
                    pass
        else:
            parts.append(item)
    return ".".join(parts) or "(top level)"


def read_config(source: Traversable) -> SyntheticConfig:
    """Parse and validate a config file; every problem is a `DatasetError` naming the file."""
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DatasetError(f"{source}: cannot read synthetic config: {error}") from error
    try:
        return SyntheticConfig.model_validate(raw)
    except ValidationError as error:
        problems = "\n".join(
            f"  {_where(e['loc'], raw)}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_url=False)
        )
        raise DatasetError(f"{source}: invalid synthetic config:\n{problems}") from None
