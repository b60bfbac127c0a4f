"""JSON lines and Parquet through the CSV loader: typed cells, the same bad rows, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomstream.cli import main
from producers.datasets import CorruptRowError, DatasetError
from producers.datasets.csv_file import CsvLoader
from schemas import Reading, decode

T0 = np.datetime64("2024-03-01T00:00:00", "ns")


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def fleet(rows: int = 6) -> pd.DataFrame:
    """Two units' rows interleaved, with typed times (UTC), a float and an int channel."""
    times = pd.date_range("2024-03-01", periods=rows, freq="1s", tz="UTC")
    return pd.DataFrame(
        {
            "time": times.repeat(2),
            "unit": [7, 8] * rows,
            "temp": np.arange(2 * rows) * 0.5,
            "rpm": np.arange(2 * rows, dtype=np.int64),
            "label": [0, 1] * rows,
        }
    )


def test_jsonl_reads_numbers_strings_times_and_missing_keys(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "pump.jsonl",
        [
            '{"timestamp": "2024-03-01T00:00:00Z", "temp": 1.5, "state": "run", "flow": "2", '
            '"is_anomaly": 0}',
            "",  # blank lines are skipped, and still counted
            '{"timestamp": "2024-03-01T01:00:01+01:00", "temp": null, "state": "run", '
            '"is_anomaly": 0}',
            '{"timestamp": "2024-03-01T00:00:02", "temp": 3.5, "flow": 4, "is_anomaly": 1}',
            '{"timestamp": "2024-03-01T00:00:03", "temp": 4.5, "flow": 5, "is_anomaly": 0}',
        ],
    )
    data = CsvLoader(tmp_path, path=path, train_fraction=0.5).load("pump")

    assert data.channels == ("temp", "flow")
    values = np.vstack([data.train.values, data.test.values])
    np.testing.assert_array_equal(
        np.isnan(values), [[False, False], [True, True], [False, False], [False, False]]
    )
    assert values[3].tolist() == [4.5, 5.0]
    times = np.concatenate([data.train.timestamps, data.test.timestamps])
    np.testing.assert_array_equal(times, T0 + np.arange(4) * np.timedelta64(1, "s"))
    assert data.test.labels is not None and data.test.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        ('{"timestamp": 3, "x": "oops"}', "column 'x': 'oops' is not a finite number"),
        ('{"timestamp": "yesterday", "x": 3}', "column 'timestamp': 'yesterday' is neither"),
        ('{"x": 3}', "column 'timestamp': nan is neither"),
    ],
)
def test_a_bad_jsonl_line_fails_or_is_skipped_with_its_line_number(
    tmp_path: Path, line: str, why: str
) -> None:
    lines = [f'{{"timestamp": {t}, "x": {t}.5}}' for t in range(1, 7)]
    lines.insert(3, "")
    lines[4] = line  # line 5 of the file; the blank line above counts
    path = write_lines(tmp_path / "bad.jsonl", lines)

    with pytest.raises(CorruptRowError) as caught:
        CsvLoader(tmp_path, path=path).load("bad")
    assert (caught.value.file, caught.value.line) == (path, 5)
    assert why in caught.value.reason

    skipping = CsvLoader(tmp_path, path=path, on_bad_row="skip")
    data = skipping.load("bad")
    assert len(data.train) + len(data.test) == 5
    assert [error.line for error in skipping.bad_rows.skipped] == [5]


def pump(rows: int = 12) -> pd.DataFrame:
    """One machine's rows a second apart, naive (UTC) times in microseconds as Arrow has them."""
    times = pd.date_range("2024-03-01", periods=rows, freq="1s").astype("datetime64[us]")
    return pd.DataFrame(
        {"time": times, "temp": np.arange(rows) * 0.5, "label": np.zeros(rows, dtype=np.int64)}
    )


def test_parquet_keeps_types_and_splits_entities_named_by_numbers(tmp_path: Path) -> None:
    path = tmp_path / "fleet.parquet"
    fleet().to_parquet(path)

    loader = CsvLoader(tmp_path, path=path, timestamp_column="time", entity_column="unit")

    assert loader.entities() == ["7", "8"]
    seven = loader.load("7")
    assert seven.channels == ("temp", "rpm")
    assert seven.train.values.tolist() == [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]
    assert seven.test.timestamps[0] == T0 + np.timedelta64(3, "s")
    assert seven.test.labels is not None and seven.test.labels.tolist() == [0, 0, 0]
    eight = loader.load("8")
    assert eight.test.labels is not None and eight.test.labels.tolist() == [1, 1, 1]


