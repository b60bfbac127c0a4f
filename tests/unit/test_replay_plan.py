"""The replay's order and messages, on small in-memory entities (no Kafka)."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest

from producers.datasets import EntityData, Split
from producers.pacing import Pacer
from producers.replay_plan import ReplayPlan
from schemas import Reading, ReadingBatch, decode

T0 = np.datetime64("2026-01-01T00:00:00", "ns")


def entity(name: str, rows: int, offset_s: int = 0, step_s: int = 2) -> EntityData:
    times = T0 + np.arange(rows) * np.timedelta64(step_s, "s") + np.timedelta64(offset_s, "s")
    values = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2)
    labels = (np.arange(rows) % 3 == 0).astype(np.int8)
    split = Split(values, times, labels)
    return EntityData("synthetic", name, ("a", "b"), train=split, test=split)


def readings_of(plan: ReplayPlan, **kwargs: int | None) -> list[Reading]:
    out: list[Reading] = []
    for message in plan.messages(**kwargs):
        if plan.batch_rows == 1:
            out.append(decode(message.value, Reading))
        else:
            out.extend(decode(message.value, ReadingBatch).readings())
    return out


def test_rows_of_all_entities_come_in_event_time_order() -> None:
    plan = ReplayPlan([entity("e1", 4, offset_s=1), entity("e0", 4)], "test")

    readings = readings_of(plan)

    assert [(r.entity, r.seq) for r in readings] == [
        ("e0", 0),
        ("e1", 0),
        ("e0", 1),
        ("e1", 1),
        ("e0", 2),
        ("e1", 2),
        ("e0", 3),
        ("e1", 3),
    ]
    times = [r.event_time for r in readings]
    assert times == sorted(times)
    assert readings[0].values == {"a": 0.0, "b": 1.0}
    assert [r.label for r in readings if r.entity == "e0"] == [1, 0, 0, 1]


def test_batches_pack_consecutive_rows_of_one_entity() -> None:
    plan = ReplayPlan([entity("e0", 5), entity("e1", 3, offset_s=1)], "test", batch_rows=2)

    messages = [decode(m.value, ReadingBatch) for m in plan.messages()]

    assert [(b.entity, b.first_seq, len(b.rows)) for b in messages] == [
        ("e0", 0, 2),
        ("e1", 0, 2),
        ("e0", 2, 2),
        ("e1", 2, 1),
        ("e0", 4, 1),
    ]
    assert messages[0].rows == [[0.0, 1.0], [2.0, 3.0]]
    assert messages[0].labels == [1, 0]


def test_limit_is_exact_even_when_it_cuts_a_batch() -> None:
    plan = ReplayPlan([entity("e0", 10)], "test", batch_rows=4)

    readings = readings_of(plan, limit=6)

    assert [r.seq for r in readings] == [0, 1, 2, 3, 4, 5]


def test_looping_continues_seq_and_event_time() -> None:
    plan = ReplayPlan([entity("e0", 3)], "test")

    readings = readings_of(plan, loops=2)

    assert [r.seq for r in readings] == [0, 1, 2, 3, 4, 5]
    gaps = {(b.event_time - a.event_time).total_seconds() for a, b in pairwise(readings)}
    assert gaps == {2.0}, "the second pass should continue at the data's own step"


def test_missing_values_are_null_and_infinite_ones_are_refused() -> None:
    data = entity("e0", 2)
    data.test.values[1, 0] = np.nan
    plan = ReplayPlan([data], "test")

    second = list(plan.messages())[1]

    assert json.loads(second.value)["values"] == {"a": None, "b": 3.0}
    data.test.values[0, 1] = np.inf
    with pytest.raises(ValueError, match="infinite value in channel b at row 0"):
        ReplayPlan([data], "test")


def test_a_bad_dataset_name_is_caught_before_anything_is_sent() -> None:
    data = entity("e0", 2)
    bad = EntityData("Not A Slug", "e0", data.channels, data.train, data.test)
    plan = ReplayPlan([bad], "test")

    with pytest.raises(ValueError, match="dataset"):
        plan.validate_first_messages()


def test_rate_pacing_spaces_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    now = [100.0]
    monkeypatch.setattr("producers.pacing.time.perf_counter", lambda: now[0])
    monkeypatch.setattr("producers.pacing.time.sleep", slept.append)
    pacer = Pacer(rate=10)

    for _ in range(3):
        pacer.wait(0, readings=1)

    assert slept == pytest.approx([0.1, 0.2])


def test_speed_pacing_follows_event_time(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("producers.pacing.time.perf_counter", lambda: 5.0)
    monkeypatch.setattr("producers.pacing.time.sleep", slept.append)
    pacer = Pacer(speed=4)

    pacer.wait(0, 1)
    pacer.wait(8_000_000_000, 1)  # 8 s of event time at 4x: due 2 s after the first

    assert slept == pytest.approx([2.0])
    with pytest.raises(ValueError):
        Pacer(speed=1, rate=1)
