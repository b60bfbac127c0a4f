"""The CSV loader: round trips, timestamp forms, entities, labels and the rows it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from producers.datasets import CorruptRowError, DatasetError, DatasetMissingError, loader_class
from producers.datasets.csv_file import CsvLoader


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_round_trip_of_a_written_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-03-01", periods=10, freq="250ms", tz="UTC")
    frame = pd.DataFrame({"timestamp": times, "temp": rng.normal(size=10), "rpm": np.arange(10)})
    frame.loc[3, "temp"] = np.nan
    (tmp_path / "csv").mkdir()
    frame.to_csv(tmp_path / "csv" / "pump.csv", index=False)
    loader = loader_class("csv")(tmp_path)
    assert loader.entities() == ["pump"]
    data = loader.load("pump")
    assert data.channels == ("temp", "rpm")
    assert (len(data.train), len(data.test)) == (5, 5)
    values = np.vstack([data.train.values, data.test.values])
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, frame[["temp", "rpm"]].to_numpy(dtype=np.float64))
    expected = times.tz_localize(None).to_numpy().astype("datetime64[ns]")
    np.testing.assert_array_equal(
        np.concatenate([data.train.timestamps, data.test.timestamps]), expected
    )
    assert data.train.labels is None and data.test.labels is None


def test_epoch_seconds_and_iso_with_offsets_are_utc(tmp_path: Path) -> None:
    epoch = write(
        tmp_path / "epoch.csv",
        "timestamp,x\n1704067200,1\n1704067200.5,2\n1704067201,3\n1704067202,4\n",
    )
    iso = write(
        tmp_path / "iso.csv",
        "timestamp,x\n2024-01-01T00:00:00,1\n2024-01-01T01:00:00.5+01:00,2\n"
        "2024-01-01T00:00:01Z,3\n2024-01-01 00:00:02,4\n",
    )
    expected = np.array(
        [
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.5",
            "2024-01-01T00:00:01",
            "2024-01-01T00:00:02",
        ],
        dtype="datetime64[ns]",
    )
    for path in (epoch, iso):
        data = CsvLoader(tmp_path, path=path).load(path.stem)
        got = np.concatenate([data.train.timestamps, data.test.timestamps])
        assert got.dtype == np.dtype("datetime64[ns]")
        np.testing.assert_array_equal(got, expected)


def test_folder_gives_one_entity_per_file(tmp_path: Path) -> None:
    for name in ("b", "a"):
        write(tmp_path / "mine" / f"{name}.csv", "timestamp,x\n1,1\n2,2\n")
    write(tmp_path / "mine" / "notes.txt", "not data")
    loader = CsvLoader(tmp_path, path=tmp_path / "mine")
    assert loader.entities() == ["a", "b"]


def test_entity_column_splits_one_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "fleet.csv",
        "time;unit;x;label\n1;m1;1.5;0\n1;m2;9;0\n2;m1;2.5;1\n2;m2;8;0\n3;m1;3.5;1\n4;m1;4.5;0\n",
    )
    loader = CsvLoader(
        tmp_path,
        path=path,
        timestamp_column="time",
        entity_column="unit",
        label_column="label",
        separator=";",
        train_fraction=0.5,
    )
    assert loader.entities() == ["m1", "m2"]
    m1 = loader.load("m1")
    assert m1.channels == ("x",)
    assert m1.train.values[:, 0].tolist() == [1.5, 2.5]
    assert m1.test.values[:, 0].tolist() == [3.5, 4.5]
    assert m1.test.labels is not None and m1.test.labels.dtype == np.int8
    assert m1.test.labels.tolist() == [1, 0]
    assert m1.train.labels is not None and m1.train.labels.tolist() == [0, 1]
    assert loader.load("m2").test.values[:, 0].tolist() == [8.0]


def test_text_columns_are_not_channels_and_empty_cells_are_nan(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv", "timestamp,state,x,y\n1,run,1,\n2,idle,,NaN\n3,run,3,null\n4,run,4,4\n"
    )
    data = CsvLoader(tmp_path, path=path).load("t")
    assert data.channels == ("x", "y")
    assert np.isnan(data.train.values).tolist() == [[False, True], [True, True]]


@pytest.mark.parametrize(
    ("body", "line", "column"),
    [
        ("1,1\n\n2,oops\n3,3\n4,4\n5,5\n", 4, "x"),  # the blank line still counts
        ("1,1\n2,2\nlater,3\n4,4\n5,5\n", 4, "timestamp"),
    ],
)
def test_corrupt_cell_fails_or_is_skipped_with_its_line(
    tmp_path: Path, body: str, line: int, column: str
) -> None:
    path = write(tmp_path / "bad.csv", "timestamp,x\n" + body)
    with pytest.raises(CorruptRowError) as caught:
        CsvLoader(tmp_path, path=path).load("bad")
    assert (caught.value.file, caught.value.line) == (path, line)
    assert f"column {column!r}" in str(caught.value)
    skipping = CsvLoader(tmp_path, path=path, on_bad_row="skip")
    data = skipping.load("bad")
    assert len(data.train) + len(data.test) == 4
    assert [error.line for error in skipping.bad_rows.skipped] == [line]


def test_bad_label_is_a_corrupt_row(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "timestamp,x,label\n1,1,0\n2,2,2\n")
    with pytest.raises(CorruptRowError, match=r"l\.csv:3: column 'label'"):
        CsvLoader(tmp_path, path=path, label_column="label").load("l")


def test_missing_timestamp_column_names_file_and_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "nots.csv", "time,x\n1,1\n2,2\n")
    with pytest.raises(DatasetError, match=r"nots\.csv: no column 'timestamp'.*\['time', 'x'\]"):
        CsvLoader(tmp_path, path=path).load("nots")


def test_time_going_back_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "back.csv", "timestamp,unit,x\n1,a,1\n5,b,1\n2,a,2\n2,a,3\n")
    loader = CsvLoader(tmp_path, path=path, entity_column="unit")
    with pytest.raises(DatasetError, match=r"back\.csv:5: .*line 4"):
        loader.entities()


def test_no_files_is_reported_as_missing(tmp_path: Path) -> None:
    loader = CsvLoader(tmp_path)
    assert not loader.is_present()
    with pytest.raises(DatasetMissingError, match="csv"):
        loader.entities()


@pytest.mark.parametrize("name", ["label", "Label", "ANOMALY", "is_anomaly", "Attack"])
def test_a_column_named_like_a_label_is_the_label_never_a_channel(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "p.csv", f"timestamp,x,{name}\n1,1.5,0\n2,2.5,1\n3,3.5,1\n4,4.5,0\n")
    with caplog.at_level("INFO", logger="producers.datasets"):
        data = CsvLoader(tmp_path, path=path).load("p")
    assert data.channels == ("x",)
    assert data.train.labels is not None and data.train.labels.tolist() == [0, 1]
    assert data.test.labels is not None and data.test.labels.tolist() == [1, 0]
    assert f"column {name!r} is the label, not a channel" in caplog.text


def test_two_label_like_columns_are_refused_not_guessed(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "timestamp,x,label,attack\n1,1,0,0\n2,2,1,1\n")
    with pytest.raises(DatasetError, match=r"p\.csv: columns 'label', 'attack' could each be"):
        CsvLoader(tmp_path, path=path).load("p")
    # Naming one settles it; the other is then a channel, with a warning.
    data = CsvLoader(tmp_path, path=path, label_column="attack").load("p")
    assert data.channels == ("x", "label")
    assert data.test.labels is not None and data.test.labels.tolist() == [1]


def test_no_label_column_reads_a_label_named_column_as_a_channel(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "timestamp,x,label\n1,1,0\n2,2,1\n")
    data = CsvLoader(tmp_path, path=path, guess_label=False).load("p")
    assert data.channels == ("x", "label")
    assert data.train.labels is None and data.test.labels is None
