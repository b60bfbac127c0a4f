"""Cold start in the stream: an entity without a model learns one from its first readings.

The probation's model must be exactly `train(first N rows)` and its scores those of the
offline cold start (`score_series` with the probation as context), however the stream is
cut into cycles, restored or restarted after the model was saved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from pydantic import ValidationError
from stream_fixtures import CHANNELS, WINDOW, decode_scores, reading, series
from test_stream_processor import TOPIC, messages, mixed_messages, outputs, run_cycles, strip

import stream_app.probation
from detectors.artifacts import model_versions
from detectors.pipeline import TrainedModel, data_hash, load_trained, score_series, train
from producers.datasets.base import EntityData, Split
from producers.datasets.cold_start import cold_start
from stream_app.messages import InMessage
from stream_app.model_store import ModelStore
from stream_app.processor import Processor
from stream_app.restore import restore_from_snapshots
from stream_app.settings import AlertPolicy, WorkerSettings

ROWS = 200
LEARN = {
    "unknown_entity": "learn",
    "cold_start_rows": ROWS,
    "cold_start_window": WINDOW,
    "cold_start_threshold": "quantile",
}


def learner(models: Path, **settings: object) -> Processor:
    worker = WorkerSettings(models_dir=models, **{**LEARN, **settings})  # type: ignore[arg-type]
    store = ModelStore(models, refresh_s=0.0, dataset_fallback=False)
    return Processor(store, worker, AlertPolicy(consecutive=2, quiet=3, update_every=5))


def state_snapshots(proc: Processor, results: list) -> dict[str, dict[str, object]]:  # type: ignore[type-arg]
    return {
        orjson.loads(o.value)["entity"]: orjson.loads(o.value)
        for o in outputs(results)
        if o.topic == proc.out.state_topic
    }


def offline(models: Path, entity: str, data: np.ndarray) -> tuple[TrainedModel, np.ndarray]:
    """The learnt model as saved, and the offline cold start's scores of the rest."""
    (path,) = model_versions(models, "synthetic", entity, "pca")
    model, meta = load_trained(path)
    assert tuple(meta["channels"]) == CHANNELS
    scores, _ = score_series(model, data[ROWS:], context=data[:ROWS])
    return model, scores


@pytest.fixture(params=["adaptive", "plain"])
def adaptive(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "adaptive")


def test_a_probation_learns_from_exactly_its_first_rows_and_then_scores_like_offline(
    tmp_path: Path, adaptive: bool
) -> None:
    data = series(600, seed=21, spike_at=450)
    proc = learner(tmp_path, cold_start_adaptive=adaptive)
    results = run_cycles(proc, messages(mixed_messages("e9", data, seed=2)), seed=3)
    scores = decode_scores([(o.topic, o.value) for o in outputs(results)], "synthetic")
    assert [s.seq for s in scores] == list(range(ROWS, 600)), "scored from the probation on"
    model, expected = offline(tmp_path, "e9", data)
    assert model.train_hash == data_hash(data[:ROWS])
    assert (model.adaptation is not None) == adaptive
    direct = train(data[:ROWS], WorkerSettings(**LEARN).cold_start_config())  # type: ignore[arg-type]
    # cold_start_adaptive only decides whether the statistics exist; threshold from the same rows
    if adaptive:
        assert model.threshold.value == pytest.approx(direct.threshold.value, rel=1e-9)
    np.testing.assert_allclose([s.score for s in scores], expected, rtol=1e-5, atol=1e-6)
    assert any(s.is_anomaly for s in scores if 450 <= s.seq < 460), "the spike is flagged"
    assert sum(r.learned for r in results) == 1
    assert not proc.probations and ("synthetic", "e9") in proc.entities


