"""The SWaT loader on small files in SWaT 2015's own layouts, as .csv and as .xlsx."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from _format_fixtures import (
    SWAT_TAGS,
    line_of,
    replace_line,
    set_xlsx_cell,
    swat_value,
    write_swat_csv,
    write_swat_xlsx,
)

from producers.datasets import CorruptRowError, DatasetMissingError, loader_class
from producers.datasets.swat import SwatLoader

# Three rows of warm-up, then three from the sixth hour on (22:00 is 16:00 + 6 h).
NORMAL_TIMES = [
    datetime(2015, 12, 22, 16, 0, 0),
    datetime(2015, 12, 22, 16, 0, 1),
    datetime(2015, 12, 22, 16, 0, 2),
    datetime(2015, 12, 22, 21, 59, 59),
    datetime(2015, 12, 22, 22, 0, 0),
    datetime(2015, 12, 22, 22, 0, 1),
]
# Across noon, and 2 January 2016 (2/1/2016), which month-first would read as 1 February.
ATTACK_TIMES = [
    datetime(2015, 12, 28, 11, 59, 58),
    datetime(2015, 12, 28, 11, 59, 59),
    datetime(2015, 12, 28, 12, 0, 0),
    datetime(2016, 1, 2, 14, 59, 59),
    datetime(2016, 1, 2, 15, 0, 0),
]
ATTACK_LABELS = ["Normal", "Attack", "A ttack", "Normal", "Attack"]
NORMAL_FIRST_LINE = 3  # an empty first line, then the header
ATTACK_FIRST_LINE = 2  # the header, then rows
Writer = Callable[..., Path]


def _write(root: Path, writer: Writer, suffix: str) -> tuple[Path, Path]:
    normal = writer(
        root / "swat" / f"SWaT_Dataset_Normal_v1{suffix}",
        NORMAL_TIMES,
        ["Normal"] * 6,
        note_line=True,
    )
    attack = writer(
        root / "swat" / f"SWaT_Dataset_Attack_v0{suffix}",
        ATTACK_TIMES,
        ATTACK_LABELS,
        note_line=False,
    )
    return normal, attack


@pytest.fixture(params=[".csv", ".xlsx"])
def swat_root(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    _write(tmp_path, write_swat_csv if request.param == ".csv" else write_swat_xlsx, request.param)
    return tmp_path


def test_registered_under_its_name() -> None:
    assert loader_class("swat") is SwatLoader


def test_reads_channels_values_and_labels(swat_root: Path) -> None:
    data = SwatLoader(swat_root, drop_warmup=False).load("swat")
    assert data.channels == SWAT_TAGS  # " MV101" and the like come back stripped
    assert data.train.values.shape == (6, 51)
    assert data.train.values[4, 7] == pytest.approx(swat_value(4, 7))
    assert data.train.labels is None
    assert data.test.labels is not None
    assert data.test.labels.dtype == np.int8
    assert data.test.labels.tolist() == [0, 1, 1, 0, 1]  # "A ttack" is an attack


def test_times_are_day_first_12_hour_singapore_time_in_utc(swat_root: Path) -> None:
    data = SwatLoader(swat_root, drop_warmup=False).load("swat")
    assert data.train.timestamps.dtype == np.dtype("datetime64[ns]")
    assert data.train.timestamps[0] == np.datetime64("2015-12-22T08:00:00")
    assert data.test.timestamps.tolist() == [
        np.datetime64("2015-12-28T03:59:58", "ns").item(),
        np.datetime64("2015-12-28T03:59:59", "ns").item(),
        np.datetime64("2015-12-28T04:00:00", "ns").item(),  # 12:00:00 PM is noon
        np.datetime64("2016-01-02T06:59:59", "ns").item(),
        np.datetime64("2016-01-02T07:00:00", "ns").item(),
    ]


def test_warmup_hours_dropped_unless_asked_to_keep(swat_root: Path) -> None:
    kept = SwatLoader(swat_root).load("swat").train
    assert len(kept) == 2
    assert kept.timestamps[0] == np.datetime64("2015-12-22T14:00:00")  # 22:00 local
    assert kept.values[:, 0].tolist() == [swat_value(4, 0), swat_value(5, 0)]
    assert len(SwatLoader(swat_root, drop_warmup=False).load("swat").train) == 6


def test_prefers_csv_and_finds_files_in_subfolders(tmp_path: Path) -> None:
    _write(tmp_path / "nested", write_swat_csv, ".csv")
    (tmp_path / "swat").mkdir()
    (tmp_path / "nested" / "swat").rename(tmp_path / "swat" / "Physical")
    (tmp_path / "swat" / "SWaT_Dataset_Normal_v1.xlsx").write_bytes(b"not a workbook")
    loader = SwatLoader(tmp_path, drop_warmup=False)
    assert loader.is_present()
    assert len(loader.load("swat").train) == 6


def test_xlsx_cells_excel_holds_as_dates_are_read_too(tmp_path: Path) -> None:
    normal, _ = _write(tmp_path, write_swat_xlsx, ".xlsx")
    set_xlsx_cell(normal, NORMAL_FIRST_LINE, 1, datetime(2015, 12, 22, 16, 0, 0))
    data = SwatLoader(tmp_path, drop_warmup=False).load("swat")
    assert data.train.timestamps[0] == np.datetime64("2015-12-22T08:00:00")


def test_empty_cells_are_missing_values(tmp_path: Path) -> None:
    normal, _ = _write(tmp_path, write_swat_csv, ".csv")
    cells = line_of(normal, NORMAL_FIRST_LINE + 1).split(",")
    cells[3] = ""
    replace_line(normal, NORMAL_FIRST_LINE + 1, ",".join(cells))
    values = SwatLoader(tmp_path, drop_warmup=False).load("swat").train.values
    assert np.isnan(values[1, 2])
    assert np.isnan(values).sum() == 1


def _corrupt_value(line: str) -> str:
    cells = line.split(",")
    cells[1] = "1.2.3"
    return ",".join(cells)


def test_a_corrupt_row_fails_naming_file_and_line(tmp_path: Path) -> None:
    normal, _ = _write(tmp_path, write_swat_csv, ".csv")
    line = NORMAL_FIRST_LINE + 2
    replace_line(normal, line, _corrupt_value(line_of(normal, line)))
    with pytest.raises(CorruptRowError) as caught:
        SwatLoader(tmp_path, drop_warmup=False).load("swat")
    assert caught.value.file == normal
    assert caught.value.line == line
    assert f"{normal}:{line}" in str(caught.value)


def test_skip_drops_the_corrupt_row(tmp_path: Path) -> None:
    normal, _ = _write(tmp_path, write_swat_csv, ".csv")
    line = NORMAL_FIRST_LINE + 2
    replace_line(normal, line, _corrupt_value(line_of(normal, line)))
    loader = SwatLoader(tmp_path, on_bad_row="skip", drop_warmup=False)
    train = loader.load("swat").train
    assert train.values[:, 0].tolist() == [swat_value(r, 0) for r in (0, 1, 3, 4, 5)]
    assert len(train.timestamps) == 5
    assert [e.line for e in loader.bad_rows.skipped] == [line]


CORRUPTIONS: dict[str, Callable[[str], str]] = {
    "extra field": lambda line: line + ",7",
    "missing fields": lambda line: line.rsplit(",", 2)[0],
    "unknown label": lambda line: line.rsplit(",", 1)[0] + ",Atack?",
    "bad timestamp": lambda line: " 32/13/2015 4:00:00 PM," + line.split(",", 1)[1],
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_attack_run_corrupt_rows_name_the_line_and_skip_keeps_labels_aligned(
    tmp_path: Path, corrupt: Callable[[str], str]
) -> None:
    _, attack = _write(tmp_path, write_swat_csv, ".csv")
    line = ATTACK_FIRST_LINE + 2  # the "A ttack" row
    replace_line(attack, line, corrupt(line_of(attack, line)))
    with pytest.raises(CorruptRowError) as caught:
        SwatLoader(tmp_path, drop_warmup=False).load("swat")
    assert (caught.value.file, caught.value.line) == (attack, line)
    test = SwatLoader(tmp_path, on_bad_row="skip", drop_warmup=False).load("swat").test
    assert test.labels is not None
    assert test.labels.tolist() == [0, 1, 0, 1]
    assert test.values[:, 0].tolist() == [swat_value(r, 0) for r in (0, 1, 3, 4)]


def test_xlsx_corrupt_cell_names_the_spreadsheet_row(tmp_path: Path) -> None:
    normal, _ = _write(tmp_path, write_swat_xlsx, ".xlsx")
    set_xlsx_cell(normal, NORMAL_FIRST_LINE + 1, 2, "Bad Input")
    with pytest.raises(CorruptRowError) as caught:
        SwatLoader(tmp_path, drop_warmup=False).load("swat")
    assert (caught.value.file, caught.value.line) == (normal, NORMAL_FIRST_LINE + 1)
    skipped = SwatLoader(tmp_path, on_bad_row="skip", drop_warmup=False).load("swat").train
    assert len(skipped) == 5


def test_missing_folder_says_where_to_ask(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match="itrust.sutd.edu.sg"):
        SwatLoader(tmp_path).load("swat")


def test_real_swat(real_data_dir: Callable[[str], Path]) -> None:
    data = SwatLoader(real_data_dir("swat")).load("swat")
    assert len(data.channels) == 51
    assert data.channels[:3] == ("FIT101", "LIT101", "MV101")
    assert data.test.labels is not None
    assert 0.05 < data.test.labels.mean() < 0.2  # about 12% of the attack run
    for split in (data.train, data.test):
        assert (np.diff(split.timestamps) > np.timedelta64(0)).all()
