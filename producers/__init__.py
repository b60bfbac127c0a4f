"""Producers: replay datasets onto Kafka as readings."""
