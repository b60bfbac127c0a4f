"""Offline training and evaluation: datasets (producers) joined with detectors."""
