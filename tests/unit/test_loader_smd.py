"""The SMD loader on tiny files in SMD's own layout, and on the real dataset when present."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from producers.datasets import (
    CorruptRowError,
    DatasetError,
    DatasetMissingError,
    _text_rows,
    loader_class,
)
from producers.datasets._text_rows import Rows
from producers.datasets.smd import SmdLoader

MACHINES = ("machine-1-10", "machine-1-2", "machine-2-1")
ROWS = 6


def _row(i: int) -> str:
    # ch01 holds the row number, so a test can tell which rows survived.
    return ",".join([str(float(i))] + ["0.5"] * 37)


@pytest.fixture
def smd_root(tmp_path: Path) -> Path:
    base = tmp_path / "ServerMachineDataset"
    for part in ("train", "test", "test_label", "interpretation_label"):
        (base / part).mkdir(parents=True)
    for machine in MACHINES:
        rows = "\n".join(_row(i) for i in range(ROWS)) + "\n"
        (base / "train" / f"{machine}.txt").write_text(rows)
        (base / "test" / f"{machine}.txt").write_text(rows)
        (base / "test_label" / f"{machine}.txt").write_text("0\n0\n1\n1\n1\n0\n")
        (base / "interpretation_label" / f"{machine}.txt").write_text("2-5:1,38\n")
    return tmp_path


def _edit(root: Path, part: str, line: int, text: str) -> Path:
    path = root / "ServerMachineDataset" / part / "machine-1-2.txt"
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def test_registered_and_entities_sorted_naturally(smd_root: Path) -> None:
    assert loader_class("smd") is SmdLoader
    assert SmdLoader(smd_root).entities() == ["machine-1-2", "machine-1-10", "machine-2-1"]


def test_loads_splits_labels_and_root_causes(smd_root: Path) -> None:
    data = SmdLoader(smd_root).load("machine-1-2")
    assert data.channels[0] == "ch01" and len(data.channels) == 38
    assert data.train.labels is None and data.test.labels is not None
    assert data.test.labels.tolist() == [0, 0, 1, 1, 1, 0]
    # "2-5" is rows 2, 3, 4 (0-based, end-exclusive), the rows labelled 1.
    assert [(c.start, c.end, c.channels) for c in data.root_causes] == [(2, 4, ("ch01", "ch38"))]
    step = np.timedelta64(60, "s")
    assert data.test.timestamps[0] - data.train.timestamps[-1] == step
    assert (np.diff(data.test.timestamps) == step).all()


def test_corrupt_value_fails_naming_file_and_line(smd_root: Path) -> None:
    path = _edit(smd_root, "test", 4, _row(3).replace("0.5", "n/a", 1))
    with pytest.raises(CorruptRowError, match=r"machine-1-2\.txt:4: not a number") as error:
        SmdLoader(smd_root).load("machine-1-2")
    assert (error.value.file, error.value.line) == (path, 4)


@pytest.mark.parametrize(
    ("part", "text", "reason"),
    [
        ("test", _row(2) + ",1.0", "39 fields"),
        ("test", ",".join(["1.0"] * 37), "37 fields"),
        ("test_label", "2", "label must be 0 or 1"),
    ],
)
def test_skip_drops_row_and_label_together(
    smd_root: Path, part: str, text: str, reason: str
) -> None:
    _edit(smd_root, part, 3, text)
    with pytest.raises(CorruptRowError, match=f":3: {reason}"):
        SmdLoader(smd_root).load("machine-1-2")
    loader = SmdLoader(smd_root, on_bad_row="skip")
    data = loader.load("machine-1-2")
    assert data.test.values[:, 0].tolist() == [0.0, 1.0, 3.0, 4.0, 5.0]
    assert data.test.labels is not None and data.test.labels.tolist() == [0, 0, 1, 1, 0]
    assert len(data.test.timestamps) == 5 and len(data.train) == ROWS
    # Row 2 is gone, so the cause over original rows 2..4 now covers kept rows 2..3.
    assert [(c.start, c.end) for c in data.root_causes] == [(2, 3)]
    assert [e.line for e in loader.bad_rows.skipped] == [3]


def test_bad_interpretation_line_is_reported(smd_root: Path) -> None:
    path = smd_root / "ServerMachineDataset" / "interpretation_label" / "machine-1-2.txt"
    path.write_text("2-5:1\n4-9:2\n")
    with pytest.raises(CorruptRowError, match=r":2: range or dims out of bounds"):
        SmdLoader(smd_root).load("machine-1-2")
    assert len(SmdLoader(smd_root, on_bad_row="skip").load("machine-1-2").root_causes) == 1


def test_empty_cell_is_missing_not_corrupt(smd_root: Path) -> None:
    _edit(smd_root, "train", 2, _row(1).replace(",0.5", ",", 1))
    values = SmdLoader(smd_root).load("machine-1-2").train.values
    assert np.isnan(values[1, 1]) and np.isnan(values).sum() == 1


def test_missing_folder_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match="OmniAnomaly"):
        SmdLoader(tmp_path).entities()


def test_missing_label_file_and_unknown_entity(smd_root: Path) -> None:
    (smd_root / "ServerMachineDataset" / "test_label" / "machine-2-1.txt").unlink()
    with pytest.raises(DatasetMissingError, match="machine-2-1.txt not found"):
        SmdLoader(smd_root).load("machine-2-1")
    with pytest.raises(DatasetError, match="no entity"):
        SmdLoader(smd_root).load("machine-9-9")


def test_real_smd(real_data_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object) -> Rows:
        raise AssertionError("clean files must take the pandas fast path")

    # The line-by-line pass is ~7x slower; a clean machine must load without it.
    monkeypatch.setattr(_text_rows, "_read_slowly", slow)
    loader = SmdLoader(real_data_dir("ServerMachineDataset"))
    machines = loader.entities()
    assert len(machines) == 14 and machines[:2] == ["machine-1-2", "machine-1-3"]
    for machine in machines:
        data = loader.load(machine)
        labels = data.test.labels
        assert labels is not None and 0 < labels.mean() < 0.5
        assert data.train.values.shape[1] == data.test.values.shape[1] == 38
        times = np.concatenate([data.train.timestamps, data.test.timestamps])
        assert (np.diff(times) > np.timedelta64(0)).all()
        assert data.root_causes
        for cause in data.root_causes:
            assert 0 <= cause.start <= cause.end < len(data.test)
            assert set(cause.channels) <= set(data.channels)
            # Every published range lies inside labelled rows: the indexing is right.
            assert labels[cause.start : cause.end + 1].all()
