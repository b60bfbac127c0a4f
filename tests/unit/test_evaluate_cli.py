"""`anomstream train` and `evaluate` end to end on generated data: artifacts, tables, files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from anomstream.cli import main
from detectors.metrics import precision_recall_f1

CONFIG = """
rate_hz = 1.0
train_rows = 3000
test_rows = 3000
entities = 2
seed = 3

[[sensors]]
name = "temperature"
signal = { kind = "sine", mean = 60.0, amplitude = 5.0, period_s = 600.0, phase = 0.0 }
noise_std = 0.3
anomalies = [{ kind = "spike", ratio = 0.01, duration = [3, 8], magnitude = [8.0, 12.0] }]

[[sensors]]
name = "pressure"
signal = { kind = "gaussian", mean = 5.0, std = 0.2 }
anomalies = [{ kind = "level_shift", ratio = 0.02, duration = [20, 40], magnitude = [6.0, 8.0] }]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sensors.toml"
    path.write_text(CONFIG)
    return path


def test_train_saves_a_new_version_each_time(tmp_path: Path, config: Path) -> None:
    argv = [
        *("train", "synthetic", "--config", str(config), "--detector", "pca", "--window", "20"),
        *("--no-progress", "--models-dir", str(tmp_path / "models"), "--entity", "sensor-000"),
    ]

    assert main(argv) == 0
    assert main(argv) == 0

    versions = sorted(p.name for p in (tmp_path / "models/synthetic/sensor-000/pca").iterdir())
    assert versions == ["v1", "v2"]
    meta = json.loads((tmp_path / "models/synthetic/sensor-000/pca/v2/meta.json").read_text())
    assert meta["window"] == 20 and meta["threshold"]["kind"] == "pot"


def test_evaluate_writes_table_results_and_plots(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [
        *("evaluate", "synthetic", "--config", str(config), "--detector", "pca", "--window", "20"),
        *("--no-progress", "--models-dir", str(tmp_path / "models"), "--out", str(out)),
    ]

    assert main(argv) == 0

    table = capsys.readouterr().out
    assert "Fc1" in table and "AUC-PR" in table and "rand PA-F1" in table and "VUS-PR" in table
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["entity"] for r in rows][-2:] == ["MEAN", "POOLED"]
    assert all(0.5 < float(r["auc_roc"]) <= 1.0 for r in rows), "injected spikes stand out"
    entities = rows[:-2]
    # MEAN is the unweighted mean of the entities' rows.
    for key in ("auc_pr", "vus_pr", "fc1", "f1"):
        mean = np.mean([float(r[key]) for r in entities])
        assert float(rows[-2][key]) == pytest.approx(mean, rel=1e-9)
    assert {p.name for p in (out / "plots").iterdir()} == {
        f"sensor-00{i}.png" for i in range(len(entities))
    }


def test_evaluate_writes_arrays_to_recompute_and_strict_json(tmp_path: Path, config: Path) -> None:
    out = tmp_path / "out"
    argv = [
        *("evaluate", "synthetic", "--config", str(config), "--detector", "pca", "--window", "20"),
        *("--no-progress", "--no-plots", "--models-dir", str(tmp_path / "models")),
        *("--out", str(out)),
    ]

    assert main(argv) == 0

    text = (out / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    rows = json.loads(text)
    json.dumps(rows, allow_nan=False)
    by_entity = {r["entity"]: r for r in rows}
    assert by_entity["MEAN"]["best_f1_threshold"] is None  # undefined: null, not NaN
    for name in ("sensor-000", "sensor-001"):
        with np.load(out / "scores" / f"{name}.npz", allow_pickle=False) as arrays:
            assert {"scores", "labels", "predictions", "threshold"} <= set(arrays.files)
            scores, labels = arrays["scores"], arrays["labels"]
            threshold = float(arrays["threshold"])
            predictions = arrays["predictions"]
        assert scores.shape == labels.shape == predictions.shape
        assert threshold == pytest.approx(by_entity[name]["threshold"])
        assert np.array_equal(predictions, scores > threshold)
        f1 = precision_recall_f1(predictions, labels).f1
        assert f1 == pytest.approx(by_entity[name]["f1"])


def test_an_unknown_detector_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "synthetic", "--detector", "magic"])

    assert exit_info.value.code == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err


def test_an_unknown_detector_parameter_names_the_accepted_ones(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        *("train", "synthetic", "--config", str(config), "--detector", "pca"),
        *("--param", "depth=3", "--no-progress", "--models-dir", str(tmp_path)),
    ]

    assert main(argv) == 1

    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        "anomstream train: error: pca has no parameter depth; "
        "it takes: components, variance, tail, max_rows, seed, statistic"
    )