def test_parquet_indexed_by_time_and_naive_times_are_utc(tmp_path: Path) -> None:
    path = tmp_path / "pump.parquet"
    pump(6).set_index("time").to_parquet(path)

    data = CsvLoader(tmp_path, path=path, timestamp_column="time").load("pump")

    np.testing.assert_array_equal(data.train.timestamps, T0 + np.arange(3) * np.timedelta64(1, "s"))
    assert data.channels == ("temp",)


def test_bad_parquet_cells_are_named_by_row(tmp_path: Path) -> None:
    frame = pump()
    frame.loc[3, "temp"] = np.inf
    frame.loc[5, "label"] = 2
    frame.loc[8, "time"] = pd.NaT
    path = tmp_path / "pump.parquet"
    frame.to_parquet(path)

    with pytest.raises(CorruptRowError, match=r"pump\.parquet:4: column 'temp': inf is not"):
        CsvLoader(tmp_path, path=path, timestamp_column="time").load("pump")

    skipping = CsvLoader(tmp_path, path=path, timestamp_column="time", on_bad_row="skip")
    data = skipping.load("pump")
    assert [(e.line, e.reason.split(":")[0]) for e in skipping.bad_rows.skipped] == [
        (4, "column 'temp'"),
        (6, "column 'label'"),
        (9, "column 'time'"),
    ]
    assert len(data.train) + len(data.test) == 12 - 3


def test_time_going_back_in_parquet_names_rows(tmp_path: Path) -> None:
    frame = fleet(3).drop(columns="unit")
    path = tmp_path / "back.parquet"
    frame.to_parquet(path)

    with pytest.raises(DatasetError, match=r"back\.parquet:2: .* on row 1; times must increase"):
        CsvLoader(tmp_path, path=path, timestamp_column="time").load("back")


def test_a_folder_mixes_formats_one_entity_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.csv").write_text("timestamp,x\n1,1\n2,2\n")
    write_lines(folder / "b.jsonl", ['{"timestamp": 1, "x": 1}', '{"timestamp": 2, "x": 2}'])
    pd.DataFrame({"timestamp": [1, 2], "x": [1.0, 2.0]}).to_parquet(folder / "c.parquet")
    (folder / "notes.txt").write_text("not data")

    loader = CsvLoader(tmp_path, path=folder)

    assert loader.entities() == ["a", "b", "c"]
    assert [loader.load(name).test.values.tolist() for name in "abc"] == [[[2.0]]] * 3

    write_lines(folder / "a.ndjson", ['{"timestamp": 1, "x": 1}', '{"timestamp": 2, "x": 2}'])
    with pytest.raises(DatasetError, match=r"entity 'a' is in both .*a\.csv and .*a\.ndjson"):
        CsvLoader(tmp_path, path=folder).entities()


def test_an_unreadable_parquet_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")

    with pytest.raises(DatasetError, match=r"broken\.parquet: cannot read as Parquet"):
        CsvLoader(tmp_path, path=path).load("broken")


def test_replay_csv_takes_parquet_and_jsonl_by_extension(tmp_path: Path) -> None:
    fleet().to_parquet(tmp_path / "fleet.parquet")
    lines = [json.dumps({"time": 1_709_251_200 + t, "temp": t / 2}) for t in range(6)]
    write_lines(tmp_path / "pump.jsonl", lines)
    for name, extra in (("fleet.parquet", ["--entity-column", "unit"]), ("pump.jsonl", [])):
        result = subprocess.run(
            [sys.executable, "-m", "anomstream", "--log-level", "WARNING", "replay", "csv",
             "--path", str(tmp_path / name), "--timestamp-column", "time", *extra,
             "--dry-run", "--max", "--no-progress"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        readings = [decode(line, Reading) for line in result.stdout.splitlines()]
        assert len(readings) == (6 if name == "fleet.parquet" else 3)
        assert all(r.dataset == "csv" for r in readings)
        assert readings[0].event_time.isoformat() == "2024-03-01T00:00:03+00:00"


def test_train_takes_a_jsonl_file(tmp_path: Path) -> None:
    lines = [
        json.dumps({"timestamp": t, "temp": (t % 7) * 0.5, "flow": (t % 5) * 1.5, "label": 0})
        for t in range(200)
    ]
    data = write_lines(tmp_path / "pump.jsonl", lines)
    argv = [
        *("train", "csv", "--path", str(data), "--detector", "pca", "--window", "10"),
        *("--no-progress", "--models-dir", str(tmp_path / "models")),
    ]

    assert main(argv) == 0

    meta = json.loads((tmp_path / "models/csv/pump/pca/v1/meta.json").read_text())
    assert meta["channels"] == ["temp", "flow"]
