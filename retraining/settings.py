"""The retrainer's settings, from `ANOMSTREAM_RETRAIN_*` environment variables (or options)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.tail_filter import parse_duration
from schemas.topics import check_dataset

__all__ = ["ENV_PREFIX", "RetrainSettings", "parse_time"]

ENV_PREFIX = "ANOMSTREAM_RETRAIN_"


def parse_time(text: str) -> datetime:
    """An ISO-8601 time (`2026-01-01T06:00:00Z`, `2026-01-01 06:00`); without a zone, UTC.

    >>> parse_time("2026-01-01T06:00").isoformat()
    '2026-01-01T06:00:00+00:00'
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"expected an ISO-8601 time such as 2026-01-01T06:00:00Z, got {text!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class RetrainSettings(BaseSettings):
    """What to retrain, on which stretch of the stream, and when a new model may replace the
    deployed one."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, populate_by_name=True)

    dataset: str | None = None
    # The readings to train on: the last `since` before each run, or from..to (Kafka
    # timestamps, i.e. when the readings reached the topic).
    since: timedelta = timedelta(hours=24)
    range_from: datetime | None = Field(default=None, validation_alias="ANOMSTREAM_RETRAIN_FROM")
    range_to: datetime | None = Field(default=None, validation_alias="ANOMSTREAM_RETRAIN_TO")
    # Run again this long after each run started; None: once.
    every: timedelta | None = None
    # The last share of each entity's kept readings judges the models; none of it is trained on.
    holdout: float = Field(default=0.2, gt=0, lt=1)
    # A new model may raise at most this share of readings more false alarms than the
    # deployed one on the held-out readings (0.01 = one percentage point).
    margin: float = Field(default=0.01, ge=0, le=1)
    # Entities with fewer readings left after the exclusions are not retrained.
    min_rows: int = Field(default=500, ge=10)
    # Alerts are read from this long before the range too: one opened earlier may cover it.
    alert_lookback: timedelta = timedelta(hours=24)
    # Train on readings inside alerts as well: the alerts were false alarms of an operating
    # point to accept (a persistent drift keeps an alert open over all of its readings).
    include_alerts: bool = False
    models_dir: Path = Field(
        default=Path("models"),
        validation_alias=AliasChoices("ANOMSTREAM_RETRAIN_MODELS_DIR", "ANOMSTREAM_MODELS_DIR"),
    )
    # How long reading a topic may go without a message before it stops short of its end.
    read_idle_s: float = Field(default=15.0, gt=0)

    @field_validator("dataset")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return None if value is None else check_dataset(value)

    @field_validator("since", "every", "alert_lookback", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("range_from", "range_to", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_time(value) if value.strip() else None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RetrainSettings:
        if self.range_from is not None and self.range_to is not None:
            if self.range_to <= self.range_from:
                raise ValueError("the range ends before it starts (to <= from)")
        if self.every is not None and self.range_from is not None:
            raise ValueError("a schedule (every) retrains on the last `since`, not a fixed from")
        return self

    def window(self, now: datetime) -> tuple[datetime, datetime | None]:
        """(start, end) of the readings for a run at `now`; end None: what the topic holds."""
        start = self.range_from if self.range_from is not None else now - self.since
        return start, self.range_to
