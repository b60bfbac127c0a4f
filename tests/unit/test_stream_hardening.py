"""The worker's defences without a broker: odd input, failing models, silence, liveness."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from stream_fixtures import CHANNELS, WINDOW, batch, decode_scores, reading, series, times
from stream_fixtures import train_model as train

from schemas import DEADLETTER_TOPIC, Alert, DeadLetter, decode, encode_reading
from stream_app.deadletter_log import DeadLetterLog
from stream_app.liveness import Liveness
from stream_app.messages import InMessage
from stream_app.metrics import WorkerMetrics
from stream_app.model_store import ModelStore
from stream_app.processor import CycleResult, Processor
from stream_app.restore import rebuild_without_snapshots
from stream_app.settings import AlertPolicy, WorkerSettings

TOPIC = "readings.synthetic"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def processor(models: Path, clock: Clock | None = None, **settings: object) -> Processor:
    worker = WorkerSettings(models_dir=models, **settings)  # type: ignore[arg-type]
    store = ModelStore(models, refresh_s=0.0, dataset_fallback=False)
    policy = AlertPolicy(consecutive=2, quiet=3, update_every=50, stale_after_s=60)
    return Processor(store, worker, policy, monotonic=clock or Clock())


def messages(values: list[bytes], start: int = 0) -> list[InMessage]:
    return [InMessage(TOPIC, 0, start + i, b"e1", v, 1_000 + i) for i, v in enumerate(values)]


def letters(result: CycleResult) -> list[DeadLetter]:
    return [decode(o.value, DeadLetter) for o in result.outputs if o.topic == DEADLETTER_TOPIC]


def singles(data: np.ndarray, start: int = 0, entity: str = "e1") -> list[bytes]:
    return [reading("synthetic", entity, start + i, row) for i, row in enumerate(data)]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    train(tmp_path, "synthetic", "e1", seed=1)
    train(tmp_path, "synthetic", "e2", seed=2)
    return tmp_path


def test_a_reading_over_the_size_cap_is_dead_lettered_before_parsing_and_truncated(
    models: Path,
) -> None:
    proc = processor(models, max_reading_bytes=4096, deadletter_max_raw_bytes=1000)
    huge = b'{"dataset":"synthetic",' + b" " * 10_000 + b"}"
    (letter,) = letters(proc.process(messages([huge])))
    assert letter.reason.startswith("too_large: 10024 bytes, over the limit of 4096")
    assert letter.truncated and letter.raw_size == len(huge) and letter.raw == huge[:1000]


def test_small_dead_letters_keep_their_whole_message(models: Path) -> None:
    (letter,) = letters(processor(models).process(messages([b"{not json"])))
    assert letter.raw == b"{not json" and not letter.truncated and letter.raw_size is None


def test_a_wild_seq_is_dead_lettered_and_a_reading_continuing_it_confirms_the_jump(
    models: Path,
) -> None:
    data = series(30, seed=3)
    proc = processor(models, max_seq_jump=1000)
    first = proc.process(messages([batch("synthetic", "e1", 0, data[:20])]))
    assert not letters(first)
    wild = proc.process(messages([reading("synthetic", "e1", 10**9, data[20])], 1))
    assert [d.reason.split(":")[0] for d in letters(wild)] == ["seq_jump"]
    # The good readings go on from seq 20 as if the wild one never came...
    back = proc.process(messages(singles(data[20:25], 20), 2))
    assert not letters(back) and proc.entities[("synthetic", "e1")].last_seq == 24
    # ... unless the stream continues from the jump: then it was real.
    again = proc.process(messages([reading("synthetic", "e1", 10**9 + 1, data[25])], 7))
    assert not letters(again) and again.gaps == 1
    assert proc.entities[("synthetic", "e1")].last_seq == 10**9 + 1


def test_a_seq_sent_as_a_string_is_a_schema_error(models: Path) -> None:
    raw = reading("synthetic", "e1", 5, series(1, seed=1)[0]).replace(b'"seq":5', b'"seq":"5"')
    (letter,) = letters(processor(models).process(messages([raw])))
    assert letter.reason.startswith("schema: Reading.seq")


def test_an_entity_whose_scoring_fails_is_dead_lettered_and_the_others_are_scored(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = processor(models)
    data = series(WINDOW + 5, seed=4)
    broken = proc.store.for_entity("synthetic", "e2")
    assert broken is not None

    def fail(windows: object) -> object:
        raise RuntimeError("the model exploded")

    monkeypatch.setattr(broken.model.detector, "score", fail)
    result = proc.process(
        messages([batch("synthetic", "e1", 0, data), batch("synthetic", "e2", 0, data)])
    )
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    assert {s.entity for s in scores} == {"e1"} and len(scores) == 6
    (letter,) = letters(result)
    assert letter.reason.startswith("internal: scoring synthetic/e2 failed: RuntimeError")
    assert ("synthetic", "e2") not in proc.entities


def test_an_incident_whose_clock_goes_back_still_ends_after_it_starts(models: Path) -> None:
    data = series(140, seed=5, spike_at=100)
    values = []
    for seq, row in enumerate(data):
        when = times(seq - 3600 if seq >= 103 else seq, 1)[0]
        values.append(
            encode_reading(
                dataset="synthetic",
                entity="e1",
                seq=seq,
                event_time=when,
                values=dict(zip(CHANNELS, row.tolist(), strict=True)),
                label=None,
            )  # fmt: skip
        )
    result = processor(models).process(messages(values))
    alerts = [decode(o.value, Alert) for o in result.outputs if o.topic == "alerts"]
    resolved = [a for a in alerts if a.state.value == "resolved"]
    assert resolved and all(a.end_time is not None and a.end_time >= a.start_time for a in resolved)


def test_an_open_alert_resolves_as_stale_after_the_silence_in_wall_time(models: Path) -> None:
    clock = Clock()
    proc = processor(models, clock)
    proc.process(messages([batch("synthetic", "e1", 0, series(106, seed=6, spike_at=100))]))
    assert proc.entities[("synthetic", "e1")].tracker.is_open
    clock.now += 59
    assert not proc.resolve_stale().outputs
    clock.now += 2
    result = proc.resolve_stale()
    (alert,) = [decode(o.value, Alert) for o in result.outputs if o.topic == "alerts"]
    assert alert.state.value == "resolved" and alert.resolved_by == "stale"
    assert result.stale_resolved == 1 and not proc.entities[("synthetic", "e1")].tracker.is_open
    assert any(o.topic.endswith("-state") for o in result.outputs), "the snapshot goes too"


def test_windows_are_rebuilt_from_readings_when_no_snapshot_is_left(models: Path) -> None:
    data = series(60, seed=7)
    history = messages(singles(data[:40]))
    proc = processor(models)
    assert rebuild_without_snapshots(proc, TOPIC, 0, history) == 1
    result = proc.process(messages(singles(data[40:], 40), 40))
    scores = decode_scores([(o.topic, o.value) for o in result.outputs], "synthetic")
    uninterrupted = processor(models).process(messages(singles(data)))
    expected = decode_scores([(o.topic, o.value) for o in uninterrupted.outputs], "synthetic")
    assert [(s.seq, s.score) for s in scores] == [(s.seq, s.score) for s in expected[-20:]]


def test_a_broken_newest_version_falls_back_and_is_logged_once_until_it_changes(
    models: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = models / "synthetic" / "e1" / "pca"
    shutil.copytree(base / "v1", base / "v2")
    (base / "v2" / "state.npz").write_bytes(b"garbage")
    failures: list[tuple[str, str]] = []
    store = ModelStore(models, refresh_s=0.0, on_load_failure=lambda d, k: failures.append((d, k)))
    with caplog.at_level(logging.ERROR, logger="stream_app.model_store"):
        model = store.for_entity("synthetic", "e1")
        assert model is not None and model.version == "v1"
        for _ in range(5):
            assert store.refresh() == []
    assert failures == [("synthetic", "pca")]
    assert sum("cannot load the model" in r.message for r in caplog.records) == 1
    # Repaired in place: the next refresh serves it.
    shutil.copy(base / "v1" / "state.npz", base / "v2" / "state.npz")
    os.utime(base / "v2" / "state.npz", (1e9, 2e9))
    assert [swap.new.version for swap in store.refresh()] == ["v2"]


def test_a_newer_model_of_another_detector_never_replaces_the_one_served(models: Path) -> None:
    store = ModelStore(models, refresh_s=0.0)
    assert store.for_entity("synthetic", "e1").detector == "pca"  # type: ignore[union-attr]
    train(models, "synthetic", "e1", seed=3, detector="raw")
    assert store.refresh() == []
    fresh = ModelStore(models, refresh_s=0.0)
    assert fresh.for_entity("synthetic", "e1").detector == "raw"  # type: ignore[union-attr]
    # A restored entity says which detector it was served with.
    kept = fresh.for_entity("synthetic", "e1", prefer="pca")
    assert kept is not None and kept.detector == "pca"


def test_an_unknown_detector_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown detector 'nosuch'; known: raw, pca"):
        WorkerSettings(detector="nosuch")


def test_detector_time_is_labelled_by_dataset_and_detector_not_by_entity() -> None:
    metrics = WorkerMetrics()
    result = CycleResult(detector_calls=[("smd", "pca", 0.01, 5), ("smd", "pca", 0.02, 7)])
    metrics.record_cycle(result, committed_ms=0)
    text = metrics.exposition().decode()
    assert 'anomstream_worker_detector_seconds_count{dataset="smd",detector="pca"} 2.0' in text
    assert "model=" not in text


def test_liveness_fails_health_on_a_stall_and_readiness_during_an_outage() -> None:
    clock = Clock()
    live = Liveness(stall_timeout_s=30, clock=clock)
    live.engine_running = True
    assert live.health()[0] and live.readiness()[0]
    assert live.broker_down() and not live.broker_down()  # said once
    assert live.health()[0] and not live.readiness()[0]
    clock.now += 5
    assert live.broker_up() == 5
    clock.now += 31
    ok, detail = live.health()
    assert not ok and detail["loop_seconds_ago"] == 36
    live.beat()
    assert live.health()[0]
    live.engine_running = False
    assert not live.health()[0]


def test_dead_letters_are_logged_at_first_and_then_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = DeadLetterLog(interval_s=30, clock=clock)
    result = CycleResult()
    for entity in ("a", "a", "b"):
        result.dead_letter_entities[("no_model", entity)] += 1
    result.dead_letter_examples["no_model"] = "no model for smd/a"
    with caplog.at_level(logging.WARNING, logger="stream_app.deadletter_log"):
        log.add(result)
        log.add(result)
        assert log.flush() == []
        clock.now += 31
        (line,) = log.flush()
    assert line.startswith("6 dead letters (no_model) in the last 31s: a 4, b 2")
    assert sum("dead letter (no_model)" in r.message for r in caplog.records) == 1
    assert log.flush(force=True) == []
