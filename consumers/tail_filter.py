"""The pure part of the live tail: start positions, durations, filters and decoding."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Literal, TypeAlias

from schemas import Alert, AlertState, SchemaError, Score, ScoreBatch, decode

__all__ = [
    "Item",
    "Kind",
    "StartPosition",
    "TailFilter",
    "decode_items",
    "parse_duration",
    "parse_start",
]

Kind: TypeAlias = Literal["alerts", "scores"]
Item: TypeAlias = Alert | Score

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> timedelta:
    """`30s`, `10m`, `2h`, `1d`, `500ms` or a sum such as `1h30m`; positive, else ValueError.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    spec = text.strip().lower()
    position, seconds = 0, 0.0
    for match in _PART.finditer(spec):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not spec or position != len(spec):
        raise ValueError(f"expected a duration such as 30s, 10m, 2h, 1d or 1h30m, got {text!r}")
    if seconds <= 0:
        raise ValueError(f"the duration must be positive, got {text!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class StartPosition:
    """Where reading starts in every partition: the end, the start, or `ago` before now."""

    kind: Literal["latest", "beginning", "ago"]
    ago: timedelta | None = None


def parse_start(text: str) -> StartPosition:
    """`latest`, `beginning`, or a duration ago (`10m` = messages of the last ten minutes)."""
    if text == "latest":
        return StartPosition("latest")
    if text == "beginning":
        return StartPosition("beginning")
    try:
        return StartPosition("ago", parse_duration(text))
    except ValueError:
        raise ValueError(
            f"expected latest, beginning or a duration ago such as 10m, 2h, 30s; got {text!r}"
        ) from None


@dataclass(frozen=True)
class TailFilter:
    """Which alerts or scores to show; an empty field lets everything through.

    `min_score` compares with a score's `score` and with an alert's `peak_score`; `states`
    applies to alerts only.
    """

    dataset: str | None = None
    entity_globs: tuple[str, ...] = ()
    min_score: float | None = None
    states: frozenset[AlertState] = frozenset()

    def _where(self, dataset: str, entity: str) -> bool:
        if self.dataset is not None and dataset != self.dataset:
            return False
        return not self.entity_globs or any(fnmatchcase(entity, g) for g in self.entity_globs)

    def _enough(self, value: float) -> bool:
        return self.min_score is None or value >= self.min_score

    def accepts(self, item: Item) -> bool:
        if not self._where(item.dataset, item.entity):
            return False
        if isinstance(item, Alert):
            return (not self.states or item.state in self.states) and self._enough(item.peak_score)
        return self._enough(item.score)


def decode_items(kind: Kind, value: bytes) -> list[Item]:
    """The alert, or the scores, one message carries; SchemaError when it is neither."""
    if kind == "alerts":
        return [decode(value, Alert)]
    # A ScoreBatch is the only score message with `first_seq`; trying the likelier model
    # first keeps the error of the other one out of the way.
    batch = b'"first_seq"' in value
    try:
        if batch:
            return list(decode(value, ScoreBatch).expand())
        return [decode(value, Score)]
    except SchemaError:
        if batch:
            return [decode(value, Score)]
        return list(decode(value, ScoreBatch).expand())
