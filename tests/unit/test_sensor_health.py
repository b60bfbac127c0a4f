"""Sensor health: dropouts and stuck sensors flagged from raw readings, alike in the stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stream_fixtures import CHANNELS, WINDOW, batch, decode_scores, series
from test_stream_processor import messages, mixed_messages, outputs, processor, run_cycles

from detectors.pipeline import TrainConfig, load_trained, save_trained, score_series, train
from detectors.sensor_health import FLOOR_RATIO, SensorHealth
from schemas import Alert, decode


def test_rules_are_armed_only_for_channels_on_which_training_never_fires() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.normal(0, 1, 5000)
    quantised = np.round(rng.normal(0, 0.3, 5000))  # repeats its values all the time
    gappy = rng.normal(0, 1, 5000)
    gappy[::50] = np.nan  # 2% missing in training: a missing value is nothing new
    health = SensorHealth.fit(np.stack([noisy, quantised, gappy], axis=1))
    assert health.watch_missing == (True, True, False)
    assert health.watch_flat == (True, False, True)


def test_flags_mark_missing_readings_and_runs_of_one_exact_value() -> None:
    health = SensorHealth((True, True), (True, True), flat_rows=4)
    raw = np.array(
        [[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [np.nan, 5.0], [4.0, 6.0], [4.0, 6.0], [4.0, 6.0]]
    )
    flags = health.flags(raw, len(raw))
    assert flags.tolist() == [
        [False, False], [False, False], [False, False],
        [True, True],  # missing; and the 4th equal 5.0 in a row
        [False, False], [False, False], [False, False],
    ]  # fmt: skip
    more = np.vstack([raw, [[4.0, 6.0]]])
    assert health.flags(more, 1).tolist() == [[True, True]]  # 4 equal values: flat
    assert health.flags(more[-3:], 1).tolist() == [[False, False]], "too few rows to tell"


def test_a_flagged_reading_scores_twice_the_threshold_with_its_channel_on_top() -> None:
    health = SensorHealth((True, True, True), (True, True, True))
    scores = np.array([0.5, 7.0, 0.1])
    flags = np.array([[False, True, False], [True, False, False], [False, False, False]])
    channels = np.array([[0.3, 0.1, 0.1], [0.1, 5.0, 2.0], [0.0, 0.1, 0.0]])
    raised, ranked = health.apply(scores, flags, 1.5, channels)
    assert raised.tolist() == [FLOOR_RATIO * 1.5, 7.0, 0.1]
    assert ranked is not None
    assert [int(np.argmax(r)) for r in ranked[:2]] == [1, 0]
    assert ranked[2].tolist() == channels[2].tolist()


def faulty_series(rows: int, seed: int) -> np.ndarray:
    """The stream fixture with a dropout of the first channel and the third stuck."""
    data = series(rows, seed=seed)
    data[120:140, 0] = np.nan
    data[200:260, 2] = data[200, 2]
    return data


@pytest.fixture(params=["plain", "adaptive"])
def health_models(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    adaptive = {"span": 30, "hold": 3, "max_freeze": 100} if request.param == "adaptive" else None
    config = TrainConfig("pca", window=WINDOW, threshold={"kind": "quantile"}, adaptive=adaptive)
    model = train(series(400, seed=1), config)
    save_trained(tmp_path, model, dataset="synthetic", entity="e1", channels=CHANNELS)
    return tmp_path


def test_dropouts_and_stuck_sensors_are_scored_alike_in_the_stream_and_offline(
    health_models: Path,
) -> None:
    data = faulty_series(320, seed=5)
    proc = processor(health_models)
    results = run_cycles(proc, messages(mixed_messages("e1", data, seed=3)), seed=4)
    scores = decode_scores([(o.topic, o.value) for o in outputs(results)], "synthetic")
    model = proc.entities[("synthetic", "e1")].model.model
    assert model.health is not None and model.health.watch_flat == (True, True, True)
    offline, _ = score_series(model, data)
    np.testing.assert_allclose(
        [s.score for s in scores], offline[WINDOW - 1 :], rtol=1e-5, atol=1e-6
    )
    flagged = {s.seq for s in scores if s.score >= FLOOR_RATIO * model.threshold.value}
    assert set(range(120, 140)) <= flagged, "every missing reading"
    assert set(range(209, 260)) <= flagged, "every reading from the 10th equal one on"
    alerts = [decode(o.value, Alert) for o in outputs(results) if o.topic == "alerts"]
    named = {a.top_channels[0].channel for a in alerts if a.state.value == "opened"}
    assert {"flow", "temp"} <= named, f"the alerts name the faulty channels: {named}"


def test_a_model_saved_without_the_rules_scores_as_before(tmp_path: Path) -> None:
    config = TrainConfig("pca", window=WINDOW, threshold={"kind": "quantile"}, health=False)
    model = train(series(400, seed=1), config)
    path = save_trained(tmp_path, model, dataset="synthetic", entity="e1", channels=CHANNELS)
    loaded, meta = load_trained(path)
    assert "health" not in meta and loaded.health is None
    data = faulty_series(300, seed=6)
    scores, _ = score_series(loaded, data)
    assert (scores[200:260] < loaded.threshold.value).mean() > 0.5, "stuck goes unseen"


def test_a_batch_with_a_missing_value_is_flagged_in_the_stream(health_models: Path) -> None:
    data = series(40, seed=7)
    data[30, 1] = np.nan
    result = processor(health_models).process(messages([batch("synthetic", "e1", 0, data)]))
    (flagged,) = [
        s
        for s in decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
        if s.seq == 30
    ]
    assert flagged.is_anomaly and flagged.top_channels[0].channel == "pressure"


def test_the_run_check_equals_its_definition_on_random_series() -> None:
    """`_flat` counts breaks (O(rows x channels)); it must say what comparing every run of
    `rows` readings with its first says, NaN breaking a run."""
    from detectors.sensor_health import _flat

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, channels, rows = (
            int(rng.integers(1, 60)),
            int(rng.integers(1, 5)),
            int(rng.integers(2, 12)),
        )
        raw = np.round(rng.normal(size=(n, channels)) * rng.choice([0.3, 3.0]))
        raw[rng.random((n, channels)) < 0.05] = np.nan
        if n < rows:
            assert _flat(raw, rows).shape == (0, channels)
            continue
        runs = np.lib.stride_tricks.sliding_window_view(raw, rows, axis=0)
        np.testing.assert_array_equal(_flat(raw, rows), (runs == runs[:, :, :1]).all(axis=2))