def test_a_model_for_other_channels_is_refused_by_name(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--detector", "pca", "--window", "20", "--no-progress", "--entity", "sensor-000"]
    models = ["--models-dir", str(tmp_path / "models")]
    assert main(["train", "synthetic", "--config", str(config), *common, *models]) == 0
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(config.read_text().replace('"pressure"', '"flow"'))

    status = main(
        ["evaluate", "synthetic", "--config", str(renamed), *common, *models,
         "--out", str(tmp_path / "out")]
    )  # fmt: skip

    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("anomstream evaluate: error: model 'pca' for synthetic/sensor-000")
    assert "flow" in err


def test_evaluate_again_uses_the_saved_model_and_gives_the_same_results(
    tmp_path: Path, config: Path
) -> None:
    argv = [
        *("evaluate", "synthetic", "--config", str(config), "--detector", "pca", "--window", "20"),
        *("--no-progress", "--no-plots", "--models-dir", str(tmp_path / "models")),
    ]
    assert main([*argv, "--out", str(tmp_path / "first")]) == 0
    assert main([*argv, "--out", str(tmp_path / "second")]) == 0

    # No second version: the second run loaded the artifact the first one saved.
    assert sorted(p.name for p in (tmp_path / "models/synthetic/sensor-000/pca").iterdir()) == [
        "v1"
    ]
    first = json.loads((tmp_path / "first/results.json").read_text())
    second = json.loads((tmp_path / "second/results.json").read_text())
    assert first == second


def test_a_csv_label_column_never_becomes_a_model_channel(tmp_path: Path) -> None:
    data = tmp_path / "pump.csv"
    rows = [f"{t},{(t % 7) * 0.5},{(t % 5) * 1.5},{int(t % 40 == 0)}" for t in range(200)]
    data.write_text("timestamp,temp,flow,is_anomaly\n" + "\n".join(rows) + "\n")
    argv = [
        *("train", "csv", "--path", str(data), "--detector", "pca", "--window", "10"),
        *("--no-progress", "--models-dir", str(tmp_path / "models")),
    ]

    assert main(argv) == 0

    meta = json.loads((tmp_path / "models/csv/pump/pca/v1/meta.json").read_text())
    assert meta["channels"] == ["temp", "flow"]


def walk_csv(path: Path) -> None:
    """A random walk beside two noisy channels, a labelled shift on one of them late on."""
    rng = np.random.default_rng(0)
    n = 6000
    walk = 50 + np.cumsum(rng.normal(0, 0.05, n))
    a, b = rng.normal(0, 1, n), rng.normal(5, 2, n)
    labels = np.zeros(n, dtype=int)
    a[4000:4200] += 6
    labels[4000:4200] = 1
    rows = [f"{t},{walk[t]},{a[t]},{b[t]},{labels[t]}" for t in range(n)]
    path.write_text("timestamp,walk,a,b,label\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("adaptive", [True, False])
def test_a_cold_start_learns_from_the_stream_head_and_adaptive_scoring_copes_with_the_walk(
    tmp_path: Path, adaptive: bool
) -> None:
    data = tmp_path / "plant.csv"
    walk_csv(data)
    out = tmp_path / f"out-{adaptive}"
    argv = [
        *("evaluate", "csv", "--path", str(data), "--cold-start", "1500", "--window", "10"),
        *("--no-progress", "--no-plots", "--models-dir", str(tmp_path / f"m-{adaptive}")),
        *("--out", str(out), "--detector", "raw"),
        "--adaptive" if adaptive else "--no-adaptive",
    ]
    assert main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    plant = next(r for r in rows if r["entity"] == "plant")
    # The stream's first 1500 rows trained: everything after them is scored.
    assert plant["n_points"] == 6000 - 1500
    if adaptive:
        assert plant["f1"] > 0.9
    else:
        # The walk leaves the probation period's range: a frozen detector alarms on it.
        assert plant["f1"] < 0.6


def test_adaptive_settings_are_checked_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "synthetic", "--adapt", "spann=5"]) != 0
    err = capsys.readouterr().err.strip()
    assert "unknown adaptive setting spann" in err and "\n" not in err
    assert main(["train", "synthetic", "--no-adaptive", "--adapt", "span=5"]) != 0
    assert "--no-adaptive" in capsys.readouterr().err
