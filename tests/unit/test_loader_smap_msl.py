"""The SMAP and MSL loaders on tiny telemanom-format files, and on the real dataset."""

from __future__ import annotations

import ast
import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from producers.datasets import CorruptRowError, DatasetError, DatasetMissingError, loader_class
from producers.datasets.smap_msl import MslLoader, SmapLoader

HEADER = "chan_id,spacecraft,anomaly_sequences,class,num_values"
ROWS = {
    "A-1": ('SMAP,"[[2, 3], [7, 7]]","[point, contextual]",10', 25),
    "A-10": ('SMAP,"[[0, 1]]",[point],10', 25),
    "A-2": ('SMAP,"[[4, 5]]",[point],10', 25),
    "P-2": ('SMAP,"[[1, 2]]",[point],10', 25),
    "C-1": ('MSL,"[[5, 9]]",[contextual],10', 55),
}


def _write(root: Path, extra: str = "") -> Path:
    base = root / "smap_msl"
    for part in ("train", "test"):
        (base / part).mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for chan, (row, dims) in ROWS.items():
        lines.append(f"{chan},{row}")
        for part, rows in (("train", 12), ("test", 10)):
            values = np.zeros((rows, dims))
            values[:, 0] = np.arange(rows)
            np.save(base / part / f"{chan}.npy", values)
    lines.append('P-2,SMAP,"[[5, 6]]",[point],10')  # listed twice, as in the real file
    np.save(base / "train" / "T-10.npy", np.zeros((4, 55)))  # a file with no CSV row
    (base / "labeled_anomalies.csv").write_text("\n".join(lines) + "\n" + extra)
    return root


def test_registered_entities_and_quirks(tmp_path: Path) -> None:
    root = _write(tmp_path)
    assert loader_class("smap") is SmapLoader and loader_class("msl") is MslLoader
    assert SmapLoader(root).entities() == ["A-1", "A-2", "A-10"]  # no P-2, no T-10
    assert MslLoader(root).entities() == ["C-1"]


def test_labels_are_inclusive_ranges_and_channels_named(tmp_path: Path) -> None:
    data = SmapLoader(_write(tmp_path)).load("A-1")
    assert data.test.labels is not None
    assert data.test.labels.tolist() == [0, 0, 1, 1, 0, 0, 0, 1, 0, 0]
    assert data.channels[:2] == ("telemetry", "cmd01") and data.channels[-1] == "cmd24"
    assert data.train.labels is None and data.train.values.shape == (12, 25)
    assert data.test.timestamps[0] - data.train.timestamps[-1] == np.timedelta64(60, "s")
    assert len(MslLoader(tmp_path).load("C-1").channels) == 55


@pytest.mark.parametrize(
    "sequences",
    ["\"__import__('os').getcwd()\"", '"[[3, 10]]"', '"[[1, 2]"'],
)
def test_bad_sequences_fail_or_drop_the_channel(tmp_path: Path, sequences: str) -> None:
    root = _write(tmp_path, f"B-1,SMAP,{sequences},[point],10\n")
    with pytest.raises(CorruptRowError, match=r"labeled_anomalies\.csv:8: bad anomaly_sequences"):
        SmapLoader(root).entities()
    assert SmapLoader(root, on_bad_row="skip").entities() == ["A-1", "A-2", "A-10"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [("B-1,SMAP,[]", "3 fields, expected 5"), ("B-1,SMAP,[],[],ten", "num_values is not")],
)
def test_malformed_csv_row_is_a_corrupt_row(tmp_path: Path, row: str, reason: str) -> None:
    root = _write(tmp_path, row + "\n")
    with pytest.raises(CorruptRowError, match=f":8: {reason}"):
        SmapLoader(root).entities()


def test_length_mismatch_and_missing_files(tmp_path: Path) -> None:
    root = _write(tmp_path)
    np.save(root / "smap_msl" / "test" / "A-2.npy", np.zeros((11, 25)))
    with pytest.raises(DatasetError, match="says 10 test rows, the file has 11"):
        SmapLoader(root).load("A-2")
    (root / "smap_msl" / "train" / "A-10.npy").unlink()
    with pytest.raises(DatasetMissingError, match="A-10.npy not found"):
        SmapLoader(root).load("A-10")
    with pytest.raises(DatasetMissingError, match="telemanom"):
        MslLoader(tmp_path / "nowhere").entities()


@pytest.mark.parametrize(("loader", "count", "dims"), [(SmapLoader, 53, 25), (MslLoader, 27, 55)])
def test_real_smap_msl(
    real_data_dir: Callable[[str], Path],
    loader: type[SmapLoader | MslLoader],
    count: int,
    dims: int,
) -> None:
    dataset = loader(real_data_dir("smap_msl"))
    with (dataset.location / "labeled_anomalies.csv").open(newline="") as file:
        rows = [r for r in csv.DictReader(file) if r["spacecraft"] == loader.spacecraft]
    # 55 SMAP rows name 54 channels; both P-2 rows go, as in OmniAnomaly, leaving 53.
    entities = dataset.entities()
    assert len(entities) == count == len({r["chan_id"] for r in rows} - {"P-2"})
    assert "P-2" not in entities and "T-10" not in entities
    expected = {r["chan_id"]: ast.literal_eval(r["anomaly_sequences"]) for r in rows}
    anomalous = total = 0
    for entity in entities:
        data = dataset.load(entity)
        labels = data.test.labels
        assert labels is not None and data.test.values.shape[1] == len(data.channels) == dims
        assert data.train.values.shape[1] == dims
        starts = np.flatnonzero(np.diff(np.r_[0, labels]) == 1)
        assert sorted(starts.tolist()) == sorted(start for start, _ in expected[entity])
        times = np.concatenate([data.train.timestamps, data.test.timestamps])
        assert (np.diff(times) > np.timedelta64(0)).all()
        anomalous, total = anomalous + int(labels.sum()), total + len(labels)
    assert 0.05 < anomalous / total < 0.5
