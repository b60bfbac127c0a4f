"""Readers of the worker's outputs: the Prometheus exporter and the live tail."""
