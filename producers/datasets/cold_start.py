"""Cold start: score a stream that has no training split, learning from its first rows.

Streaming benchmarks give a detector a probationary period: it learns from the first N
readings of the stream and is judged on the rest. `cold_start` re-splits each entity that
way, so `anomstream evaluate csv --cold-start N` scores one CSV the way a stream with no
history would be scored (its first windows reach back into the probation, as the stream
worker's do: `test_follows_train`). The stream is the test split, preceded by the training split
when that one is labelled too (a CSV), so no labelled row is left out of it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from producers.datasets.base import DatasetError, EntityData, RootCause, Split

__all__ = ["cold_start"]


def cold_start(data: EntityData, rows: int) -> EntityData:
    """`data` with train = the stream's first `rows` rows, test = the rest."""
    train, test = data.train, data.test
    offset = 0
    if train.labels is not None and test.labels is not None and len(train.values):
        offset = len(train.values)
        stream = Split(
            np.concatenate([train.values, test.values]),
            np.concatenate([train.timestamps, test.timestamps]),
            np.concatenate([train.labels, test.labels]),
        )
    else:
        stream = test
    if rows < 2 or rows >= len(stream.values) - 1:
        raise DatasetError(
            f"{data.dataset}/{data.entity}: --cold-start {rows} leaves nothing to score "
            f"in a stream of {len(stream.values)} rows"
        )
    labels = stream.labels
    new_train = Split(
        stream.values[:rows], stream.timestamps[:rows], None if labels is None else labels[:rows]
    )
    new_test = Split(
        stream.values[rows:], stream.timestamps[rows:], None if labels is None else labels[rows:]
    )
    # Root causes are rows of the old test split: move them to the new one, drop the
    # ones the probation period swallowed.
    shift = offset - rows
    causes = tuple(
        RootCause(max(c.start + shift, 0), c.end + shift, c.channels)
        for c in data.root_causes
        if c.end + shift >= 0
    )
    return dataclasses.replace(
        data, train=new_train, test=new_test, root_causes=causes, test_follows_train=True
    )
