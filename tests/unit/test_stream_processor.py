"""The worker's cycle without a broker: parity with the offline scorer, restore, bad input."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from stream_fixtures import WINDOW, batch, decode_scores, reading, series, train_model

from detectors.pipeline import score_series
from schemas import DEADLETTER_TOPIC, Alert, DeadLetter, ScoreBatch, decode
from stream_app.messages import InMessage, OutMessage
from stream_app.model_store import DATASET_MODEL, ModelStore
from stream_app.processor import CycleResult, Processor
from stream_app.restore import restore_from_snapshots
from stream_app.settings import AlertPolicy, WorkerSettings

TOPIC = "readings.synthetic"


def processor(models: Path, **settings: object) -> Processor:
    worker = WorkerSettings(models_dir=models, **settings)  # type: ignore[arg-type]
    store = ModelStore(models, refresh_s=0.0, dataset_fallback=worker.unknown_entity == "dataset")
    return Processor(store, worker, AlertPolicy(consecutive=2, quiet=3, update_every=5))


def messages(values: list[bytes], start_offset: int = 0, partition: int = 0) -> list[InMessage]:
    return [
        InMessage(TOPIC, partition, start_offset + i, b"e", v, 1_000 + i)
        for i, v in enumerate(values)
    ]


NAN_READING = (
    b'{"dataset":"synthetic","entity":"e1","seq":50,'
    b'"event_time":"2026-01-01T00:00:00Z","values":{"flow":NaN}}'
)
PROCESSING_TIMES = {"ingested_at", "scored_at", "emitted_at"}


# Adaptive statistics are summed in blocks whose bounds follow the cycles, so two runs cut
# into other cycles agree to rounding, not bit for bit; plain models agree exactly.
NUMBERS = ("score", "scores", "peak_score", "top_channels")


def strip(pairs: list[tuple[str, bytes]]) -> list[tuple[str, dict[str, object]]]:
    """Messages without the times of processing, which differ between runs, and with
    scores rounded to 9 significant digits. Scores are compared one by one: how a cycle's
    consecutive scores are framed into ScoreBatch records depends on where cycles end. Each
    topic's records keep their order; the topics are compared one after another."""
    out: list[tuple[str, dict[str, object]]] = []
    for t, value in pairs:
        if t.startswith("scores.") and b'"first_seq"' in value:
            docs = [s.model_dump(mode="json") for s in decode(value, ScoreBatch).expand()]
        else:
            docs = [orjson.loads(value)]
        out += [
            (t, {k: _round(v) if k in NUMBERS else v for k, v in doc.items()
                 if k not in PROCESSING_TIMES})
            for doc in docs
        ]  # fmt: skip
    return sorted(out, key=lambda pair: pair[0])


def _round(value: object) -> object:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def mixed_messages(entity: str, data: np.ndarray, seed: int) -> list[bytes]:
    """The series as a random mix of single readings and batches of 1-40 rows."""
    rng = random.Random(seed)
    out, seq = [], 0
    while seq < len(data):
        size = rng.choice([1, 1, 3, 17, 40])
        rows = data[seq : seq + size]
        out.append(
            reading("synthetic", entity, seq, rows[0])
            if len(rows) == 1
            else batch("synthetic", entity, seq, rows)
        )
        seq += len(rows)
    return out


def run_cycles(proc: Processor, msgs: list[InMessage], seed: int) -> list[CycleResult]:
    rng = random.Random(seed)
    results, i = [], 0
    while i < len(msgs):
        size = rng.randint(1, 12)
        results.append(proc.process(msgs[i : i + size]))
        i += size
    return results


def outputs(results: list[CycleResult]) -> list[OutMessage]:
    return [o for r in results for o in r.outputs]


ADAPTIVE = {"span": 30, "hold": 3, "max_freeze": 100}


