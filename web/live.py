"""What the web view shows, kept in memory and bounded: recent scores per entity, alerts.

Each entity keeps its newest scores in a fixed ring of numpy arrays (about 40 bytes a
point), at most `max_entities` entities are kept (later ones are counted, not shown), and
resolved alerts are kept up to `recent_alerts` beside every open one. The Kafka feed writes,
the HTTP handlers read; one lock guards both. Listeners (the server-sent events hub) hear of
every change as plain dicts, ready to be sent as JSON.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from schemas import Alert, AlertState, Score

__all__ = ["EntityView", "LiveState", "Ring"]

Event = dict[str, Any]
Listener = Callable[[Event], None]
# Points in a sparkline: the newest scores over the threshold, enough for a shape.
SPARK_POINTS = 60
# Anomalous scores whose top channels are kept per entity, and channels charted of them.
CHANNEL_POINTS = 300
CHARTED_CHANNELS = 5


class Ring:
    """The newest `capacity` scores of one entity, oldest first when read."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seq = np.zeros(capacity, dtype=np.int64)
        self.time = np.zeros(capacity, dtype=np.float64)  # event time, epoch seconds
        self.score = np.zeros(capacity, dtype=np.float64)
        self.threshold = np.zeros(capacity, dtype=np.float64)
        self.anomaly = np.zeros(capacity, dtype=np.bool_)
        self.label = np.zeros(capacity, dtype=np.int8)  # -1: none, else the label
        self.size = 0
        self._next = 0

    def add(self, score: Score) -> None:
        i = self._next
        self.seq[i] = score.seq
        self.time[i] = score.event_time.timestamp()
        self.score[i] = score.score
        self.threshold[i] = score.threshold
        self.anomaly[i] = score.is_anomaly
        self.label[i] = -1 if score.label is None else score.label
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _order(self) -> npt.NDArray[np.int64]:
        start = (self._next - self.size) % self.capacity
        return (start + np.arange(self.size)) % self.capacity

    def columns(
        self, since_seq: int | None = None, last: int | None = None
    ) -> dict[str, list[Any]]:
        """The points, oldest first, as columns: after `since_seq`, or the `last` newest."""
        order = self._order()
        if since_seq is not None:
            order = order[self.seq[order] > since_seq]
        if last is not None:
            order = order[len(order) - min(last, len(order)) :]
        labels = self.label[order]
        return {
            "seq": self.seq[order].tolist(),
            "time": self.time[order].tolist(),
            "score": self.score[order].tolist(),
            "threshold": self.threshold[order].tolist(),
            "anomaly": self.anomaly[order].tolist(),
            "label": [None if v < 0 else int(v) for v in labels.tolist()],
        }


@dataclass
class EntityView:
    """One entity: its recent scores, model, and what it looks like now."""

    dataset: str
    entity: str
    ring: Ring
    detector: str = ""
    model_version: str = ""
    scored: int = 0
    anomalous: int = 0
    last_scored_at: datetime | None = None
    top_channels: list[dict[str, Any]] = field(default_factory=list)  # of the newest anomaly
    # (seq, {channel: contribution}) of the newest anomalous scores that named channels.
    anomalies: deque[tuple[int, dict[str, float]]] = field(
        default_factory=lambda: deque(maxlen=CHANNEL_POINTS)
    )

    def channel_series(self) -> dict[str, dict[str, list[Any]]]:
        """The channels named most often among the recent anomalies, each as the seqs it was
        named at and its contributions there (the entity page's second chart)."""
        named = Counter(c for _, top in self.anomalies for c in top)
        series: dict[str, dict[str, list[Any]]] = {}
        for channel, _ in named.most_common(CHARTED_CHANNELS):
            points = [(seq, top[channel]) for seq, top in self.anomalies if channel in top]
            series[channel] = {"seq": [q for q, _ in points], "value": [v for _, v in points]}
        return series

    def summary(self, open_alerts: int) -> dict[str, Any]:
        latest = self.ring.columns(last=SPARK_POINTS)
        anomalous_now = bool(latest["anomaly"][-1]) if latest["anomaly"] else False
        return {
            "dataset": self.dataset,
            "entity": self.entity,
            "detector": self.detector,
            "model_version": self.model_version,
            "score": latest["score"][-1] if latest["score"] else None,
            "threshold": latest["threshold"][-1] if latest["threshold"] else None,
            "seq": latest["seq"][-1] if latest["seq"] else None,
            "anomalous_now": anomalous_now,
            "open_alerts": open_alerts,
            "scored": self.scored,
            "anomalous": self.anomalous,
            "last_scored_at": None
            if self.last_scored_at is None
            else self.last_scored_at.isoformat(),
            "sparkline": [
                s / t if t > 0 else s
                for s, t in zip(latest["score"], latest["threshold"], strict=True)
            ],
            "top_channels": self.top_channels,
        }


