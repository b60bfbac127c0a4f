"""Incident-level figures of a replay: labelled incidents an alert found, and false alerts.

An incident is a maximal run of labelled-anomalous scores of one entity (consecutive seqs;
a missing seq or an unlabelled score ends it). It is found when some alert's [start_seq,
end_seq] (an open alert runs to the entity's last seq) overlaps it. A false alert overlaps
no incident. Entities without any labelled score are left out: nothing can be judged there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from consumers.report_data import EntitySeries

__all__ = ["IncidentCounts", "count_incidents", "entity_incidents", "incident_spans", "summarise"]

Span = tuple[int, int]  # first and last seq, both inclusive


@dataclass(frozen=True)
class IncidentCounts:
    """Incidents found and false alerts of one entity, or summed over entities."""

    incidents: int
    found: int
    alerts: int
    false_alerts: int
    hours: float  # of scored data: first to last event time, summed over entities

    def __add__(self, other: IncidentCounts) -> IncidentCounts:
        return IncidentCounts(
            incidents=self.incidents + other.incidents,
            found=self.found + other.found,
            alerts=self.alerts + other.alerts,
            false_alerts=self.false_alerts + other.false_alerts,
            hours=self.hours + other.hours,
        )

    @property
    def found_rate(self) -> float | None:
        return self.found / self.incidents if self.incidents else None

    @property
    def false_per_hour(self) -> float | None:
        """False alerts per entity-hour of data; None with no data time."""
        return self.false_alerts / self.hours if self.hours > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """The counts and the two rates (None where undefined): strict JSON as it is."""
        return {
            **dataclasses.asdict(self),
            "found_rate": self.found_rate,
            "false_per_hour": self.false_per_hour,
        }

    def lines(self) -> list[str]:
        rate = "" if self.found_rate is None else f" ({self.found_rate:.0%})"
        per_hour = "n/a" if self.false_per_hour is None else f"{self.false_per_hour:.2f}"
        return [
            f"labelled incidents with an overlapping alert: {self.found} of {self.incidents}{rate}",
            f"alerts that overlap no incident: {self.false_alerts} of {self.alerts} "
            f"({per_hour} per entity-hour of data, {self.hours:.2f} h)",
        ]


def incident_spans(seqs: npt.ArrayLike, labels: npt.ArrayLike) -> list[Span]:
    """(first, last) seq of each maximal run of label 1 over consecutive seqs."""
    seq = np.asarray(seqs, dtype=np.int64)
    hot = np.asarray(labels) == 1
    if not hot.any():
        return []
    # A run continues from one score to the next only when both are hot and seqs adjacent.
    joined = hot[1:] & hot[:-1] & (np.diff(seq) == 1)
    begins = np.flatnonzero(hot & ~np.concatenate([[False], joined]))
    ends = np.flatnonzero(hot & ~np.concatenate([joined, [False]]))
    return list(zip(seq[begins].tolist(), seq[ends].tolist(), strict=True))


def count_incidents(
    incidents: Sequence[Span], alerts: Sequence[Span], hours: float = 0.0
) -> IncidentCounts:
    """Found incidents and false alerts from spans, all (first, last) inclusive."""
    inc = np.asarray(incidents, dtype=np.int64).reshape(-1, 2)
    ale = np.asarray(alerts, dtype=np.int64).reshape(-1, 2)
    # overlap[i, j]: incident i and alert j share a seq.
    overlap = (ale[None, :, 0] <= inc[:, None, 1]) & (ale[None, :, 1] >= inc[:, None, 0])
    return IncidentCounts(
        incidents=len(inc),
        found=int(overlap.any(axis=1).sum()),
        alerts=len(ale),
        false_alerts=int((~overlap.any(axis=0)).sum()),
        hours=hours,
    )


def entity_incidents(series: EntitySeries) -> IncidentCounts | None:
    """One entity's figures; None when none of its scores carries a label."""
    if not (series.labels >= 0).any():
        return None
    last = int(series.seqs[-1])
    times = series.event_times
    hours = float(times.max() - times.min()) / 3600 if times.size else 0.0
    return count_incidents(
        incident_spans(series.seqs, series.labels),
        [alert.span(last) for alert in series.alerts],
        hours,
    )


def summarise(
    series: Mapping[str, EntitySeries],
) -> tuple[dict[str, IncidentCounts], IncidentCounts | None]:
    """Per labelled entity, and summed (None when no entity has labels)."""
    per_entity = {
        name: counts
        for name, one in series.items()
        if (counts := entity_incidents(one)) is not None
    }
    return per_entity, _sum(per_entity.values())


def _sum(counts: Iterable[IncidentCounts]) -> IncidentCounts | None:
    total: IncidentCounts | None = None
    for one in counts:
        total = one if total is None else total + one
    return total
