"""The synthetic loader: config validation, determinism and the anomalies it injects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from producers.datasets import DatasetError, DatasetMissingError, loader_class
from producers.datasets.synthetic import SyntheticLoader

GAUSS = 'signal = { kind = "gaussian", mean = 10.0, std = 1.0 }'


def write_config(tmp_path: Path, *sensors: str, test_rows: int = 5000) -> Path:
    """A config file with the given `[[sensors]]` bodies; small enough to generate at once."""
    header = f"train_rows = 2000\ntest_rows = {test_rows}\nentities = 3\nseed = 1\n"
    body = "".join(f'\n[[sensors]]\nname = "s{i}"\n{sensor}\n' for i, sensor in enumerate(sensors))
    path = tmp_path / "synthetic.toml"
    path.write_text(header + body)
    return path


def with_anomaly(kind: str, ratio: float = 0.05, extra: str = "") -> str:
    fields = ", ".join(filter(None, [f'kind = "{kind}"', f"ratio = {ratio}", extra]))
    return f"{GAUSS}\nanomalies = [{{ {fields} }}]"


def test_default_config_gives_typed_labelled_data(tmp_path: Path) -> None:
    loader = loader_class("synthetic")(tmp_path)
    assert loader.entities() == ["sensor-000", "sensor-001", "sensor-002", "sensor-003"]
    data = loader.load("sensor-002")
    assert len(data.channels) >= 6
    assert data.test.values.dtype == np.float64
    assert data.test.values.shape == (20000, len(data.channels))
    assert data.test.timestamps.dtype == np.dtype("datetime64[ns]")
    assert data.train.timestamps[-1] < data.test.timestamps[0]
    assert data.train.labels is not None and data.test.labels is not None
    assert data.test.labels.dtype == np.int8
    assert not data.train.labels.any() and not np.isnan(data.train.values).any()
    assert 0.01 < data.test.labels.mean() < 0.2
    assert data.root_causes and set(data.root_causes[0].channels) <= set(data.channels)


def test_same_seed_same_data_other_seed_differs(tmp_path: Path) -> None:
    config = write_config(tmp_path, GAUSS, with_anomaly("spike"))
    first = SyntheticLoader(tmp_path, config=config).load("sensor-001")
    again = SyntheticLoader(tmp_path, config=config).load("sensor-001")
    other = SyntheticLoader(tmp_path, config=config, seed=2).load("sensor-001")
    np.testing.assert_array_equal(first.test.values, again.test.values)
    np.testing.assert_array_equal(first.test.labels, again.test.labels)
    assert not np.array_equal(first.test.values, other.test.values)


def test_entity_does_not_depend_on_entity_count(tmp_path: Path) -> None:
    config = write_config(tmp_path, with_anomaly("level_shift"))
    few = SyntheticLoader(tmp_path, config=config, entities=2)
    many = SyntheticLoader(tmp_path, config=config, entities=7)
    assert len(many.entities()) == 7
    np.testing.assert_array_equal(
        few.load("sensor-001").test.values, many.load("sensor-001").test.values
    )
    assert not np.array_equal(
        many.load("sensor-000").test.values, many.load("sensor-001").test.values
    )


def test_label_ratio_and_root_causes_follow_config(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, GAUSS, with_anomaly("level_shift", 0.08, "duration = [20, 80]"), test_rows=20000
    )
    data = SyntheticLoader(tmp_path, config=config).load("sensor-000")
    assert data.test.labels is not None
    assert data.test.labels.mean() == pytest.approx(0.08, abs=0.004)
    covered = np.zeros(len(data.test), dtype=np.int8)
    for cause in data.root_causes:
        assert cause.channels == ("s1",)
        assert 20 <= cause.end - cause.start + 1 <= 80
        covered[cause.start : cause.end + 1] = 1
    np.testing.assert_array_equal(covered, data.test.labels)


def test_spike_rows_stand_out(tmp_path: Path) -> None:
    spike = with_anomaly("spike", 0.02, "duration = [1, 3], magnitude = [6.0, 8.0]")
    data = SyntheticLoader(tmp_path, config=write_config(tmp_path, spike)).load("sensor-000")
    assert data.test.labels is not None
    train = data.train.values[:, 0]
    z = np.abs(data.test.values[:, 0] - train.mean()) / train.std()
    anomalous = data.test.labels == 1
    assert anomalous.sum() == 100
    assert np.median(z[anomalous]) > 5
    assert (z[~anomalous] > 5).sum() == 0


@pytest.mark.parametrize(
    "kind", ["spike", "level_shift", "drift", "noise_burst", "stuck", "dropout"]
)
def test_each_kind_changes_exactly_the_labelled_rows(tmp_path: Path, kind: str) -> None:
    clean = SyntheticLoader(tmp_path, config=write_config(tmp_path, GAUSS)).load("sensor-000")
    config = write_config(tmp_path, with_anomaly(kind, 0.05, "duration = [5, 20]"))
    dirty = SyntheticLoader(tmp_path, config=config).load("sensor-000")
    assert dirty.test.labels is not None and dirty.test.labels.any()
    changed = ~np.isclose(clean.test.values[:, 0], dirty.test.values[:, 0])
    labelled = dirty.test.labels == 1
    # Anomalies never touch the normal signal outside their rows...
    assert not changed[~labelled].any()
    # ...and change nearly all of theirs (a stuck segment keeps its own first value).
    assert changed[labelled].mean() > 0.8
    np.testing.assert_array_equal(clean.train.values, dirty.train.values)


def test_dropout_is_nan_and_stuck_is_flat(tmp_path: Path) -> None:
    dropout = write_config(tmp_path, with_anomaly("dropout", 0.03, "duration = [10, 30]"))
    data = SyntheticLoader(tmp_path, config=dropout).load("sensor-000")
    np.testing.assert_array_equal(np.isnan(data.test.values[:, 0]), data.test.labels == 1)
    assert np.isnan(data.test.values).sum() == 150
    stuck = write_config(tmp_path, with_anomaly("stuck", 0.03, "duration = [10, 30]"))
    data = SyntheticLoader(tmp_path, config=stuck).load("sensor-000")
    assert len(data.root_causes) >= 5
    for cause in data.root_causes:
        assert np.ptp(data.test.values[cause.start : cause.end + 1, 0]) == 0


def test_config_typo_names_the_field_and_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'signal = { kind = "sine", amplitud = 1.0, period_s = 60 }')
    with pytest.raises(DatasetError, match=r"synthetic\.toml") as caught:
        SyntheticLoader(tmp_path, config=config).entities()
    assert "sensors[0] (s0).signal.sine.amplitud: Extra inputs are not permitted" in str(
        caught.value
    )


def test_unknown_signal_kind_lists_the_known_ones(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'signal = { kind = "gausian" }')
    with pytest.raises(DatasetError, match=r"sensors\[0\] \(s0\)\.signal: .*'gaussian'"):
        SyntheticLoader(tmp_path, config=config).entities()


def test_extra_sensor_is_a_config_change_only(tmp_path: Path) -> None:
    before = SyntheticLoader(tmp_path, config=write_config(tmp_path, GAUSS, GAUSS)).load(
        "sensor-000"
    )
    walk = 'signal = { kind = "random_walk", start = 5.0, step_std = 0.5, low = 0.0, high = 10.0 }'
    config = write_config(tmp_path, GAUSS, GAUSS, walk)
    after = SyntheticLoader(tmp_path, config=config).load("sensor-000")
    assert after.channels == ("s0", "s1", "s2")
    # Sensors are seeded by name, so the ones already there keep their data.
    np.testing.assert_array_equal(before.test.values, after.test.values[:, :2])
    walked = after.test.values[:, 2]
    assert walked.min() >= 0.0 and walked.max() <= 10.0 and walked.std() > 0.5


def test_missing_config_is_reported(tmp_path: Path) -> None:
    loader = SyntheticLoader(tmp_path, config=tmp_path / "nope.toml")
    assert not loader.is_present()
    with pytest.raises(DatasetMissingError, match="nope.toml"):
        loader.entities()
