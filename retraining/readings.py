"""Readings and alerts from their topics' messages, gathered per entity for a retrain."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from schemas import Alert, Reading, ReadingBatch, SchemaError, decode

__all__ = ["EntityReadings", "decode_alerts", "gather_readings"]

log = logging.getLogger(__name__)


@dataclass
class EntityReadings:
    """One entity's readings as read: seqs, labels (-1 = none) and channel values by name."""

    entity: str
    seqs: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    values: list[dict[str, float | None]] = field(default_factory=list)

    def add(self, reading: Reading) -> None:
        self.seqs.append(reading.seq)
        self.labels.append(-1 if reading.label is None else reading.label)
        self.values.append(reading.values)

    def __len__(self) -> int:
        return len(self.seqs)

    def arrays(
        self, channels: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(seqs, labels, values rows x channels) in seq order, one row per seq (a reading
        sent twice counts once: the later copy); a channel a reading lacks is NaN."""
        latest = {seq: i for i, seq in enumerate(self.seqs)}
        order = [latest[seq] for seq in sorted(latest)]
        seqs = np.fromiter((self.seqs[i] for i in order), dtype=np.int64, count=len(order))
        labels = np.fromiter((self.labels[i] for i in order), dtype=np.int64, count=len(order))
        rows = np.full((len(order), len(channels)), np.nan)
        for row, i in enumerate(order):
            got = self.values[i]
            for col, name in enumerate(channels):
                value = got.get(name)
                if value is not None:
                    rows[row, col] = value
        return seqs, labels, rows


def gather_readings(values: Iterable[bytes], dataset: str) -> tuple[dict[str, EntityReadings], int]:
    """Per entity, the readings of `dataset` among the messages; and how many messages were
    skipped as undecodable (the worker dead-letters those; a retrain leaves them out)."""
    entities: dict[str, EntityReadings] = {}
    skipped = 0
    for value in values:
        try:
            readings = (
                decode(value, ReadingBatch).readings()
                if b'"first_seq"' in value
                else [decode(value, Reading)]
            )
        except SchemaError:
            skipped += 1
            continue
        for reading in readings:
            if reading.dataset != dataset:
                continue
            entities.setdefault(reading.entity, EntityReadings(reading.entity)).add(reading)
    if skipped:
        log.warning("%d messages were not readings and were left out", skipped)
    return entities, skipped


def decode_alerts(values: Iterable[bytes]) -> list[Alert]:
    """The alerts among the messages; anything else is skipped."""
    alerts = []
    for value in values:
        try:
            alerts.append(decode(value, Alert))
        except SchemaError:
            continue
    return alerts
