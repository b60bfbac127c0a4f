"""Which readings a retrain leaves out: alert spans from alert messages, and labels."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

import retraining.exclusion
from retraining.exclusion import AlertSpan, alert_spans, exclude
from retraining.readings import EntityReadings, decode_alerts, gather_readings
from schemas import Alert, AlertState, Reading, encode, encode_reading_batch

T = datetime(2026, 1, 1, tzinfo=UTC)


def alert(entity: str, start: int, state: str, end: int | None = None, **more: Any) -> Alert:
    return Alert(
        alert_id=f"ds/{entity}/{start}",
        dataset=more.pop("dataset", "ds"),
        entity=entity,
        state=AlertState(state),
        start_seq=start,
        end_seq=end,
        start_time=T,
        end_time=None if end is None else T,
        peak_score=3.0,
        threshold=1.0,
        detector="pca",
        model_version="v1",
        emitted_at=T,
        **more,
    )


def test_the_last_message_of_each_alert_decides_its_span() -> None:
    spans = alert_spans(
        [
            alert("a", 10, "opened"),
            alert("a", 10, "updated"),
            alert("a", 10, "resolved", 20),
            alert("a", 50, "opened"),  # still open: covers everything after its start
            alert("b", 5, "opened"),
            alert("c", 7, "opened", dataset="other"),
        ],
        "ds",
    )
    assert spans == {
        "a": [AlertSpan("ds/a/10", 10, 20), AlertSpan("ds/a/50", 50, None)],
        "b": [AlertSpan("ds/b/5", 5, None)],
    }


def test_a_resolved_alert_stays_resolved_whatever_comes_after() -> None:
    spans = alert_spans([alert("a", 10, "resolved", 12), alert("a", 10, "updated")], "ds")
    assert spans == {"a": [AlertSpan("ds/a/10", 10, 12)]}


def test_rows_inside_alerts_and_labelled_rows_are_left_out() -> None:
    seqs = np.arange(100, 130)
    labels = np.full(30, -1)
    labels[[2, 15, 28]] = 1  # seq 102, 115 (inside the first alert), 128
    spans = [AlertSpan("x", 110, 117), AlertSpan("y", 125, None)]
    out = exclude(seqs, labels, spans, lead=3)
    left_out = seqs[~out.keep].tolist()
    assert left_out == [102, *range(107, 118), *range(122, 130)]
    assert out.in_alerts == 11 + 8
    assert out.labelled == 1  # 115 and 128 were in alerts already


def test_no_spans_and_no_labels_keep_everything() -> None:
    out = exclude([1, 2, 3], [-1, 0, -1], [])
    assert out.keep.all() and out.in_alerts == out.labelled == 0


def test_seqs_and_labels_must_match() -> None:
    with pytest.raises(ValueError, match="3 seqs but 2 labels"):
        exclude([1, 2, 3], [0, 0], [])


def test_readings_are_gathered_per_entity_in_seq_order_once_each() -> None:
    single = Reading(
        dataset="ds", entity="a", seq=5, event_time=T, values={"x": 1.0, "y": None}, label=1
    )
    again = single.model_copy(update={"values": {"x": 9.0, "y": 2.0}, "label": 0})
    batch = encode_reading_batch(
        dataset="ds",
        entity="a",
        first_seq=2,
        event_times=[T.isoformat()] * 2,
        channels=["y", "x"],
        rows=np.array([[1.0, 2.0], [3.0, 4.0]]),
        labels=None,
    )
    other = Reading(dataset="zz", entity="a", seq=1, event_time=T, values={"x": 0.0})
    gathered, skipped = gather_readings(
        [encode(single), batch, b"{not json", encode(other), encode(again)], "ds"
    )
    assert skipped == 1 and list(gathered) == ["a"]
    seqs, labels, rows = gathered["a"].arrays(["x", "y", "z"])
    assert seqs.tolist() == [2, 3, 5]
    assert labels.tolist() == [-1, -1, 0]  # the later copy of seq 5 wins
    np.testing.assert_array_equal(
        rows, [[2.0, 1.0, np.nan], [4.0, 3.0, np.nan], [9.0, 2.0, np.nan]]
    )


def test_only_alerts_are_decoded_from_the_alerts_topic() -> None:
    assert decode_alerts([encode(alert("a", 1, "opened")), b"{}", b"junk"]) == [
        alert("a", 1, "opened")
    ]


def test_entity_readings_count_what_was_added() -> None:
    readings = EntityReadings("a")
    readings.add(Reading(dataset="ds", entity="a", seq=0, event_time=T, values={"x": 1.0}))
    assert len(readings) == 1


def test_docstring_examples() -> None:
    assert doctest.testmod(retraining.exclusion).failed == 0
