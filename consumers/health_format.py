"""`anomstream health` output: a compact table for people, one JSON document for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from consumers.health import DEFAULT_MAX_LAG, DatasetHealth, status_reasons

__all__ = ["all_ok", "format_json", "format_table", "status_text", "to_json"]

_HEADERS = (
    "DATASET",
    "STATUS",
    "READINGS/S",
    "SCORES/S",
    "ANOMALY",
    "LAG",
    "OPEN ALERTS",
    "DEAD LETTERS",
    "ENTITIES",
    "NEWEST MODEL",
    "TRAINED AT",
)
# Left-aligned columns; the numbers are right-aligned.
_TEXT_COLUMNS = {0, 1, 9, 10}


def status_text(health: DatasetHealth, max_lag: int = DEFAULT_MAX_LAG) -> str:
    """`ok`, or the reasons it is not, joined with `, `."""
    return ", ".join(status_reasons(health, max_lag)) or "ok"


def all_ok(healths: Sequence[DatasetHealth], max_lag: int = DEFAULT_MAX_LAG) -> bool:
    return all(not status_reasons(h, max_lag) for h in healths)


def _rate(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _row(health: DatasetHealth, max_lag: int) -> list[str]:
    ratio = health.anomaly_ratio
    models = health.models
    newest = "-"
    if models.newest_version is not None:
        newest = f"{models.newest_version} {models.newest_detector}"
    return [
        health.dataset,
        status_text(health, max_lag),
        _rate(health.readings_rate),
        _rate(health.scores_rate),
        "-" if ratio is None else f"{ratio:.1%}",
        "-" if health.lag is None else str(health.lag),
        str(len(health.open_alerts)),
        str(health.dead_letters),
        str(models.entities),
        newest,
        models.trained_at or "-",
    ]


def _idle_line(idle: Sequence[str], window_s: float) -> str:
    return (
        f"without a model or traffic in the last {window_s:g}s, not shown: {', '.join(idle)} "
        "(--dataset NAME checks one)"
    )


def format_table(
    healths: Sequence[DatasetHealth],
    window_s: float,
    max_lag: int = DEFAULT_MAX_LAG,
    idle: Sequence[str] = (),
) -> str:
    """One line per dataset under a header, columns aligned, then a note on the `idle`
    datasets left out; ends with a newline."""
    if not healths:
        if idle:
            return _idle_line(idle, window_s) + "\n"
        return "no datasets: no readings.<dataset> topic on the cluster\n"
    rows = [list(_HEADERS)] + [_row(h, max_lag) for h in healths]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i in _TEXT_COLUMNS else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"rates and ratios over the last {window_s:g}s; lag above {max_lag} is not ok")
    if idle:
        lines.append(_idle_line(idle, window_s))
    return "\n".join(lines) + "\n"


def to_json(health: DatasetHealth, max_lag: int = DEFAULT_MAX_LAG) -> dict[str, Any]:
    reasons = status_reasons(health, max_lag)
    models = health.models
    return {
        "dataset": health.dataset,
        "status": ", ".join(reasons) or "ok",
        "reasons": reasons,
        "window_s": health.window_s,
        "readings": health.readings,
        "readings_per_s": health.readings_rate,
        "scores": health.scores,
        "scores_per_s": health.scores_rate,
        "anomalies": health.anomalies,
        "anomaly_ratio": health.anomaly_ratio,
        "lag": health.lag,
        "open_alerts": list(health.open_alerts),
        "dead_letters": health.dead_letters,
        "models": {
            "entities": models.entities,
            "newest_version": models.newest_version,
            "newest_entity": models.newest_entity,
            "newest_detector": models.newest_detector,
            "trained_at": models.trained_at,
        },
    }


def format_json(
    healths: Sequence[DatasetHealth],
    group: str,
    max_lag: int = DEFAULT_MAX_LAG,
    idle: Sequence[str] = (),
) -> str:
    """One JSON document: overall `ok`, the group whose lag was measured, the datasets, and
    the `idle` ones left out (no model, no traffic in the window)."""
    document = {
        "ok": all_ok(healths, max_lag),
        "group": group,
        "max_lag": max_lag,
        "datasets": [to_json(h, max_lag) for h in healths],
        "idle": list(idle),
    }
    return json.dumps(document, indent=2) + "\n"
