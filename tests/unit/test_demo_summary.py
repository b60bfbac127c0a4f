"""The demo's summary reads the real metric families of the worker and the exporter."""

from __future__ import annotations

from prometheus_client import generate_latest

from consumers.demo_summary import summarise
from consumers.exporter_metrics import ExporterMetrics
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
