"""The WADI loader on small files in WADI A1's own layout, and its shipped attack table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from _format_fixtures import (
    WADI_EMPTY,
    WADI_TAGS,
    line_of,
    replace_line,
    wadi_value,
    write_wadi,
)

from producers.datasets import CorruptRowError, DatasetMissingError, loader_class
from producers.datasets.wadi import WadiLoader
from producers.datasets.wadi_attacks import ATTACKS

# 25 Sep is day 25 (month first), 1 Oct a morning: both would break a day-first reading.
TRAIN_TIMES = [
    datetime(2017, 9, 25, 18, 0, 0),
    datetime(2017, 9, 25, 18, 0, 1),
    datetime(2017, 9, 25, 18, 0, 2),
    datetime(2017, 10, 1, 9, 0, 0),
]
# Around the edges of published windows, written here rather than read from the table.
TEST_ROWS = [
    (datetime(2017, 10, 9, 19, 24, 59), 0),
    (datetime(2017, 10, 9, 19, 25, 0), 1),  # attack 1 starts
    (datetime(2017, 10, 9, 19, 50, 16), 1),  # attack 1's last second
    (datetime(2017, 10, 9, 19, 50, 17), 0),
    (datetime(2017, 10, 11, 10, 54, 59), 0),
    (datetime(2017, 10, 11, 10, 55, 30), 1),  # attack 9, on 11 October
    (datetime(2017, 10, 11, 11, 58, 59), 0),
    (datetime(2017, 10, 11, 12, 0, 0), 1),  # attack 12 spans noon: 12:00:00.000 PM
    (datetime(2017, 10, 11, 12, 5, 0), 1),
    (datetime(2017, 10, 11, 12, 5, 1), 0),
]
TRAIN_FIRST_LINE = 5  # three lines of notes, the header, then rows
TEST_FIRST_LINE = 2


@pytest.fixture
def wadi_root(tmp_path: Path) -> Path:
    write_wadi(tmp_path / "wadi" / "WADI_14days.csv", TRAIN_TIMES, notes=True, padding_rows=2)
    write_wadi(tmp_path / "wadi" / "WADI_attackdata.csv", [t for t, _ in TEST_ROWS], notes=False)
    return tmp_path


def _train_file(root: Path) -> Path:
    return root / "wadi" / "WADI_14days.csv"


def test_registered_under_its_name() -> None:
    assert loader_class("wadi") is WadiLoader


def test_tags_lose_their_path_and_empty_tags_are_dropped(wadi_root: Path) -> None:
    data = WadiLoader(wadi_root).load("wadi")
    assert data.channels == tuple(t for t in WADI_TAGS if t not in WADI_EMPTY)
    assert len(data.channels) == 123
    assert data.channels[0] == "1_AIT_001_PV"
    column = data.channels.index("2_FIC_101_CO")
    assert data.train.values[2, column] == pytest.approx(
        wadi_value(2, WADI_TAGS.index("2_FIC_101_CO"))
    )
    assert data.test.values.shape == (len(TEST_ROWS), 123)


def test_padding_rows_at_the_end_are_dropped(wadi_root: Path) -> None:
    train = WadiLoader(wadi_root).load("wadi").train
    assert len(train) == len(TRAIN_TIMES)
    assert train.labels is None


def test_times_are_month_first_12_hour_singapore_time_in_utc(wadi_root: Path) -> None:
    data = WadiLoader(wadi_root).load("wadi")
    assert data.train.timestamps.dtype == np.dtype("datetime64[ns]")
    assert data.train.timestamps[0] == np.datetime64("2017-09-25T10:00:00")
    assert data.train.timestamps[3] == np.datetime64("2017-10-01T01:00:00")
    assert data.test.timestamps[7] == np.datetime64("2017-10-11T04:00:00")  # noon local


def test_labels_come_from_the_attack_windows(wadi_root: Path) -> None:
    labels = WadiLoader(wadi_root).load("wadi").test.labels
    assert labels is not None
    assert labels.dtype == np.int8
    assert labels.tolist() == [label for _, label in TEST_ROWS]


def test_times_without_milliseconds_are_read_too(wadi_root: Path) -> None:
    path = _train_file(wadi_root)
    replace_line(
        path, TRAIN_FIRST_LINE + 1, line_of(path, TRAIN_FIRST_LINE + 1).replace(".000 PM", " PM")
    )
    assert WadiLoader(wadi_root).load("wadi").train.timestamps[1] == np.datetime64(
        "2017-09-25T10:00:01"
    )


def test_a_corrupt_row_fails_naming_file_and_line_below_the_notes(wadi_root: Path) -> None:
    path = _train_file(wadi_root)
    line = TRAIN_FIRST_LINE + 1
    cells = line_of(path, line).split(",")
    cells[10] = "#VALUE!"
    replace_line(path, line, ",".join(cells))
    with pytest.raises(CorruptRowError) as caught:
        WadiLoader(wadi_root).load("wadi")
    assert (caught.value.file, caught.value.line) == (path, line)
    assert "#VALUE!" in str(caught.value)
    train = WadiLoader(wadi_root, on_bad_row="skip").load("wadi").train
    assert train.values[:, 0].tolist() == [wadi_value(r, 0) for r in (0, 2, 3)]


@pytest.mark.parametrize(
    "corrupt",
    [lambda line: line.rsplit(",", 5)[0], lambda line: line.replace("AM", "XM")],
    ids=["missing fields", "unreadable time"],
)
def test_test_rows_skipped_take_their_labels_along(
    wadi_root: Path, corrupt: Callable[[str], str]
) -> None:
    path = wadi_root / "wadi" / "WADI_attackdata.csv"
    line = TEST_FIRST_LINE + 5  # 11 Oct 10:55:30 AM, inside attack 9
    replace_line(path, line, corrupt(line_of(path, line)))
    with pytest.raises(CorruptRowError) as caught:
        WadiLoader(wadi_root).load("wadi")
    assert (caught.value.file, caught.value.line) == (path, line)
    test = WadiLoader(wadi_root, on_bad_row="skip").load("wadi").test
    assert test.labels is not None
    assert test.labels.tolist() == [label for i, (_, label) in enumerate(TEST_ROWS) if i != 5]


def test_attack_table_is_the_published_shape() -> None:
    assert len(ATTACKS) == 14  # 15 attacks, 3 and 4 in one window
    assert [a.number for a in ATTACKS][:4] == ["1", "2", "3-4", "5"]
    assert all(a.start <= a.end for a in ATTACKS)
    assert all(a.end < b.start for a, b in pairwise(ATTACKS))  # ordered, disjoint
    assert ATTACKS[0].start >= np.datetime64("2017-10-09T18:00:00")
    assert ATTACKS[-1].end < np.datetime64("2017-10-12T00:00:00")


def test_missing_folder_says_where_to_ask(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match="itrust.sutd.edu.sg"):
        WadiLoader(tmp_path).load("wadi")


def test_real_wadi(real_data_dir: Callable[[str], Path]) -> None:
    data = WadiLoader(real_data_dir("wadi")).load("wadi")
    assert len(data.channels) == 123
    assert not set(WADI_EMPTY) & set(data.channels)
    assert data.test.labels is not None
    assert 0.03 < data.test.labels.mean() < 0.1  # the windows cover about 6% of the 2 days
    for split in (data.train, data.test):
        assert (np.diff(split.timestamps) > np.timedelta64(0)).all()
