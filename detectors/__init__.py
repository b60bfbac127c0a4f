"""Detectors: batched scoring of windows (numpy, scikit-learn, torch; never Kafka)."""
