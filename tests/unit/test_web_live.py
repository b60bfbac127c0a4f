"""The web view's in-memory state: bounded rings, entity cap, paging, alert bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import Alert, AlertState, ChannelContribution, Score
from web.live import LiveState, Ring

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def score(entity: str, seq: int, value: float, anomaly: bool = False, label: int | None = None,
          dataset: str = "plant") -> Score:  # fmt: skip
    top = [ChannelContribution(channel="flow", contribution=value)] if anomaly else []
    return Score(
        dataset=dataset, entity=entity, seq=seq, event_time=T0 + timedelta(seconds=seq),
        score=value, threshold=2.0, is_anomaly=anomaly, detector="pca", model_version="v1",
        top_channels=top, label=label, scored_at=T0,
    )  # fmt: skip


def alert(entity: str, start: int, state: AlertState, end: int | None = None) -> Alert:
    return Alert(
        alert_id=f"plant/{entity}/{start}", dataset="plant", entity=entity, state=state,
        start_seq=start, end_seq=end, start_time=T0 + timedelta(seconds=start),
        end_time=None if end is None else T0 + timedelta(seconds=end), peak_score=9.0,
        threshold=2.0, detector="pca", model_version="v1", emitted_at=T0,
        resolved_by="quiet" if state is AlertState.RESOLVED else None,
    )  # fmt: skip


def test_a_ring_keeps_the_newest_points_oldest_first() -> None:
    ring = Ring(4)
    for seq in range(10):
        ring.add(score("e", seq, float(seq), label=1 if seq == 8 else None))
    columns = ring.columns()
    assert columns["seq"] == [6, 7, 8, 9] and columns["score"] == [6.0, 7.0, 8.0, 9.0]
    assert columns["label"] == [None, None, 1, None]
    assert ring.columns(since_seq=7)["seq"] == [8, 9]
    assert ring.columns(last=1)["seq"] == [9]


def test_entities_beyond_the_cap_are_counted_not_kept() -> None:
    state = LiveState(points_per_entity=10, max_entities=3)
    state.add_scores(score(f"e{i}", 0, 1.0) for i in range(5))
    total, items = state.entities()
    assert total == 3 and [i["entity"] for i in items] == ["e0", "e1", "e2"]
    assert state.counts()["entities_over_cap"] == 2


def test_pages_search_and_anomalous_filter() -> None:
    state = LiveState()
    state.add_scores(score(f"pump-{i:02d}", 0, 1.0, anomaly=i % 10 == 0) for i in range(30))
    total, page = state.entities(match="pump-1*", offset=2, limit=3)
    assert total == 10 and [i["entity"] for i in page] == ["pump-12", "pump-13", "pump-14"]
    assert state.entities(match="-2")[0] == 10, "a substring matches too"
    total, hot = state.entities(anomalous_only=True)
    assert [i["entity"] for i in hot] == ["pump-00", "pump-10", "pump-20"]
    assert hot[0]["top_channels"] == [{"channel": "flow", "contribution": 1.0}]


def test_alerts_are_kept_open_and_the_resolved_ones_bounded() -> None:
    state = LiveState(recent_alerts=2)
    state.add_alert(alert("a", 1, AlertState.OPENED))
    for start in (10, 20, 30):
        state.add_alert(alert("b", start, AlertState.OPENED))
        state.add_alert(alert("b", start, AlertState.RESOLVED, start + 5))
    assert [a["alert_id"] for a in state.alerts("open")] == ["plant/a/1"]
    assert [a["alert_id"] for a in state.alerts("resolved")] == ["plant/b/30", "plant/b/20"]
    state.add_scores([score("a", 5, 1.0)])
    assert state.entities()[1][0]["open_alerts"] == 1


def test_listeners_hear_one_event_per_entity_and_batch() -> None:
    state = LiveState()
    heard: list[dict[str, Any]] = []
    cancel = state.subscribe(heard.append)
    state.add_scores([score("a", 0, 1.0), score("a", 1, 3.0, anomaly=True), score("b", 0, 1.0)])
    state.add_alert(alert("a", 1, AlertState.OPENED))
    cancel()
    state.add_scores([score("a", 2, 1.0)])
    assert [(e["type"], e.get("entity")) for e in heard] == [
        ("scores", "a"), ("scores", "b"), ("alert", None),
    ]  # fmt: skip
    assert heard[0]["points"]["seq"] == [0, 1]
    assert heard[0]["points"]["top"] == [None, {"flow": 3.0}]
    found = state.scores("plant", "a")
    assert found is not None and found["channels"] == {"flow": {"seq": [1], "value": [3.0]}}
