"""The sample names a Prometheus registry can expose: what dashboards and rules may query."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("_sum", "_count", ""),
}


def served(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can expose, whether or not a labelled child exists yet."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def anomstream_metrics() -> set[str]:
    """Every sample name the worker or the exporter serves."""
    from consumers.exporter_metrics import ExporterMetrics
    from stream_app.metrics import WorkerMetrics

    return served(WorkerMetrics().registry) | served(ExporterMetrics().registry)
