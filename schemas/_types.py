"""Field types and the base configuration shared by every message model."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "MAX_TOP_CHANNELS",
    "SCHEMA_VERSION",
    "SLUG_PATTERN",
    "AlertState",
    "ChannelContribution",
    "ChannelName",
    "DatasetSlug",
    "FiniteFloat",
    "Label",
    "Message",
    "NonEmptyStr",
    "SeqNumber",
    "Timestamp",
]

SCHEMA_VERSION: Final = 1
# Datasets become part of topic names, so the slug stays inside Kafka's legal topic
# characters ([a-zA-Z0-9._-]) without dots, which would make `readings.<dataset>` ambiguous.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
MAX_TOP_CHANNELS = 10

DatasetSlug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
ChannelName = Annotated[str, StringConstraints(min_length=1)]
SeqNumber = Annotated[int, Field(ge=0)]
# Naive datetimes are rejected: a stream that mixes zones without saying so cannot be
# ordered or compared with scores produced elsewhere.
Timestamp = AwareDatetime
# NaN and infinity are already refused by `allow_inf_nan=False` in the model config; the
# alias documents the intent where the field is declared.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Label = Annotated[int, Field(ge=0, le=1)]

_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    allow_inf_nan=False,
    # NaN cannot be validated into a model, but `model_construct` skips validation;
    # writing null keeps such a value valid JSON instead of the non-standard `NaN`.
    ser_json_inf_nan="null",
    ser_json_bytes="base64",
    val_json_bytes="base64",
)


class Message(BaseModel):
    """Base of every top-level message: frozen, strict about extra keys, versioned."""

    model_config = _CONFIG

    schema_version: Literal[1] = SCHEMA_VERSION


class ChannelContribution(BaseModel):
    """How much one channel contributed to a score; versioned by the message holding it."""

    model_config = _CONFIG

    channel: ChannelName
    contribution: FiniteFloat


class AlertState(StrEnum):
    """Lifecycle of one incident on one entity."""

    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"
