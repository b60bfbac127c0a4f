"""The demo's summary reads the real metric families of the worker and the exporter."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import generate_latest

from consumers.demo_summary import incident_lines, summarise
from consumers.exporter_metrics import ExporterMetrics
from consumers.report_incidents import count_incidents
from stream_app.metrics import WorkerMetrics


def test_the_summary_counts_one_dataset_and_computes_precision_and_recall() -> None:
    worker = WorkerMetrics()
    worker.consumed.labels("synthetic").inc(1000)
    worker.scored.labels("synthetic").inc(901)
    worker.scored.labels("other").inc(5)
    worker.dead_letters.labels("schema").inc(2)
    exporter = ExporterMetrics()
    for outcome, count in {"tp": 30, "fp": 10, "fn": 20, "tn": 841}.items():
        exporter.label_outcomes.labels("synthetic", outcome).inc(count)
    exporter.label_outcomes.labels("other", "tp").inc(99)
    exporter.alerts.labels("synthetic", "e1", "opened").inc(3)
    exporter.alerts.labels("synthetic", "e1", "resolved").inc(2)
    summary = summarise(
        generate_latest(worker.registry).decode(),
        generate_latest(exporter.registry).decode(),
        "synthetic",
    )
    assert (summary.opened, summary.resolved) == (3, 2)
    assert (summary.consumed, summary.scored, summary.dead_letters) == (1000, 901, 2)
    assert summary.outcomes == {"tp": 30, "fp": 10, "fn": 20, "tn": 841}
    assert summary.precision == 0.75 and summary.recall == 0.6
    assert any("precision          0.750" in line for line in summary.lines("synthetic"))


def test_the_summary_reads_the_reports_incident_figures(tmp_path: Path) -> None:
    counts = count_incidents([(1, 5), (20, 30), (50, 60)], [(2, 3), (25, 26), (80, 81)], 1.5)
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"dataset": "synthetic", "total": counts.as_dict()}))
    lines = incident_lines(path)
    assert lines[0].startswith("incidents alerted  2 of 3 (67%)")
    assert lines[1].startswith("false alerts       1 of 3 alerts overlap no incident (0.67 per")
    assert "n/a" in incident_lines(tmp_path / "missing.json")[0]
    path.write_text(json.dumps({"dataset": "synthetic", "total": None, "entities": {}}))
    assert incident_lines(path) == ["incidents          n/a (no labelled scores)"]
