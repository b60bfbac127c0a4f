"""Cold start: each stream's first N rows train, the rest is scored; root causes follow."""

from __future__ import annotations

import numpy as np
import pytest

from producers.datasets.base import DatasetError, EntityData, RootCause, Split
from producers.datasets.cold_start import cold_start


def split(start: int, rows: int, labelled: bool) -> Split:
    values = np.arange(start, start + rows, dtype=np.float64)[:, None]
    times = (np.arange(start, start + rows) * 10**9).astype("datetime64[ns]")
    labels = (np.arange(start, start + rows) % 7 == 0).astype(np.int8) if labelled else None
    return Split(values, times, labels)


def entity(train_labelled: bool) -> EntityData:
    return EntityData(
        "csv", "e", ("x",), split(0, 100, train_labelled), split(100, 50, True),
        root_causes=(RootCause(5, 9, ("x",)), RootCause(40, 45, ("x",))),
    )  # fmt: skip


def test_a_labelled_training_split_is_part_of_the_stream() -> None:
    data = cold_start(entity(train_labelled=True), 30)
    assert data.train.values[:, 0].tolist() == list(range(30))
    assert data.test.values[:, 0].tolist() == list(range(30, 150))
    assert data.test.labels is not None and data.test.labels.sum() == sum(
        1 for i in range(30, 150) if i % 7 == 0
    )
    # Old test rows 5..9 are stream rows 105..109, new test rows 75..79.
    assert [(c.start, c.end) for c in data.root_causes] == [(75, 79), (110, 115)]


def test_an_unlabelled_training_split_is_left_out_and_probation_swallows_causes() -> None:
    data = cold_start(entity(train_labelled=False), 20)
    assert data.train.values[:, 0].tolist() == list(range(100, 120))
    assert data.test.values[:, 0].tolist() == list(range(120, 150))
    assert [(c.start, c.end) for c in data.root_causes] == [(20, 25)]


def test_a_probation_longer_than_the_stream_is_refused() -> None:
    with pytest.raises(DatasetError, match="leaves nothing to score"):
        cold_start(entity(train_labelled=False), 49)
