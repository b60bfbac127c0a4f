"""The pure part of `anomstream report`: saved-run lines and messages into per-entity arrays."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from consumers.tail_filter import Item, TailFilter, decode_items
from schemas import Alert, AlertState, SchemaError, Score

__all__ = [
    "AlertSpan",
    "EntitySeries",
    "EntityStats",
    "collect",
    "parse_run_line",
    "read_runs",
]


def parse_run_line(line: bytes | str) -> list[Item]:
    """The messages one line of `anomstream tail ... --json` holds; SchemaError if none.

    The type comes from the keys: `alert_id` is an Alert, `first_seq` a ScoreBatch, any
    other object a Score.
    """
    data = line.encode() if isinstance(line, str) else line
    try:
        keys = json.loads(data)
    except ValueError:
        keys = {}  # decoding below reports what is wrong, as for a message on a topic
    if not isinstance(keys, dict):
        raise SchemaError("Score", "", "expected a JSON object")
    return decode_items("alerts" if "alert_id" in keys else "scores", data)


def read_runs(paths: Iterable[Path]) -> list[Item]:
    """Every message of the saved runs, in file order; ValueError naming file and line."""
    items: list[Item] = []
    for path in paths:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                items.extend(parse_run_line(line))
            except SchemaError as exc:
                first = str(exc).splitlines()[0]
                problem = f"{path}:{number}: not a Score, ScoreBatch or Alert: {first}"
                raise ValueError(problem) from None
    return items


@dataclass(frozen=True)
class AlertSpan:
    """One incident as its last message left it; `end_seq` is None while it is open."""

    alert_id: str
    start_seq: int
    end_seq: int | None
    peak_score: float
    state: AlertState

    def span(self, last_seq: int) -> tuple[int, int]:
        """(start, end) seqs, both inclusive; an open alert runs to `last_seq`."""
        end = self.end_seq if self.end_seq is not None else max(last_seq, self.start_seq)
        return self.start_seq, end


@dataclass(frozen=True)
class EntityStats:
    """The numbers of one entity's table row; precision/recall are None when undefined."""

    scores: int
    anomalous: int
    alerts: int
    labelled: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class EntitySeries:
    """One entity's scores sorted by seq; `labels` holds -1 where a score had no label;
    `event_times` are the readings' times in POSIX seconds."""

    entity: str
    seqs: npt.NDArray[np.int64]
    event_times: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    thresholds: npt.NDArray[np.float64]
    is_anomaly: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.int8]
    alerts: tuple[AlertSpan, ...]

    def stats(self) -> EntityStats:
        known = self.labels >= 0
        truth = self.labels[known] == 1
        predicted = self.is_anomaly[known]
        hits = int(np.sum(truth & predicted))
        flagged, positive = int(predicted.sum()), int(truth.sum())
        return EntityStats(
            scores=len(self.seqs),
            anomalous=int(self.is_anomaly.sum()),
            alerts=len(self.alerts),
            labelled=positive,
            precision=hits / flagged if flagged else None,
            recall=hits / positive if positive else None,
        )


def _series(entity: str, scores: dict[int, Score], alerts: dict[str, Alert]) -> EntitySeries:
    ordered = [scores[seq] for seq in sorted(scores)]
    spans = sorted(
        (
            AlertSpan(a.alert_id, a.start_seq, a.end_seq, a.peak_score, a.state)
            for a in alerts.values()
        ),
        key=lambda s: (s.start_seq, s.alert_id),
    )
    return EntitySeries(
        entity=entity,
        seqs=np.array([s.seq for s in ordered], dtype=np.int64),
        event_times=np.array([s.event_time.timestamp() for s in ordered], dtype=np.float64),
        scores=np.array([s.score for s in ordered], dtype=np.float64),
        thresholds=np.array([s.threshold for s in ordered], dtype=np.float64),
        is_anomaly=np.array([s.is_anomaly for s in ordered], dtype=np.bool_),
        labels=np.array([-1 if s.label is None else s.label for s in ordered], dtype=np.int8),
        alerts=tuple(spans),
    )


def collect(
    items: Iterable[Item], dataset: str, entity_globs: tuple[str, ...] = ()
) -> dict[str, EntitySeries]:
    """Per entity with scores, sorted by name: its scores (a repeated seq keeps the last
    one read) and its alerts (each alert_id as its last message left it)."""
    wanted = TailFilter(dataset=dataset, entity_globs=entity_globs)
    scores: dict[str, dict[int, Score]] = {}
    alerts: dict[str, dict[str, Alert]] = {}
    for item in items:
        if not wanted.accepts(item):
            continue
        if isinstance(item, Alert):
            alerts.setdefault(item.entity, {})[item.alert_id] = item
        else:
            scores.setdefault(item.entity, {})[item.seq] = item
    return {
        entity: _series(entity, scores[entity], alerts.get(entity, {})) for entity in sorted(scores)
    }
