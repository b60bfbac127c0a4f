"""The SKAB loader on tiny experiments in SKAB's own format, and on the real dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from producers.datasets import CorruptRowError, DatasetError, DatasetMissingError, loader_class
from producers.datasets.skab import CHANNELS, SkabLoader

HEADER = "datetime;" + ";".join(CHANNELS) + ";anomaly;changepoint"
ROWS = 450  # more than the 400 leading rows that make up train


def _line(i: int, anomaly: int = 0) -> str:
    second = np.datetime64("2020-03-09T10:14:33") + np.timedelta64(i, "s")
    stamp = str(second).replace("T", " ")
    # Accelerometer1RMS holds the row number, so a test can tell which rows survived.
    return f"{stamp};{i}.0;0.04;1.33;0.05;79.3;26.0;233.0;32.0;{anomaly}.0;0.0"


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.fixture
def skab_root(tmp_path: Path) -> Path:
    lines = [_line(i, anomaly=int(i >= 420)) for i in range(ROWS)]
    for name in ("valve1/0", "valve1/2", "valve1/10", "valve2/0", "other/1"):
        _write(tmp_path / "skab" / f"{name}.csv", lines)
    # A long normal recording with no labels: present in SKAB, not an entity.
    _write(tmp_path / "skab" / "anomaly-free" / "anomaly-free.csv", lines[:3])
    return tmp_path


def _corrupt(root: Path, line: int, text: str) -> Path:
    lines = [_line(i, anomaly=int(i >= 420)) for i in range(ROWS)]
    lines[line - 2] = text  # file line 1 is the header
    return _write(root / "skab" / "valve1" / "2.csv", lines)


def test_registered_and_entities_sorted_naturally(skab_root: Path) -> None:
    assert loader_class("skab") is SkabLoader
    names = ["other/1", "valve1/0", "valve1/2", "valve1/10", "valve2/0"]
    assert SkabLoader(skab_root).entities() == names


def test_train_is_the_leading_rows_and_test_the_whole_file(skab_root: Path) -> None:
    data = SkabLoader(skab_root).load("valve1/2")
    assert data.channels == CHANNELS and data.test.values.shape == (ROWS, 8)
    assert data.train.labels is None and len(data.train) == SkabLoader.train_rows
    np.testing.assert_array_equal(data.train.values, data.test.values[:400])
    assert data.test.labels is not None and data.test.labels.dtype == np.int8
    assert data.test.labels.sum() == ROWS - 420
    assert data.test.timestamps[0] == np.datetime64("2020-03-09T10:14:33", "ns")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_line(5).replace(";79.3;", ";hot;"), "not a number in field 6: 'hot'"),
        (_line(5) + ";0.0", "12 fields, expected 11"),
        (_line(5).rsplit(";", 1)[0], "10 fields, expected 11"),
        (_line(5).replace("2020-03-09", "2020-13-09"), "not a %Y-%m-%d %H:%M:%S time"),
        (_line(5).replace(";0.0;0.0", ";0.5;0.0"), "anomaly must be 0 or 1"),
    ],
)
def test_corrupt_row_fails_or_is_skipped(skab_root: Path, text: str, reason: str) -> None:
    path = _corrupt(skab_root, 7, text)
    with pytest.raises(CorruptRowError, match=f":7: {reason}") as error:
        SkabLoader(skab_root).load("valve1/2")
    assert (error.value.file, error.value.line) == (path, 7)
    data = SkabLoader(skab_root, on_bad_row="skip").load("valve1/2")
    kept = data.test.values[:, 0]
    assert len(kept) == ROWS - 1 and 5.0 not in kept and kept[5] == 6.0
    assert data.test.labels is not None and data.test.labels.sum() == ROWS - 420
    assert len(data.test.timestamps) == ROWS - 1


def test_first_corrupt_line_wins_whatever_its_kind(skab_root: Path) -> None:
    lines = [_line(i) for i in range(10)]
    lines[2] = lines[2].replace("2020", "20x0")  # a bad time, line 4
    lines[6] = lines[6].replace(";0.04;", ";x;")  # a bad number, line 8
    _write(skab_root / "skab" / "valve1" / "2.csv", lines)
    with pytest.raises(CorruptRowError, match=r"2\.csv:4: "):
        SkabLoader(skab_root).load("valve1/2")


def test_empty_cell_is_missing_not_corrupt(skab_root: Path) -> None:
    _corrupt(skab_root, 3, _line(1).replace(";26.0;", ";;"))
    values = SkabLoader(skab_root).load("valve1/2").test.values
    assert np.isnan(values[1, 5]) and np.isnan(values).sum() == 1


def test_wrong_header_and_missing_folder(skab_root: Path, tmp_path: Path) -> None:
    path = skab_root / "skab" / "other" / "1.csv"
    path.write_text(path.read_text().replace("Current", "Amps", 1))
    with pytest.raises(DatasetError, match="header is"):
        SkabLoader(skab_root).load("other/1")
    with pytest.raises(DatasetMissingError, match="waico/SKAB"):
        SkabLoader(tmp_path / "nowhere").entities()


def test_real_skab(real_data_dir: Callable[[str], Path]) -> None:
    loader = SkabLoader(real_data_dir("skab"))
    files = [p for g in ("valve1", "valve2", "other") for p in (loader.location / g).glob("*.csv")]
    entities = loader.entities()
    assert len(entities) == len(files) == 34
    assert entities[:2] == ["other/1", "other/2"] and "valve1/15" in entities
    for entity in entities:
        data = loader.load(entity)
        assert data.test.values.shape[1] == 8 and len(data.train) == 400
        assert data.test.labels is not None and 0 < data.test.labels.mean() < 0.5
        assert (np.diff(data.test.timestamps) > np.timedelta64(0)).all()
        assert not np.isnan(data.test.values).any()