@pytest.fixture(params=["plain", "adaptive"])
def models(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Every test runs with plain models and with adaptive ones, whose per-entity
    statistics must carry through cycles, snapshots and restores just the same."""
    adaptive = ADAPTIVE if request.param == "adaptive" else None
    train_model(tmp_path, "synthetic", "e1", seed=1, adaptive=adaptive)
    train_model(tmp_path, "synthetic", "e2", seed=2, adaptive=adaptive)
    return tmp_path


def test_stream_scores_equal_the_offline_scores_for_every_row_after_the_first_window(
    models: Path,
) -> None:
    data = series(300, seed=5, spike_at=200)
    proc = processor(models)
    results = run_cycles(proc, messages(mixed_messages("e1", data, seed=3)), seed=4)
    scores = decode_scores([(o.topic, o.value) for o in outputs(results)], "synthetic")
    assert [s.seq for s in scores] == list(range(WINDOW - 1, 300))
    model = proc.entities[("synthetic", "e1")].model.model
    offline, _ = score_series(model, data)
    np.testing.assert_allclose(
        [s.score for s in scores], offline[WINDOW - 1 :], rtol=1e-5, atol=1e-6
    )
    assert any(s.is_anomaly for s in scores[195:210]), "the spike is flagged"
    assert all(s.model_version == "v1" and s.detector == "pca" for s in scores)


def test_entities_are_scored_with_their_own_models_in_one_cycle(models: Path) -> None:
    a, b = series(50, seed=7), series(50, seed=8)
    msgs = messages([batch("synthetic", "e1", 0, a), batch("synthetic", "e2", 0, b)])
    proc = processor(models)
    result = proc.process(msgs)
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    for entity, data in (("e1", a), ("e2", b)):
        mine = [s.score for s in scores if s.entity == entity]
        offline, _ = score_series(proc.entities[("synthetic", entity)].model.model, data)
        np.testing.assert_allclose(mine, offline[WINDOW - 1 :], rtol=1e-5, atol=1e-6)


def test_a_restored_processor_continues_exactly_like_an_uninterrupted_one(models: Path) -> None:
    data = series(240, seed=9, spike_at=150)
    msgs = messages(mixed_messages("e1", data, seed=11))
    whole = outputs(run_cycles(processor(models), msgs, seed=12))
    cut = len(msgs) // 2
    first = processor(models)
    before = outputs(run_cycles(first, msgs[:cut], seed=13))
    snapshots = {
        orjson.loads(o.value)["entity"]: orjson.loads(o.value)
        for o in before
        if o.topic == first.out.state_topic
    }
    second = processor(models)
    assert restore_from_snapshots(second, TOPIC, 0, snapshots, msgs[:cut]) == 1
    after = outputs(run_cycles(second, msgs[cut:], seed=14))
    expected = [(o.topic, o.value) for o in whole if o.topic != first.out.state_topic]
    got = [(o.topic, o.value) for o in before + after if o.topic != first.out.state_topic]
    assert strip(got) == strip(expected)
    assert any(t == "alerts" for t, _ in expected), "the spike opened an alert to compare"


def test_bad_messages_go_to_dead_letters_with_reasons_and_good_ones_are_still_scored(
    models: Path,
) -> None:
    data = series(40, seed=3)
    good = batch("synthetic", "e1", 0, data)
    bad = {
        b"\xff\xfe not json": "undecodable",
        b'{"dataset": "synthetic", "entity": "e1"}': "schema",
        NAN_READING: "non_finite",
        batch("synthetic", "e1", 40, data[:3])[:-1] + b',"extra":1}': "schema",
        reading("synthetic", "nobody", 0, data[0]): "no_model",
        reading("skab", "e1", 41, data[0]): "dataset_mismatch",
        reading("synthetic", "e1", 10, data[0]): "out_of_order",
        reading("synthetic", "e1", 39, data[0]): "duplicate",
    }
    narrow = batch("synthetic", "e1", 40, data[:2]).replace(b'"temp"', b'"other"')
    bad[narrow] = "channels"
    proc = processor(models, unknown_entity="deadletter")
    result = proc.process(messages([good, *bad]))
    letters = [decode(o.value, DeadLetter) for o in result.outputs if o.topic == DEADLETTER_TOPIC]
    assert [letter.reason.split(":")[0] for letter in letters] == list(bad.values())
    assert [letter.raw for letter in letters] == list(bad)
    assert [letter.offset for letter in letters] == list(range(1, len(bad) + 1))
    assert sum(result.dead_letters.values()) == len(bad)
    assert (
        len(decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic"))
        == 40 - WINDOW + 1
    )


def test_a_partly_duplicated_batch_keeps_its_new_rows(models: Path) -> None:
    data = series(60, seed=3)
    proc = processor(models)
    result = proc.process(
        messages([batch("synthetic", "e1", 0, data[:30]), batch("synthetic", "e1", 20, data[20:])])
    )
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    assert [s.seq for s in scores] == list(range(WINDOW - 1, 60))
    assert result.dead_letters == {"duplicate": 1}


def test_missing_values_go_the_validated_way_and_are_scored(models: Path) -> None:
    data = series(WINDOW + 2, seed=1)
    proc = processor(models)
    msgs = [reading("synthetic", "e1", i, data[i]) for i in range(len(data))]
    msgs[-1] = (
        msgs[-1]
        .replace(b'"temp":', b'"temp":null,"unused":', 1)
        .replace(b',"unused":', b',"x":', 0)
    )
    msgs[-1] = reading("synthetic", "e1", len(data) - 1, data[-1]).replace(
        b'"flow":' + str(data[-1][0]).encode(), b'"flow":null'
    )
    assert b'"flow":null' in msgs[-1]
    result = proc.process(messages(msgs))
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    assert [s.seq for s in scores] == [WINDOW - 1, WINDOW, WINDOW + 1]
    assert not result.dead_letters


def test_the_dataset_model_scores_entities_without_their_own(tmp_path: Path) -> None:
    train_model(tmp_path, "synthetic", DATASET_MODEL, seed=1)
    proc = processor(tmp_path)
    data = series(20, seed=2)
    result = proc.process(messages([batch("synthetic", "new-entity", 0, data)]))
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    assert len(scores) == 20 - WINDOW + 1 and {s.entity for s in scores} == {"new-entity"}


def test_a_new_model_version_is_used_without_a_restart(models: Path) -> None:
    proc = processor(models)
    data = series(60, seed=2)
    proc.process(messages([batch("synthetic", "e1", 0, data[:30])]))
    train_model(models, "synthetic", "e1", seed=99)
    assert proc.apply_model_swaps() == ["synthetic/e1 v1->v2"]
    result = proc.process(messages([batch("synthetic", "e1", 30, data[30:])], start_offset=1))
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    assert [s.seq for s in scores] == list(range(30, 60)), "the window carried over"
    assert {s.model_version for s in scores} == {"v2"}


def test_stride_scores_every_nth_reading(models: Path) -> None:
    data = series(50, seed=4)
    proc = processor(models, stride=5)
    result = proc.process(messages([batch("synthetic", "e1", 0, data)]))
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    assert [s.seq for s in scores] == list(range(WINDOW - 1, 50, 5))


def test_alerts_open_and_resolve_around_a_spike(models: Path) -> None:
    data = series(200, seed=5, spike_at=120)
    proc = processor(models)
    result = proc.process(messages([batch("synthetic", "e1", 0, data)]))
    alerts = [decode(o.value, Alert) for o in result.outputs if o.topic == "alerts"]
    states = [a.state.value for a in alerts]
    assert states[0] == "opened" and "resolved" in states
    opened = alerts[0]
    assert 115 <= opened.start_seq <= 126
    # PCA spreads a broken correlation over both channels in it; the unrelated one is last.
    assert [c.channel for c in opened.top_channels][-1] == "temp"
    assert len({a.alert_id for a in alerts if a.start_seq == opened.start_seq}) == 1


@pytest.mark.parametrize("new_window", [4, 20])
def test_a_new_version_with_another_window_keeps_scoring_from_the_rows_held(
    models: Path, new_window: int
) -> None:
    proc = processor(models)
    data = series(80, seed=2)
    proc.process(messages([batch("synthetic", "e1", 0, data[:30])]))
    train_model(models, "synthetic", "e1", seed=99, window=new_window)
    assert proc.apply_model_swaps() == ["synthetic/e1 v1->v2"]
    result = proc.process(messages([batch("synthetic", "e1", 30, data[30:])], start_offset=1))
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    # A shorter window is full at once from the rows held; a longer one refills first.
    first = 30 if new_window <= WINDOW else 30 + new_window - WINDOW
    assert [s.seq for s in scores] == list(range(first, 80))
    state = proc.entities[("synthetic", "e1")]
    offline, _ = score_series(state.model.model, data)
    np.testing.assert_allclose([s.score for s in scores], offline[first:], rtol=1e-5, atol=1e-6)
    # The rows kept their source offsets (0 for the first batch, 1 for the second).
    assert state.buffer.window_start_offset() == 1


@pytest.mark.parametrize("open_ratio", [0.0, 3.0])
def test_a_lone_reading_far_over_the_threshold_opens_an_alert_at_once(
    models: Path, open_ratio: float
) -> None:
    data = series(200, seed=5)
    data[150, 1] += 40.0  # one reading, far out
    worker = WorkerSettings(models_dir=models)
    store = ModelStore(models, refresh_s=0.0)
    policy = AlertPolicy(consecutive=5, quiet=3, open_ratio=open_ratio)
    proc = Processor(store, worker, policy)
    results = run_cycles(proc, messages(mixed_messages("e1", data, seed=3)), seed=4)
    alerts = [orjson.loads(o.value) for o in outputs(results) if o.topic == "alerts"]
    opened = [a for a in alerts if a["state"] == "opened"]
    if open_ratio == 0.0:
        assert not opened, "five consecutive flags are needed without the far rule"
    else:
        assert opened and opened[0]["start_seq"] == 150
