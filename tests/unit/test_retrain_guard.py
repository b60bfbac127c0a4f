"""The promotion guard and one entity's retrain, on arrays: promoted, candidate, skipped."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import retraining.guard
from detectors.artifacts import CANDIDATES_DIR, latest_version, model_versions
from detectors.pipeline import TrainConfig, save_trained, train
from retraining.deployed import Overrides, find_deployed, train_config
from retraining.entity_retrain import EntityOptions, retrain_entity
from retraining.exclusion import AlertSpan
from retraining.guard import decide, false_alarm_rate
from retraining.readings import EntityReadings
from schemas import Reading

T = datetime(2026, 1, 1, tzinfo=UTC)

CHANNELS = ["a", "b", "c"]
CONFIG = TrainConfig(
    detector="pca", window=8, threshold={"kind": "quantile", "q": 0.99}, adaptive=None
)


def test_a_model_no_worse_than_the_margin_is_promoted() -> None:
    assert decide(0.02, 0.15, 0.01).promote
    assert decide(0.025, 0.02, 0.01).promote  # worse, but within the margin
    assert decide(0.02, None, 0.0).promote  # nothing deployed to compare with


def test_a_model_worse_by_more_than_the_margin_is_not() -> None:
    verdict = decide(0.05, 0.01, 0.01)
    assert not verdict.promote
    assert "1.00% -> 5.00%" in verdict.reason and "margin 1.00%" in verdict.reason


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        decide(0.0, 0.0, -0.1)


def test_the_false_alarm_rate_ignores_nan_scores() -> None:
    assert false_alarm_rate([np.nan, 2.0, 0.0, 3.0], 1.0) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no scores"):
        false_alarm_rate([np.nan], 1.0)


def test_docstring_examples() -> None:
    assert doctest.testmod(retraining.guard).failed == 0


def operating_point(rows: int, seed: int, shift: float = 0.0) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, rows)
    values = np.stack([base, 2 * base + rng.normal(0, 0.3, rows), rng.normal(0, 1, rows)], 1)
    values[:, 2] += shift
    return values


def as_readings(values: npt.NDArray[np.float64], labels: list[int] | None = None) -> EntityReadings:
    readings = EntityReadings("e1")
    for seq, row in enumerate(values):
        label = None if labels is None else labels[seq]
        readings.add(
            Reading.model_construct(
                dataset="ds",
                entity="e1",
                seq=seq,
                event_time=T,
                values=dict(zip(CHANNELS, row.tolist(), strict=True)),
                label=label,
            )
        )
    return readings


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    save_trained(
        root, train(operating_point(1500, 1), CONFIG), dataset="ds", entity="e1", channels=CHANNELS
    )
    return root


def options(models: Path, dry_run: bool = False) -> EntityOptions:
    return EntityOptions(
        models_dir=models, dataset="ds", overrides=Overrides(), min_rows=200, dry_run=dry_run
    )


def test_a_drift_is_learnt_and_the_new_version_promoted(models: Path) -> None:
    deployed = find_deployed(models, "ds", "e1")
    assert deployed is not None and deployed.path.name == "v1"
    outcome = retrain_entity(
        as_readings(operating_point(1200, 2, shift=4.0)), deployed, [], options(models)
    )
    assert outcome.status == "promoted", outcome.line()
    assert outcome.old_rate is not None and outcome.new_rate is not None
    assert outcome.old_rate > 0.5 > 0.05 > outcome.new_rate
    assert outcome.path == latest_version(models, "ds", "e1", "pca") == outcome.path
    assert outcome.path is not None and outcome.path.name == "v2"


def test_a_worse_model_is_kept_as_a_candidate_that_no_reader_of_versions_sees(
    models: Path,
) -> None:
    deployed = find_deployed(models, "ds", "e1")
    assert deployed is not None
    worse = EntityOptions(
        models_dir=models,
        dataset="ds",
        min_rows=200,
        overrides=Overrides(threshold="quantile", threshold_params={"q": 0.7}),
    )
    outcome = retrain_entity(as_readings(operating_point(1200, 3)), deployed, [], worse)
    assert outcome.status == "candidate", outcome.line()
    assert outcome.path == models / "ds" / "e1" / "pca" / CANDIDATES_DIR / "c1"
    assert [p.name for p in model_versions(models, "ds", "e1", "pca")] == ["v1"]
    again = find_deployed(models, "ds", "e1")
    assert again is not None and again.path == deployed.path


def test_alerted_and_labelled_readings_are_not_trained_on(models: Path) -> None:
    deployed = find_deployed(models, "ds", "e1")
    assert deployed is not None
    values = operating_point(1200, 4)
    labels = [int(100 <= seq < 150) for seq in range(1200)]
    spans = [AlertSpan("x", 400, 499), AlertSpan("y", 1150, None)]
    outcome = retrain_entity(as_readings(values, labels), deployed, spans, options(models))
    assert (outcome.rows, outcome.labelled) == (1200, 50)
    assert outcome.in_alerts == (100 + 7) + (50 + 7)  # lead: window - 1 before each start
    assert "1200 readings, 164 in alerts and 50 labelled anomalous left out" in outcome.line()
    kept = np.ones(1200, dtype=bool)
    kept[100:150] = kept[393:500] = kept[1143:] = False
    fit_rows = values[kept][: -round(kept.sum() * 0.2)]
    model = train(fit_rows, train_config(deployed.meta, Overrides()))
    assert outcome.path is not None
    assert (outcome.path / "meta.json").read_text().count(model.train_hash) == 1


def test_too_few_readings_left_skip_the_entity_and_a_dry_run_saves_nothing(
    models: Path,
) -> None:
    deployed = find_deployed(models, "ds", "e1")
    assert deployed is not None
    few = retrain_entity(
        as_readings(operating_point(300, 5)), deployed, [AlertSpan("x", 0, 200)], options(models)
    )
    assert few.status == "skipped" and "only 99 readings left" in few.reason
    dry = retrain_entity(
        as_readings(operating_point(1200, 5)), deployed, [], options(models, dry_run=True)
    )
    assert dry.status == "judged" and dry.path is None and "would" in dry.reason
    assert [p.name for p in model_versions(models, "ds", "e1", "pca")] == ["v1"]


def test_the_config_is_the_deployed_models_unless_overridden(models: Path) -> None:
    deployed = find_deployed(models, "ds", "e1")
    assert deployed is not None
    same = train_config(deployed.meta, Overrides())
    assert (same.detector, same.window, same.threshold, same.adaptive, same.health) == (
        "pca",
        8,
        {"kind": "quantile", "q": 0.99},
        None,
        True,
    )
    assert same.params == deployed.meta["params"]
    changed = train_config(
        deployed.meta,
        Overrides(detector="knn", window=12, threshold="pot", threshold_params={"risk": 1e-4}),
    )
    assert (changed.detector, changed.window, changed.threshold) == (
        "knn",
        12,
        {"kind": "pot", "risk": 1e-4},
    )
    assert "components" not in changed.params  # pca's parameters do not carry over


def test_an_entity_without_its_own_model_starts_from_the_datasets(models: Path) -> None:
    (models / "ds" / "e1").rename(models / "ds" / "_default")
    deployed = find_deployed(models, "ds", "e2")
    assert deployed is not None and deployed.path.parent.parent.name == "_default"
    assert find_deployed(models, "other", "e2") is None


def test_the_workers_model_store_never_serves_a_candidate(models: Path) -> None:
    from stream_app.model_store import ModelStore

    store = ModelStore(models, refresh_s=0.0)
    served = store.for_entity("ds", "e1")
    assert served is not None and served.version == "v1"
    model = train(operating_point(1500, 6), CONFIG)
    save_trained(models, model, dataset="ds", entity="e1", channels=CHANNELS, candidate=True)
    assert store.refresh() == []
    assert ModelStore(models).for_entity("ds", "e1").version == "v1"  # type: ignore[union-attr]
    save_trained(models, model, dataset="ds", entity="e1", channels=CHANNELS)
    assert [swap.new.version for swap in store.refresh()] == ["v2"]


def test_nothing_that_lists_versions_takes_a_candidate_for_one(models: Path) -> None:
    from consumers.health import model_summary
    from web.models_info import deployed_models

    model = train(operating_point(1500, 7), CONFIG)
    save_trained(models, model, dataset="ds", entity="e1", channels=CHANNELS, candidate=True)
    listed = deployed_models(models)
    assert [(m["entity"], m["detector"], m["version"]) for m in listed] == [("e1", "pca", "v1")]
    summary = model_summary(models, "ds")
    assert (summary.entities, summary.newest_version) == (1, "v1")


def test_readings_without_the_models_channels_are_not_trained_on(models: Path) -> None:
    deployed = find_deployed(models, "ds", "e1")
    assert deployed is not None
    readings = EntityReadings("e1")
    for seq in range(600):
        readings.add(
            Reading(dataset="ds", entity="e1", seq=seq, event_time=T, values={"a": 1.0, "x": 2.0})
        )
    outcome = retrain_entity(readings, deployed, [], options(models))
    assert outcome.status == "skipped" and "channels b, c" in outcome.reason
