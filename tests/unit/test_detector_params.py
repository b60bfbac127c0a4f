"""Detector hyperparameters: typed checks with one-line errors, and params that round-trip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detectors.base import DetectorError
from detectors.hyperparams import check_params, describe
from detectors.pipeline import build_detector, check_detector_params
from detectors.registry import detector_class

REPO_ROOT = Path(__file__).resolve().parents[2]
PCA_TAKES = "it takes: components, variance, tail, max_rows, seed, statistic"
LSTM_TAKES = (
    "it takes: epochs, batch_size, lr, hidden, scoring, seed, patience, validation, "
    "lr_schedule, half_life, kernel_sigma, device, amp, progress"
)

# params() as meta.json holds them for models saved before the hyperparameter dataclasses:
# every saved deep model must load and save the same keys and values again.
SAVED_PARAMS: dict[str, dict[str, Any]] = {
    "ae": {"seed": 0, "epochs": 20, "batch_size": 256, "lr": 0.001, "hidden": 64,
           "scoring": "gaussian_static", "half_life": 20.0},
    "uae": {"seed": 0, "epochs": 20, "batch_size": 256, "lr": 0.001, "hidden": 16,
            "scoring": "gaussian_static", "half_life": 20.0},
    "lstm_ed": {"seed": 0, "epochs": 10, "batch_size": 128, "lr": 0.002, "hidden": 32,
                "scoring": "gaussian_static", "half_life": 20.0},
    "tcn_ae": {"seed": 0, "epochs": 10, "batch_size": 128, "lr": 0.002, "hidden": 16,
               "scoring": "gaussian_static", "half_life": 20.0},
    "telemanom": {"seed": 0, "epochs": 10, "batch_size": 128, "lr": 0.002, "hidden": 32,
                  "scoring": "gaussian_static", "layers": 2, "smoothing_span": 10,
                  "targets": None},
}  # fmt: skip


# Keys added since: training-only (patience, validation, lr_schedule), or kernel_sigma, which
# an old artifact turns off when it loads (test_deep_detectors), so it scores as it did.
ADDED_KEYS = {"patience", "validation", "lr_schedule", "kernel_sigma"}


@pytest.mark.parametrize("name", list(SAVED_PARAMS))
def test_saved_params_load_and_round_trip(name: str) -> None:
    cls: Any = detector_class(name)
    loaded = cls(**SAVED_PARAMS[name], device="cpu").params()
    assert {k: loaded[k] for k in SAVED_PARAMS[name]} == SAVED_PARAMS[name]
    assert set(loaded) - set(SAVED_PARAMS[name]) <= ADDED_KEYS
    assert cls(**loaded, device="cpu").params() == loaded
    changed = {**loaded, "epochs": 3, "seed": 7, "hidden": 5}
    rebuilt = cls(**changed, device="cpu")
    assert rebuilt.params() == changed
    assert rebuilt.seed == 7
    assert {"device", "amp", "progress"} <= cls.keywords().keys()
    assert set(cls.keywords()) - {"device", "amp", "progress"} == set(changed)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("pca", {"variance": "{bad"},
         f"pca parameter variance must be a number, got '{{bad'; {PCA_TAKES}"),
        ("pca", {"components": 2.5},
         "pca parameter components must be an integer or null, got 2.5"),
        ("pca", {"tail": True}, "pca parameter tail must be an integer, got True"),
        ("lstm_ed", {"epochs": "abc"},
         f"lstm_ed parameter epochs must be an integer, got 'abc'; {LSTM_TAKES}"),
        ("lstm_ed", {"epochs": 1.5}, "lstm_ed parameter epochs must be an integer, got 1.5"),
        ("lstm_ed", {"scoring": "best"}, "must be one of plain, gaussian_static, gaussian_dynamic"),
        ("lstm_ed", {"half_life": "long"}, "half_life must be a number or null, got 'long'"),
        ("telemanom", {"targets": [0, "x"]}, "targets must be a list of integers or null"),
        ("lstm_ed", {"depth": 3}, f"lstm_ed has no parameter depth; {LSTM_TAKES}"),
    ],
)  # fmt: skip
def test_a_wrong_type_names_parameter_type_and_accepted(
    name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(DetectorError) as error:
        check_detector_params(name, params)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_good_values_pass_and_build() -> None:
    check_detector_params("pca", {"variance": 1, "components": None, "tail": 2})
    check_detector_params("telemanom", {"targets": [0, 2], "lr": 1, "amp": None})
    detector = build_detector("lstm_ed", {"epochs": 2, "half_life": None, "device": "cpu"})
    assert detector.params()["half_life"] is None
    with pytest.raises(DetectorError, match="must be >= 1"):
        build_detector("lstm_ed", {"epochs": 0, "device": "cpu"})


def test_describe_and_check_params_directly() -> None:
    assert describe(bool | None) == "a boolean (true or false) or null"
    assert describe(list[float]) == "a list of numbers"
    check_params("x", {"flag": bool}, {"flag": False})
    with pytest.raises(DetectorError, match="x parameter flag must be a boolean"):
        check_params("x", {"flag": bool}, {"flag": 0})


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "train", "synthetic", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--detector", "pca", "--param", "variance={bad"],
            f"anomstream train: error: pca parameter variance must be a number, got '{{bad'; "
            f"{PCA_TAKES}",
        ),
        (
            ["--detector", "lstm_ed", "--param", "epochs=abc"],
            "anomstream train: error: lstm_ed parameter epochs must be an integer, got 'abc'; "
            f"{LSTM_TAKES}",
        ),
        (
            ["--detector", "lstm_ed", "--param", "epochs=1.5"],
            "anomstream train: error: lstm_ed parameter epochs must be an integer, got 1.5; "
            f"{LSTM_TAKES}",
        ),
    ],
)
def test_bad_param_on_the_command_line_is_one_line(
    args: list[str], line: str, tmp_path: Path
) -> None:
    result = _train(*args, "--models-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""


@pytest.mark.parametrize("stride", ["0", "-3"])
def test_a_non_positive_train_stride_is_refused(stride: str, tmp_path: Path) -> None:
    result = _train("--detector", "pca", "--train-stride", stride, "--models-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"anomstream train: error: argument --train-stride: must be at least 1, got {stride} "
        "(see anomstream train --help)"
    ]


def test_evaluate_refuses_a_bad_param_the_same_way(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "anomstream", "evaluate", "synthetic", "--no-progress"),
            *("--detector", "lstm_ed", "--param", "epochs=abc"),
            *("--models-dir", str(tmp_path), "--out", str(tmp_path / "out")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "anomstream evaluate: error: lstm_ed parameter epochs must be an integer, got 'abc'; "
        f"{LSTM_TAKES}"
    ]
    assert not (tmp_path / "out").exists()
