"""Factories for the worker's output messages (Score, ScoreBatch, Alert) in tests.

Every field has a plain default, so a test names only what it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from schemas import Alert, AlertState, ChannelContribution, Score, ScoreBatch

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_score(
    *,
    dataset: str = "ds",
    entity: str = "e1",
    seq: int = 0,
    score: float = 2.0,
    threshold: float = 1.0,
    is_anomaly: bool | None = None,
    label: int | None = None,
    model_version: str = "v1",
    event_time: datetime | None = None,
    ingested_at: datetime | None = None,
    scored_at: datetime = T0,
) -> Score:
    """A Score; anomalous when score > threshold unless `is_anomaly` says otherwise."""
    return Score(
        dataset=dataset,
        entity=entity,
        seq=seq,
        event_time=event_time or T0 + timedelta(seconds=seq),
        score=score,
        threshold=threshold,
        is_anomaly=score > threshold if is_anomaly is None else is_anomaly,
        detector="pca",
        model_version=model_version,
        label=label,
        ingested_at=ingested_at,
        scored_at=scored_at,
    )


def make_score_batch(
    *,
    dataset: str = "ds",
    entity: str = "e1",
    first_seq: int = 0,
    scores: Sequence[float],
    is_anomaly: Sequence[bool] | None = None,
    labels: Sequence[int | None] | None = None,
    threshold: float = 1.0,
    model_version: str = "v1",
    scored_at: datetime = T0,
) -> ScoreBatch:
    """A ScoreBatch of consecutive seqs, a second apart from T0 + first_seq seconds."""
    return ScoreBatch(
        dataset=dataset,
        entity=entity,
        first_seq=first_seq,
        event_times=[T0 + timedelta(seconds=first_seq + i) for i in range(len(scores))],
        scores=list(scores),
        is_anomaly=[s > threshold for s in scores] if is_anomaly is None else list(is_anomaly),
        labels=None if labels is None else list(labels),
        threshold=threshold,
        detector="pca",
        model_version=model_version,
        scored_at=scored_at,
    )


def make_alert(
    *,
    state: AlertState | str = AlertState.OPENED,
    dataset: str = "ds",
    entity: str = "e1",
    start_seq: int = 10,
    end_seq: int | None = None,
    alert_id: str | None = None,
    peak: float = 3.0,
    threshold: float = 1.0,
    top_channels: Sequence[tuple[str, float]] = (),
    emitted_at: datetime = T0,
) -> Alert:
    """An Alert; a resolved one ends at `end_seq` (default start + 5), a second per seq."""
    state = AlertState(state)
    if state is AlertState.RESOLVED and end_seq is None:
        end_seq = start_seq + 5
    return Alert(
        alert_id=alert_id or f"{dataset}/{entity}/{start_seq}",
        dataset=dataset,
        entity=entity,
        state=state,
        start_seq=start_seq,
        end_seq=end_seq,
        start_time=T0,
        end_time=None if end_seq is None else T0 + timedelta(seconds=end_seq - start_seq),
        peak_score=peak,
        threshold=threshold,
        top_channels=[ChannelContribution(channel=c, contribution=v) for c, v in top_channels],
        detector="pca",
        model_version="v1",
        emitted_at=emitted_at,
    )
