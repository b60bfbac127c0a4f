"""Versioned model artifacts: numbering, atomic publication, metadata and mismatch errors."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.artifacts import (
    check_compatible,
    hash_training_data,
    latest_version,
    load_model,
    save_model,
)
from detectors.base import DetectorError
from detectors.raw import RawSignalDetector

CHANNELS = ["temp", "pressure", "flow"]


@pytest.fixture
def detector() -> RawSignalDetector:
    windows = np.random.default_rng(0).normal(size=(50, 8, 3)).astype(np.float32)
    return RawSignalDetector(tail=2).fit(windows)


def save(root: Path, detector: RawSignalDetector, **overrides: Any) -> Path:
    kwargs: dict[str, Any] = {
        "dataset": "smd",
        "entity": "machine-1-1",
        "channels": CHANNELS,
        "window": 8,
        "stride": 1,
        "normalizer_mean": np.array([1.0, 2.0, 3.0]),
        "normalizer_std": np.array([0.5, 1.0, 2.0]),
        "threshold": {"kind": "quantile", "value": 3.5, "params": {"q": 0.99}},
        "train_hash": "ab" * 32,
        **overrides,
    }
    return save_model(root, detector, **kwargs)


def test_versions_increase_and_latest_is_newest(
    tmp_path: Path, detector: RawSignalDetector
) -> None:
    assert latest_version(tmp_path, "smd", "machine-1-1", "raw") is None
    first, second = save(tmp_path, detector), save(tmp_path, detector)
    assert first == tmp_path / "smd" / "machine-1-1" / "raw" / "v1"
    assert second.name == "v2"
    assert latest_version(tmp_path, "smd", "machine-1-1", "raw") == second
    # Numeric, not lexical, order: v10 is newer than v9.
    for _ in range(8):
        newest = save(tmp_path, detector)
    assert newest.name == "v10"
    assert latest_version(tmp_path, "smd", "machine-1-1", "raw") == newest


def test_meta_records_how_the_model_was_made(tmp_path: Path, detector: RawSignalDetector) -> None:
    meta = json.loads((save(tmp_path, detector) / "meta.json").read_text())
    assert meta["format"] == 1
    assert meta["detector"] == "raw"
    assert meta["params"] == {"seed": 0, "tail": 2, "var_floor": 1e-4}
    assert (meta["dataset"], meta["entity"], meta["channels"]) == ("smd", "machine-1-1", CHANNELS)
    assert (meta["window"], meta["stride"]) == (8, 1)
    assert meta["normalizer"] == {"mean": [1.0, 2.0, 3.0], "std": [0.5, 1.0, 2.0]}
    assert meta["threshold"] == {"kind": "quantile", "value": 3.5, "params": {"q": 0.99}}
    assert meta["train_hash"] == "ab" * 32
    assert datetime.fromisoformat(meta["trained_at"]).utcoffset() == timedelta(0)
    assert isinstance(meta["anomstream_version"], str)


def test_round_trip_restores_detector(tmp_path: Path, detector: RawSignalDetector) -> None:
    windows = np.random.default_rng(1).normal(size=(20, 8, 3)).astype(np.float32)
    loaded = load_model(save(tmp_path, detector))
    assert isinstance(loaded.detector, RawSignalDetector)
    assert loaded.detector.tail == 2
    np.testing.assert_array_equal(loaded.detector.score(windows), detector.score(windows))
    assert loaded.meta["channels"] == CHANNELS


def test_state_npz_has_no_object_arrays(tmp_path: Path, detector: RawSignalDetector) -> None:
    with np.load(save(tmp_path, detector) / "state.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"_shape", "mean", "var"}
        assert all(npz[name].dtype != object for name in npz.files)


def test_pickled_state_is_refused(tmp_path: Path, detector: RawSignalDetector) -> None:
    path = save(tmp_path, detector)
    np.savez(path / "state.npz", _shape=np.array([8, 3]), mean=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_model(path)


def test_reader_never_sees_a_half_written_version(
    tmp_path: Path, detector: RawSignalDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_savez = np.savez
    seen: list[Path | None] = []

    def savez_and_look(file: Any, **arrays: Any) -> None:
        # Mid-write, the new version must not be visible yet.
        seen.append(latest_version(tmp_path, "smd", "machine-1-1", "raw"))
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez_and_look)
    path = save(tmp_path, detector)
    assert seen == [None]
    assert sorted(p.name for p in path.parent.iterdir()) == ["v1"]  # no temp dir left
    assert {p.name for p in path.iterdir()} == {"meta.json", "state.npz"}


def test_failed_save_leaves_nothing(
    tmp_path: Path, detector: RawSignalDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_savez(file: Any, **arrays: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save(tmp_path, detector)
    assert list((tmp_path / "smd" / "machine-1-1" / "raw").iterdir()) == []
    assert latest_version(tmp_path, "smd", "machine-1-1", "raw") is None


def test_concurrent_writer_takes_next_number(
    tmp_path: Path, detector: RawSignalDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename
    calls: list[str] = []

    def rename_after_rival(src: Any, dst: Any) -> None:
        if not calls:  # a rival publishes v1 between our listing and our rename
            Path(dst).mkdir()
            (Path(dst) / "meta.json").write_text("{}")
        calls.append(Path(dst).name)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename_after_rival)
    path = save(tmp_path, detector)
    assert calls == ["v1", "v2"]
    assert path.name == "v2"
    assert (tmp_path / "smd" / "machine-1-1" / "raw" / "v1" / "meta.json").read_text() == "{}"


def test_channel_count_mismatch_names_both_counts(
    tmp_path: Path, detector: RawSignalDetector
) -> None:
    meta = load_model(save(tmp_path, detector)).meta
    with pytest.raises(DetectorError, match="expects 3 channels, the feed has 2"):
        check_compatible(meta, ["temp", "pressure"])


def test_channel_name_mismatch_names_the_channels(
    tmp_path: Path, detector: RawSignalDetector
) -> None:
    meta = load_model(save(tmp_path, detector)).meta
    check_compatible(meta, CHANNELS)  # same names, same order: fine
    with pytest.raises(DetectorError, match=r"1: 'pressure' != 'flow'; 2: 'flow' != 'pressure'"):
        check_compatible(meta, ["temp", "flow", "pressure"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"threshold": {"value": 1.0}}, "kind"),
        ({"normalizer_std": np.ones(2)}, "normaliser"),
        (
            {"channels": ["a", "b"], "normalizer_mean": [0, 0], "normalizer_std": [1, 1]},
            "fitted on 3",
        ),
        ({"entity": ".."}, "directory name"),
        ({"dataset": "a/b"}, "directory name"),
    ],
)
def test_bad_save_arguments_are_refused(
    tmp_path: Path, detector: RawSignalDetector, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(DetectorError, match=message):
        save(tmp_path, detector, **overrides)


def test_missing_or_future_artifacts_are_refused(
    tmp_path: Path, detector: RawSignalDetector
) -> None:
    with pytest.raises(DetectorError, match="meta.json is missing"):
        load_model(tmp_path)
    path = save(tmp_path, detector)
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "format": 2}))
    with pytest.raises(DetectorError, match="format 2"):
        load_model(path)


def test_training_hash_follows_the_data() -> None:
    values = np.arange(12, dtype=np.float64).reshape(4, 3)
    assert hash_training_data(values) == hash_training_data(values.copy())
    assert len(hash_training_data(values)) == 64
    changed = values.copy()
    changed[2, 1] += 1e-9
    assert hash_training_data(changed) != hash_training_data(values)
    assert hash_training_data(values.reshape(3, 4)) != hash_training_data(values)
