"""Which readings a retrain leaves out: those inside an entity's alerts, and labelled anomalies.

Pure: alert messages in, per-entity spans of seqs out, and a keep-mask over an entity's rows.
Spans are in seqs, the order the worker's alert tracker itself counts in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from schemas import Alert, AlertState

__all__ = ["AlertSpan", "Exclusion", "alert_spans", "exclude"]


@dataclass(frozen=True)
class AlertSpan:
    """One incident of one entity, as its latest message left it; `end_seq` None = still open."""

    alert_id: str
    start_seq: int
    end_seq: int | None

    def covers(self, seqs: npt.NDArray[np.int64], lead: int) -> npt.NDArray[np.bool_]:
        """Rows whose seq lies in the span, reaching `lead` seqs before its start: the windows
        that raised the alert held readings from that far back."""
        inside = seqs >= self.start_seq - lead
        if self.end_seq is not None:
            inside &= seqs <= self.end_seq
        return inside


def alert_spans(alerts: Iterable[Alert], dataset: str) -> dict[str, list[AlertSpan]]:
    """The dataset's incidents per entity: the last message of each alert id decides its span
    (opened and updated ones are open; a resolved one ends at its `end_seq`)."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if alert.dataset != dataset:
            continue
        seen = latest.get(alert.alert_id)
        # Once resolved, an alert stays resolved, whatever order its messages came in.
        if seen is None or seen.state is not AlertState.RESOLVED:
            latest[alert.alert_id] = alert
    spans: dict[str, list[AlertSpan]] = {}
    for alert in latest.values():
        end = alert.end_seq if alert.state is AlertState.RESOLVED else None
        spans.setdefault(alert.entity, []).append(AlertSpan(alert.alert_id, alert.start_seq, end))
    for entity_spans in spans.values():
        entity_spans.sort(key=lambda span: span.start_seq)
    return spans


@dataclass(frozen=True)
class Exclusion:
    """The rows to train on (`keep`), and how many were left out for each reason (a row
    inside an alert that is also labelled counts as in an alert)."""

    keep: npt.NDArray[np.bool_]
    in_alerts: int
    labelled: int


def exclude(
    seqs: npt.ArrayLike,
    labels: npt.ArrayLike,
    spans: Sequence[AlertSpan],
    lead: int = 0,
) -> Exclusion:
    """Leave out rows inside `spans` (reaching `lead` seqs before each start) and rows
    labelled 1; `labels` holds -1 where a reading had no label.

    >>> out = exclude([1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 1, -1], [AlertSpan("a", 3, 3)], lead=1)
    >>> out.keep.tolist(), out.in_alerts, out.labelled
    ([True, False, False, True, False, True], 2, 1)
    """
    seq_array = np.asarray(seqs, dtype=np.int64)
    label_array = np.asarray(labels, dtype=np.int64)
    if seq_array.shape != label_array.shape:
        raise ValueError(f"{seq_array.size} seqs but {label_array.size} labels")
    alerted = np.zeros(seq_array.shape, dtype=bool)
    for span in spans:
        alerted |= span.covers(seq_array, lead)
    anomalous = (label_array == 1) & ~alerted
    keep = ~(alerted | anomalous)
    return Exclusion(keep, int(alerted.sum()), int(anomalous.sum()))