class LiveState:
    """Every entity's recent scores and the alerts, for the pages and the API."""

    def __init__(
        self, points_per_entity: int = 1000, max_entities: int = 5000, recent_alerts: int = 1000
    ) -> None:
        self.points_per_entity = points_per_entity
        self.max_entities = max_entities
        self.recent_alerts = recent_alerts
        self._lock = threading.Lock()
        self._entities: dict[tuple[str, str], EntityView] = {}
        # alert id -> its latest event; open ones are never dropped, resolved ones are kept
        # in the order they resolved, up to `recent_alerts`.
        self._alerts: dict[str, Alert] = {}
        self._resolved: OrderedDict[str, None] = OrderedDict()
        self.entities_over_cap = 0
        self._listeners: list[Listener] = []

    # -- writing (the feed) -------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every change; returns the way to stop."""
        with self._lock:
            self._listeners.append(listener)

        def cancel() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return cancel

    def add_scores(self, scores: Iterable[Score]) -> None:
        events: dict[tuple[str, str], list[Score]] = {}
        with self._lock:
            for score in scores:
                view = self._view(score.dataset, score.entity)
                if view is None:
                    continue
                view.ring.add(score)
                view.scored += 1
                view.detector, view.model_version = score.detector, score.model_version
                view.last_scored_at = score.scored_at
                if score.is_anomaly:
                    view.anomalous += 1
                    if score.top_channels:
                        view.top_channels = [c.model_dump() for c in score.top_channels]
                        view.anomalies.append(
                            (score.seq, {c.channel: c.contribution for c in score.top_channels})
                        )
                events.setdefault((score.dataset, score.entity), []).append(score)
            listeners = list(self._listeners)
        for (dataset, entity), batch in events.items():
            event = {
                "type": "scores",
                "dataset": dataset,
                "entity": entity,
                "points": {
                    "seq": [s.seq for s in batch],
                    "time": [s.event_time.timestamp() for s in batch],
                    "score": [s.score for s in batch],
                    "threshold": [s.threshold for s in batch],
                    "anomaly": [s.is_anomaly for s in batch],
                    "label": [s.label for s in batch],
                    "top": [
                        {c.channel: c.contribution for c in s.top_channels}
                        if s.is_anomaly
                        else None
                        for s in batch
                    ],
                },
            }
            for listener in listeners:
                listener(event)

    def add_alert(self, alert: Alert) -> None:
        with self._lock:
            self._alerts[alert.alert_id] = alert
            if alert.state is AlertState.RESOLVED:
                self._resolved[alert.alert_id] = None
                self._resolved.move_to_end(alert.alert_id)
                while len(self._resolved) > self.recent_alerts:
                    old, _ = self._resolved.popitem(last=False)
                    self._alerts.pop(old, None)
            listeners = list(self._listeners)
        event = {"type": "alert", "alert": alert.model_dump(mode="json")}
        for listener in listeners:
            listener(event)

    def _view(self, dataset: str, entity: str) -> EntityView | None:
        key = (dataset, entity)
        view = self._entities.get(key)
        if view is None:
            if len(self._entities) >= self.max_entities:
                self.entities_over_cap += 1
                return None
            view = EntityView(dataset, entity, Ring(self.points_per_entity))
            self._entities[key] = view
        return view

    # -- reading (pages and API) --------------------------------------------------------

    def entities(
        self,
        dataset: str | None = None,
        match: str | None = None,
        anomalous_only: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many match, one page of their summaries), sorted by dataset and entity;
        `match` is a shell glob or a substring of the entity name."""
        with self._lock:
            open_by_entity: dict[tuple[str, str], int] = {}
            for alert in self._alerts.values():
                if alert.state is not AlertState.RESOLVED:
                    key = (alert.dataset, alert.entity)
                    open_by_entity[key] = open_by_entity.get(key, 0) + 1
            found = []
            for key in sorted(self._entities):
                view = self._entities[key]
                if dataset is not None and view.dataset != dataset:
                    continue
                if match and not (fnmatchcase(view.entity, match) or match in view.entity):
                    continue
                summary = view.summary(open_by_entity.get(key, 0))
                if anomalous_only and not (summary["anomalous_now"] or summary["open_alerts"]):
                    continue
                found.append(summary)
        return len(found), found[offset : offset + limit]

    def datasets(self) -> list[str]:
        with self._lock:
            return sorted({dataset for dataset, _ in self._entities})

    def scores(
        self, dataset: str, entity: str, since_seq: int | None = None, last: int | None = None
    ) -> dict[str, Any] | None:
        with self._lock:
            view = self._entities.get((dataset, entity))
            if view is None:
                return None
            open_alerts = sum(
                1
                for a in self._alerts.values()
                if a.dataset == dataset
                and a.entity == entity
                and a.state is not AlertState.RESOLVED
            )
            return {
                **view.summary(open_alerts),
                "points": view.ring.columns(since_seq, last),
                "channels": view.channel_series(),
            }

    def alerts(
        self,
        state: Literal["open", "resolved", "all"] = "all",
        dataset: str | None = None,
        entity: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """Newest first (by the time they started)."""
        with self._lock:
            chosen = [
                a
                for a in self._alerts.values()
                if (dataset is None or a.dataset == dataset)
                and (entity is None or a.entity == entity)
                and (state == "all" or (state == "open") == (a.state is not AlertState.RESOLVED))
            ]
        chosen.sort(key=lambda a: (a.start_time, a.alert_id), reverse=True)
        return [a.model_dump(mode="json") for a in chosen[:limit]]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "entities": len(self._entities),
                "entities_over_cap": self.entities_over_cap,
                "open_alerts": sum(
                    1 for a in self._alerts.values() if a.state is not AlertState.RESOLVED
                ),
                "alerts": len(self._alerts),
            }
