"""`anomstream report` output: one PNG per entity, an index.html that links them, and
incidents.json with the incident-level figures (`consumers.report_incidents`)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.transforms as mtransforms  # noqa: E402
import numpy as np  # noqa: E402

from consumers.report_data import EntitySeries, EntityStats  # noqa: E402
from consumers.report_incidents import IncidentCounts, summarise  # noqa: E402
from evaluation.plots import label_runs  # noqa: E402 - the same label shading as the offline plots

__all__ = ["png_name", "render_entity", "write_incidents", "write_report"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def png_name(index: int, entity: str) -> str:
    """A file name that is safe and unique for any entity name."""
    return f"{index:03d}-{_UNSAFE.sub('_', entity)[:60] or 'entity'}.png"


def render_entity(path: Path, dataset: str, series: EntitySeries) -> Path:
    """Score over seq, threshold, labelled points, detections and alert spans, as a PNG."""
    seqs, scores = series.seqs, series.scores
    fig, axis = plt.subplots(figsize=(11, 3.6))
    axis.plot(seqs, scores, lw=0.7, color="black", label="score")
    axis.step(
        seqs, series.thresholds, where="post", color="tab:orange", lw=1, ls="--", label="threshold"
    )
    for start, end in label_runs(series.labels == 1):
        axis.axvspan(seqs[start] - 0.5, seqs[end - 1] + 0.5, color="tab:red", alpha=0.15, lw=0)
    hits = np.flatnonzero(series.is_anomaly)
    axis.scatter(seqs[hits], scores[hits], s=6, color="tab:blue", label="above threshold", zorder=3)
    top = mtransforms.blended_transform_factory(axis.transData, axis.transAxes)
    last_seq = int(seqs[-1])
    for alert in series.alerts:
        start, end = alert.span(last_seq)
        axis.axvspan(start, end, color="tab:purple", alpha=0.12, lw=0)
        axis.text(
            start,
            0.02,
            alert.alert_id,
            transform=top,
            fontsize=6,
            rotation=90,
            bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1},
        )
    axis.set_xlabel("seq; red = labelled anomaly, purple = alert")
    axis.set_ylabel("score")
    axis.legend(loc="upper right", fontsize=7, ncol=3)
    axis.set_title(f"{dataset} / {series.entity}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _row(entity: str, png: str, stats: EntityStats, incidents: IncidentCounts | None) -> str:
    cells = [
        stats.scores,
        stats.anomalous,
        stats.alerts,
        stats.labelled,
        _ratio(stats.precision),
        _ratio(stats.recall),
        "–" if incidents is None else f"{incidents.found} of {incidents.incidents}",
        "–" if incidents is None else incidents.false_alerts,
    ]
    numbers = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
    link = f'<a href="{html.escape(png)}">{html.escape(entity)}</a>'
    return f'<tr data-entity="{html.escape(entity)}"><td>{link}</td>{numbers}</tr>'


_HEAD = (
    "<tr><th>entity</th><th>scores</th><th>anomalous</th><th>alerts opened</th>"
    "<th>labelled anomalous</th><th>precision</th><th>recall</th>"
    "<th>incidents alerted</th><th>false alerts</th></tr>"
)
_STYLE = (
    "body{font-family:sans-serif}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    "td:first-child{text-align:left}img{max-width:100%}"
)


def write_incidents(
    path: Path, dataset: str, per_entity: Mapping[str, IncidentCounts], total: IncidentCounts | None
) -> Path:
    """The incident figures as strict JSON: `total` is null when no entity has labels."""
    data = {
        "dataset": dataset,
        "total": None if total is None else total.as_dict(),
        "entities": {name: counts.as_dict() for name, counts in per_entity.items()},
    }
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _incident_note(total: IncidentCounts | None) -> str:
    if total is None:
        return "<p>No labelled scores: incidents cannot be judged.</p>\n"
    return (
        "<p>Incidents are runs of labelled-anomalous scores; an alert finds one when their "
        "seq spans overlap. " + html.escape("; ".join(total.lines())) + ".</p>\n"
    )


def write_report(out_dir: Path, dataset: str, series: Mapping[str, EntitySeries]) -> Path:
    """Write one PNG per entity, index.html and incidents.json into `out_dir`; returns the
    HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    per_entity, total = summarise(series)
    write_incidents(out_dir / "incidents.json", dataset, per_entity, total)
    rows, images = [], []
    for index, (entity, one) in enumerate(series.items()):
        png = png_name(index, entity)
        render_entity(out_dir / png, dataset, one)
        rows.append(_row(entity, png, one.stats(), per_entity.get(entity)))
        name = html.escape(entity)
        images.append(f'<h2 id="e{index}">{name}</h2><img src="{html.escape(png)}" alt="{name}">')
    title = html.escape(f"anomstream report: {dataset}")
    page = (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>\n"
        f"<p>Precision and recall are point-wise (is_anomaly against label), over the "
        f"labelled scores; – where undefined.</p>\n{_incident_note(total)}<table>{_HEAD}\n"
        + "\n".join(rows)
        + "\n</table>\n"
        + "\n".join(images)
        + "\n</body></html>\n"
    )
    index_path = out_dir / "index.html"
    index_path.write_text(page, encoding="utf-8")
    return index_path
