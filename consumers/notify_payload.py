"""What `anomstream notify` sends: an alert event as Alertmanager's API v2 alert, or as the
Alert's JSON for a webhook. Pure functions of the event and the time; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas import Alert, AlertState

__all__ = ["AlertEvent", "alertmanager_alert", "top_channels_text", "webhook_headers"]


@dataclass(frozen=True)
class AlertEvent:
    """One record of the alerts topic: the Alert, its bytes as written, and its position."""

    alert: Alert
    raw: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int

    @property
    def event_id(self) -> str:
        """Unique per event and the same on every resend: its place in the topic."""
        return f"{self.topic}/{self.partition}/{self.offset}"


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def top_channels_text(alert: Alert) -> str:
    """The channels that contributed most, e.g. `flow 0.61, temp 0.223`; '' when none."""
    return ", ".join(f"{c.channel} {c.contribution:.3g}" for c in alert.top_channels)


def _annotations(alert: Alert) -> dict[str, str]:
    where = f"{alert.dataset}/{alert.entity}"
    top = top_channels_text(alert)
    verb = {"opened": "opened", "updated": "still open", "resolved": "resolved"}[alert.state]
    annotations = {
        "summary": (
            f"anomaly on {where}: peak score {alert.peak_score:.3g} "
            f"over threshold {alert.threshold:.3g}"
        ),
        "description": (
            f"incident {alert.alert_id} {verb}"
            + (f" ({alert.resolved_by})" if alert.resolved_by else "")
            + f"; {alert.detector} model {alert.model_version}"
            + (f"; top channels: {top}" if top else "")
        ),
        "alert_id": alert.alert_id,
        "state": alert.state.value,
        "start_time": _rfc3339(alert.start_time),
        "peak_score": repr(alert.peak_score),
        "threshold": repr(alert.threshold),
        "detector": alert.detector,
        "model_version": alert.model_version,
    }
    if top:
        annotations["top_channels"] = top
    if alert.end_time is not None:
        annotations["end_time"] = _rfc3339(alert.end_time)
    return annotations


def alertmanager_alert(
    alert: Alert,
    now: datetime,
    *,
    alert_name: str = "AnomstreamAnomaly",
    severity: str = "warning",
    open_ttl_s: float = 3600.0,
) -> dict[str, Any]:
    """One element of the body of Alertmanager's `POST /api/v2/alerts`.

    Alertmanager tells alerts apart by their labels, so one entity's incidents are one
    alert that fires and resolves in turn. It starts at the incident's start; an open one
    ends `open_ttl_s` after `now` (each later event renews it); a resolved one ends at the
    incident's end, or `now` if that lies ahead (clock skew), so that it shows as resolved.
    """
    starts = alert.start_time
    if alert.state is AlertState.RESOLVED and alert.end_time is not None:
        ends = max(starts, min(alert.end_time, now))
    else:
        ends = max(starts, now) + timedelta(seconds=open_ttl_s)
    return {
        "labels": {
            "alertname": alert_name,
            "dataset": alert.dataset,
            "entity": alert.entity,
            "severity": severity,
        },
        "annotations": _annotations(alert),
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(ends),
    }


def webhook_headers(event: AlertEvent) -> dict[str, str]:
    """Headers of a webhook POST; `Idempotency-Key` lets a receiver drop the rare resend
    (a crash between its answer and the commit of the offset)."""
    return {
        "Content-Type": "application/json",
        "Idempotency-Key": event.event_id,
        "X-Anomstream-Alert-Id": event.alert.alert_id,
        "X-Anomstream-Alert-State": event.alert.state.value,
    }
