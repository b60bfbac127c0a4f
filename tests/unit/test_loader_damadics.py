"""The DAMADICS loader on small day files in the Lublin data's own layout, and its fault table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _format_fixtures import (
    DAMADICS_TEST_DAYS,
    DAMADICS_TRAIN_DAYS,
    damadics_value,
    line_of,
    replace_line,
    write_damadics,
)

from producers.datasets import CorruptRowError, DatasetMissingError, damadics, loader_class
from producers.datasets.damadics import TAGS, DamadicsLoader
from producers.datasets.damadics_faults import FAULT_TYPES, FAULTS

# 9 Nov around fault 2 (actuator 1, f16, from second 57275); the end of 20 Nov, inside fault
# 13 (actuator 2, f17, 44400 to the end of the day). Every other day: seconds 0, 1, 2.
SECONDS = {
    "09112001": range(57270, 57281),
    "20112001": [86397, 86398, 86399],
}


@pytest.fixture
def damadics_root(tmp_path: Path) -> Path:
    write_damadics(tmp_path / "damadics", SECONDS)
    return tmp_path


def _day(root: Path, day: str) -> Path:
    return root / "damadics" / f"{day}.txt"


def test_registered_under_its_name() -> None:
    assert loader_class("damadics") is DamadicsLoader


def test_one_entity_per_actuator_with_its_tags(damadics_root: Path) -> None:
    loader = DamadicsLoader(damadics_root)
    assert loader.entities() == ["actuator1", "actuator2", "actuator3"]
    channels = [loader.load(e).channels for e in loader.entities()]
    assert [len(c) for c in channels] == [16, 6, 10]
    assert channels[0][:3] == ("P51_05", "P51_06", "T51_01")
    assert channels[1] == ("P57_03", "P57_04", "T57_03", "FC57_03PV", "FC57_03CV", "FC57_03X")
    assert sum(channels, ()) == TAGS


def test_values_and_row_counts(damadics_root: Path) -> None:
    data = DamadicsLoader(damadics_root).load("actuator3")
    assert len(data.train) == 3 * len(DAMADICS_TRAIN_DAYS)  # no 86,400 rows required
    assert len(data.test) == 11 + 3 + 3
    assert data.train.labels is None
    assert data.train.values[1, 0] == pytest.approx(damadics_value(1, 23))  # P74_00 is column 24
    assert data.test.values[0, 9] == pytest.approx(damadics_value(57270, 32))


def test_times_are_the_day_plus_its_seconds_in_cet_then_utc(damadics_root: Path) -> None:
    data = DamadicsLoader(damadics_root).load("actuator1")
    assert data.train.timestamps.dtype == np.dtype("datetime64[ns]")
    assert data.train.timestamps[0] == np.datetime64("2001-10-30T23:00:00")  # 31 Oct 00:00 CET
    assert data.train.timestamps[3] == np.datetime64("2001-10-31T23:00:00")  # 1 Nov
    assert data.test.timestamps[0] == np.datetime64("2001-11-09T14:54:30")  # second 57270
    assert data.test.timestamps[-1] == np.datetime64("2001-11-20T22:59:59")


def test_labels_are_the_entity_actuators_faults(damadics_root: Path) -> None:
    loader = DamadicsLoader(damadics_root)
    labels = {e: loader.load(e).test.labels for e in loader.entities()}
    assert all(v is not None and v.dtype == np.int8 for v in labels.values())
    nov9, nov17, nov20 = [0] * 5 + [1] * 6, [0] * 3, [0] * 3
    assert np.asarray(labels["actuator1"]).tolist() == nov9 + nov17 + nov20
    assert np.asarray(labels["actuator2"]).tolist() == [0] * 11 + nov17 + [1, 1, 1]
    assert np.asarray(labels["actuator3"]).tolist() == [0] * 17


def test_files_may_sit_in_the_folder_the_archives_unpack_to(tmp_path: Path) -> None:
    write_damadics(tmp_path / "damadics" / "Lublin_all_data")
    assert len(DamadicsLoader(tmp_path).load("actuator2").train) == 3 * len(DAMADICS_TRAIN_DAYS)


CORRUPTIONS: dict[str, Callable[[str], str]] = {
    "not a number": lambda line: line.replace("\t", "\tx", 1),
    "extra field": lambda line: line + "\t1.0",
    "missing field": lambda line: line.rsplit("\t", 1)[0],
    "second goes back": lambda line: "0" + line[line.index("\t") :],
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_row_fails_naming_file_and_line(
    damadics_root: Path, corrupt: Callable[[str], str]
) -> None:
    path = _day(damadics_root, "01112001")
    replace_line(path, 3, corrupt(line_of(path, 3)))
    with pytest.raises(CorruptRowError) as caught:
        DamadicsLoader(damadics_root).load("actuator1")
    assert (caught.value.file, caught.value.line) == (path, 3)


def test_skip_drops_the_row_and_its_label(damadics_root: Path) -> None:
    path = _day(damadics_root, "09112001")
    replace_line(path, 6, line_of(path, 6).replace("\t", "\t?", 1))  # second 57275
    loader = DamadicsLoader(damadics_root, on_bad_row="skip")
    test = loader.load("actuator1").test
    assert len(test) == 16
    assert np.asarray(test.labels).tolist()[:10] == [0] * 5 + [1] * 5
    assert test.timestamps[5] == np.datetime64("2001-11-09T14:54:36")
    assert [(e.file, e.line) for e in loader.bad_rows.skipped] == [(path, 6)]


def test_a_gap_is_logged_and_times_stay_right(
    damadics_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_damadics(damadics_root / "damadics", {**SECONDS, "05112001": [0, 1, 5]})
    with caplog.at_level(logging.WARNING):
        train = DamadicsLoader(damadics_root).load("actuator1").train
    assert "05112001.txt: 3 seconds of the day have no row" in caplog.text
    day5 = 3 * DAMADICS_TRAIN_DAYS.index("05112001")
    assert train.timestamps[day5 + 2] == np.datetime64("2001-11-04T23:00:05")


def test_fault_table_is_the_published_shape() -> None:
    assert [f.item for f in FAULTS] == list(range(1, 20))
    assert all(0 <= f.start <= f.end < 86_400 for f in FAULTS)
    assert {f.kind for f in FAULTS} == set(FAULT_TYPES)
    assert {f.actuator for f in FAULTS} == {1, 2, 3}
    # Only 30 Oct, outside both splits, has faults but is not a test day.
    assert {f.day for f in FAULTS} - set(DAMADICS_TEST_DAYS) == {"30102001"}


def test_missing_folder_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match="iair.mchtr.pw.edu.pl"):
        DamadicsLoader(tmp_path).load("actuator1")


def test_real_damadics(
    real_data_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(data: bytes) -> object:
        raise AssertionError("clean day files must take the pandas fast path")

    monkeypatch.setattr(damadics, "_read_slowly", slow)
    loader = DamadicsLoader(real_data_dir("damadics"))
    for entity in loader.entities():
        data = loader.load(entity)
        assert len(data.train) == 9 * 86_400
        assert len(data.test) == 3 * 86_400
        assert data.test.labels is not None and 0 < data.test.labels.mean() < 0.5
        times = np.concatenate([data.train.timestamps, data.test.timestamps])
        assert (np.diff(times) > np.timedelta64(0)).all()