def test_the_offline_cold_start_split_scores_the_same_rows_the_same_way(tmp_path: Path) -> None:
    """`evaluate --cold-start N`'s path: cold_start() re-splits, test rows follow train."""
    data = series(600, seed=22)
    times = np.arange(600).astype("datetime64[s]").astype("datetime64[ns]")
    entity = EntityData("synthetic", "e9", CHANNELS, Split(data[:0], times[:0]), Split(data, times))
    split = cold_start(entity, ROWS)
    assert split.test_follows_train and len(split.train.values) == ROWS
    proc = learner(tmp_path)
    results = run_cycles(proc, messages(mixed_messages("e9", data, seed=5)), seed=6)
    stream = [
        s.score for s in decode_scores([(o.topic, o.value) for o in outputs(results)], "synthetic")
    ]
    model = train(split.train.values, WorkerSettings(**LEARN).cold_start_config())  # type: ignore[arg-type]
    scores, _ = score_series(model, split.test.values, context=split.train.values)
    np.testing.assert_allclose(stream, scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cut_at", [0.2, 0.5, 0.8])
def test_a_restore_mid_probation_or_after_it_goes_on_like_an_uninterrupted_run(
    tmp_path: Path, cut_at: float
) -> None:
    data = series(500, seed=23, spike_at=350)
    msgs = messages(mixed_messages("e9", data, seed=7))
    whole_dir, cut_dir = tmp_path / "whole", tmp_path / "cut"
    whole = outputs(run_cycles(learner(whole_dir), msgs, seed=8))
    cut = int(len(msgs) * cut_at)
    first = learner(cut_dir)
    before = run_cycles(first, msgs[:cut], seed=9)
    snaps = state_snapshots(first, before)
    assert ("probation" in snaps["e9"]) == (first.probations != {})
    second = learner(cut_dir)
    assert restore_from_snapshots(second, TOPIC, 0, snaps, msgs[:cut]) == 1
    after = outputs(run_cycles(second, msgs[cut:], seed=10))
    state = first.out.state_topic
    expected = [(o.topic, o.value) for o in whole if o.topic != state]
    got = [(o.topic, o.value) for o in outputs(before) + after if o.topic != state]
    assert strip(got) == strip(expected)
    assert len(model_versions(cut_dir, "synthetic", "e9", "pca")) == 1


def test_a_worker_killed_after_saving_the_model_serves_it_again_and_saves_no_twin(
    tmp_path: Path,
) -> None:
    data = series(400, seed=24)
    msgs = messages(mixed_messages("e9", data, seed=11))
    first = learner(tmp_path)
    results: list = []  # type: ignore[type-arg]
    done = 0
    for message in msgs:  # one message a cycle, up to the cycle that graduates
        results.append(first.process([message]))
        done += 1
        if results[-1].learned:
            break
    # That cycle never committed: restore from the snapshots before it, replay it.
    snaps = state_snapshots(first, results[:-1])
    second = learner(tmp_path)
    restore_from_snapshots(second, TOPIC, 0, snaps, msgs[: done - 1])
    replayed = outputs([second.process(msgs[done - 1 :])])
    assert len(model_versions(tmp_path, "synthetic", "e9", "pca")) == 1, "no twin version"
    scores = decode_scores([(o.topic, o.value) for o in replayed], "synthetic")
    _, expected = offline(tmp_path, "e9", data)
    np.testing.assert_allclose([s.score for s in scores], expected, rtol=1e-5, atol=1e-6)


def test_a_failed_training_dead_letters_the_rows_beyond_and_learns_from_the_next_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = series(700, seed=25)
    real_train = stream_app.probation.train  # type: ignore[attr-defined]
    calls: list[int] = []

    def flaky(values: np.ndarray, config: object) -> TrainedModel:
        calls.append(len(values))
        if len(calls) == 1:
            raise ValueError("singular covariance")
        return real_train(values, config)  # type: ignore[arg-type]

    monkeypatch.setattr(stream_app.probation, "train", flaky)
    proc = learner(tmp_path)
    batches = [
        InMessage(TOPIC, 0, i, b"e9", msg, 1_000 + i)
        for i, msg in enumerate(
            [reading("synthetic", "e9", s, data[s]) for s in range(0, 250)]
            + [reading("synthetic", "e9", s, data[s]) for s in range(250, 700)]
        )
    ]
    first = proc.process(batches[:250])  # the probation fills at 200; 50 rows beyond
    assert first.dead_letters["internal"] == 50 and first.learned == 0
    (example,) = first.dead_letter_examples.values()
    assert "learning a model for synthetic/e9 failed: ValueError: singular covariance" in example
    second = proc.process(batches[250:])
    scores = decode_scores([(o.topic, o.value) for o in second.outputs], "synthetic")
    assert second.learned == 1 and calls == [ROWS, ROWS]
    (path,) = model_versions(tmp_path, "synthetic", "e9", "pca")
    model, _ = load_trained(path)
    assert model.train_hash == data_hash(data[250:450]), "the next 200 rows taught it"
    assert [s.seq for s in scores] == list(range(450, 700))


def test_readings_that_do_not_fit_the_probations_channels_are_dead_lettered(
    tmp_path: Path,
) -> None:
    proc = learner(tmp_path)
    good = reading("synthetic", "e9", 0, series(1, seed=1)[0])
    bad = good.replace(b'"temp"', b'"humidity"').replace(b'"seq":0', b'"seq":1')
    result = proc.process(messages([good, bad]))
    assert result.dead_letters == {"channels": 1}
    assert "probation of synthetic/e9" in next(iter(result.dead_letter_examples.values()))
    assert proc.probations[("synthetic", "e9")].held == 1


def test_an_entity_with_a_model_of_its_own_has_no_probation(tmp_path: Path) -> None:
    from stream_fixtures import train_model

    train_model(tmp_path, "synthetic", "e1", seed=1)
    proc = learner(tmp_path)
    proc.process(messages(mixed_messages("e1", series(50, seed=2), seed=1)))
    assert not proc.probations and ("synthetic", "e1") in proc.entities


def test_settings_refuse_a_deep_detector_and_a_probation_shorter_than_two_windows() -> None:
    with pytest.raises(ValidationError, match="trains for minutes"):
        WorkerSettings(cold_start_detector="lstm_ed")
    with pytest.raises(ValidationError, match="at least 200"):
        WorkerSettings(unknown_entity="learn", cold_start_rows=150)
    with pytest.raises(ValidationError, match="unknown threshold"):
        WorkerSettings(cold_start_threshold="magic")
