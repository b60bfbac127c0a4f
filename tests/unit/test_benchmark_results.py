"""benchmarks/results.py renders the per-entity mean as the headline and writes strict JSON."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from detectors.results import jsonable

# benchmarks/ is a folder of scripts, not a package: load the script by its path, with its
# folder importable as when it runs (it reads its plan from results_plan.py).
sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
_SPEC = importlib.util.spec_from_file_location(
    "benchmarks_results", Path(__file__).parents[2] / "benchmarks" / "results.py"
)
assert _SPEC is not None and _SPEC.loader is not None
results = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(results)
main, render = results.main, results.render

ARGS = argparse.Namespace(window=100)


def _row(**values: float | None) -> dict[str, object]:
    base: dict[str, object] = {
        "dataset": "smd",
        "detector": "pca",
        "entities": 2,
        "seconds": 3.0,
        "train_stride": 1,
        "params": {},
        "threshold_kind": "pot",
        "f1": 0.2,
        "fc1": 0.3,
        "auc_pr": 0.1,
        "vus_pr": 0.15,
        "pa_f1": 0.6,
        "random_pa_f1": 0.7,
    }
    return {**base, **values}


def test_the_mean_is_the_headline_and_judged_against_the_bar() -> None:
    # Pooled Fc1 0.70 beats the SMD bar 0.603; the per-entity mean 0.50 does not.
    rows = [_row(fc1=0.70, mean_fc1=0.50, mean_auc_pr=0.49, mean_vus_pr=0.3, mean_f1=0.4)]
    page = render(rows, ARGS)
    assert "| mean AUC-PR | mean VUS-PR | mean Fc1 | mean F1 | pooled AUC-PR" in page
    assert "| **0.490** | 0.300 | 0.500 | 0.400 | 0.100 | 0.150 | **0.700** | 0.200 |" in page
    assert "- smd: best mean Fc1 0.500 (pca) does not reach 0.603" in page
    assert "best mean AUC-PR 0.490 (pca) beats 0.48" in page


def test_rows_saved_before_vus_or_with_nulls_render_as_dashes() -> None:
    old = _row(mean_fc1=0.47, mean_auc_pr=0.3)  # no mean_vus_pr / mean_f1 yet
    del old["vus_pr"]
    nulls = _row(mean_fc1=None, mean_auc_pr=None, auc_pr=None)
    page = render([old, nulls], ARGS)
    assert "| 0.300 | - | 0.470 | - | 0.100 | - | 0.300 | 0.200 |" in page
    assert "| - | - | - | - | - | 0.150 | 0.300 | 0.200 |" in page


def test_json_rows_are_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps([_row(mean_fc1=math.nan, mean_auc_pr=0.3)]))  # NaN, as before
    out, rows = tmp_path / "R.md", tmp_path / "rows.json"
    argv = ["results.py", "--rows-from", str(saved), "--out", str(out), "--json", str(rows)]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    text = rows.read_text()
    assert "NaN" not in text and json.loads(text)[0]["mean_fc1"] is None
    assert json.dumps(jsonable(json.loads(text)), allow_nan=False)
    assert "no per-entity mean Fc1 recorded" in out.read_text()
