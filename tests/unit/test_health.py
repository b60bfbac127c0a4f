"""The pure parts of `anomstream health`: status rules, open alerts, model summary, output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from output_messages import make_alert

from anomstream.cli import main
from consumers.health import (
    DatasetHealth,
    ModelSummary,
    model_summary,
    open_alert_ids,
    reading_rows,
    status_reasons,
)
from consumers.health_format import all_ok, format_json, format_table, status_text
from schemas import Alert, AlertState, encode_reading, encode_reading_batch

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def health(**changes: object) -> DatasetHealth:
    fields: dict[str, object] = {
        "dataset": "skab",
        "window_s": 60.0,
        "readings": 120,
        "scores": 30,
        "anomalies": 3,
        "lag": 5,
        "open_alerts": ("a1",),
        "dead_letters": 0,
        "models": ModelSummary(2, "v3", "valve1/0", "pca", "2026-03-01T12:00:00+00:00"),
    }
    fields.update(changes)
    return DatasetHealth(**fields)  # type: ignore[arg-type]


def test_rates_and_ratio() -> None:
    h = health()
    assert h.readings_rate == 2.0
    assert h.scores_rate == 0.5
    assert h.anomaly_ratio == pytest.approx(0.1)
    assert health(scores=0, anomalies=0).anomaly_ratio is None


def test_status_ok_and_each_reason() -> None:
    assert status_reasons(health()) == []
    assert status_text(health()) == "ok"
    assert status_reasons(health(scores=0, anomalies=0)) == ["no scores in window"]
    assert status_reasons(health(lag=1001)) == ["lag 1001"]
    assert status_reasons(health(lag=1000)) == []
    assert status_reasons(health(lag=11), max_lag=10) == ["lag 11"]
    assert status_reasons(health(lag=None)) == []
    assert status_reasons(health(dead_letters=1)) == ["dead letters"]
    every = health(scores=0, anomalies=0, lag=2000, dead_letters=4)
    assert status_text(every) == "no scores in window, lag 2000, dead letters"


def test_all_ok() -> None:
    assert all_ok([health(), health(dataset="smd")])
    assert not all_ok([health(), health(dataset="smd", dead_letters=1)])
    assert all_ok([])


def alert(alert_id: str, state: AlertState, dataset: str = "skab") -> Alert:
    return make_alert(
        state=state, dataset=dataset, alert_id=alert_id, start_seq=1,
        end_seq=5 if state is AlertState.RESOLVED else None,
    )  # fmt: skip


def test_open_alerts_follow_the_last_state() -> None:
    alerts = [
        alert("a1", AlertState.OPENED),
        alert("a2", AlertState.OPENED),
        alert("a1", AlertState.UPDATED),
        alert("a1", AlertState.RESOLVED),
        alert("a3", AlertState.OPENED, dataset="smd"),
        alert("a2", AlertState.UPDATED),
    ]
    assert open_alert_ids(alerts, "skab") == ("a2",)
    assert open_alert_ids(alerts, "smd") == ("a3",)
    assert open_alert_ids(alerts, "wadi") == ()


def write_meta(root: Path, dataset: str, entity: str, detector: str, version: int, at: str) -> None:
    folder = root / dataset / entity / detector / f"v{version}"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"trained_at": at, "detector": detector}))


def test_model_summary(tmp_path: Path) -> None:
    write_meta(tmp_path, "skab", "valve1/0", "pca", 1, "2026-01-01T00:00:00+00:00")
    write_meta(tmp_path, "skab", "valve1/0", "pca", 2, "2026-01-03T00:00:00+00:00")
    write_meta(tmp_path, "skab", "valve2", "iforest", 1, "2026-01-02T00:00:00+00:00")
    write_meta(tmp_path, "smd", "m1", "pca", 7, "2026-02-01T00:00:00+00:00")
    # An unfinished save is not a version.
    hidden = tmp_path / "skab" / "valve3" / "pca" / ".tmp-x"
    hidden.mkdir(parents=True)
    (hidden / "meta.json").write_text("{}")
    summary = model_summary(tmp_path, "skab")
    assert summary == ModelSummary(2, "v2", "valve1/0", "pca", "2026-01-03T00:00:00+00:00")
    assert model_summary(tmp_path, "smd").newest_version == "v7"
    assert model_summary(tmp_path, "wadi") == ModelSummary()


def test_table_aligns_and_shows_status() -> None:
    text = format_table([health(), health(dataset="smd-long", lag=5000, scores=0)], 60.0)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["DATASET", "STATUS", "READINGS/S"]
    assert lines[1].split()[:3] == ["skab", "ok", "2.00"]
    assert "10.0%" in lines[1]
    assert "v3 pca" in lines[1]
    assert "no scores in window, lag 5000" in lines[2]
    assert lines[2].split()[0] == "smd-long"
    # Every row's STATUS column starts where the header's does.
    assert lines[1].index("ok") == lines[0].index("STATUS") == lines[2].index("no scores")
    assert lines[-1] == "rates and ratios over the last 60s; lag above 1000 is not ok"
    assert "no datasets" in format_table([], 60.0)


def test_json_document() -> None:
    document = json.loads(format_json([health(), health(dataset="smd", dead_letters=2)], "g1"))
    assert document["ok"] is False
    assert document["group"] == "g1"
    first, second = document["datasets"]
    assert first == {
        "dataset": "skab",
        "status": "ok",
        "reasons": [],
        "window_s": 60.0,
        "readings": 120,
        "readings_per_s": 2.0,
        "scores": 30,
        "scores_per_s": 0.5,
        "anomalies": 3,
        "anomaly_ratio": 0.1,
        "lag": 5,
        "open_alerts": ["a1"],
        "dead_letters": 0,
        "models": {
            "entities": 2,
            "newest_version": "v3",
            "newest_entity": "valve1/0",
            "newest_detector": "pca",
            "trained_at": "2026-03-01T12:00:00+00:00",
        },
    }
    assert second["status"] == "dead letters"
    assert second["reasons"] == ["dead letters"]


def test_a_reading_batch_counts_its_rows() -> None:
    batch = encode_reading_batch(
        dataset="skab", entity="e1", first_seq=0,
        event_times=["2026-03-01T12:00:00Z"] * 4, channels=["a", "b"],
        rows=[[1.0, 2.0], [3.0, None], [5.0, 6.0], [7.0, 8.0]], labels=None,
    )  # fmt: skip
    one = encode_reading(
        dataset="skab", entity="e1", seq=4, event_time="2026-03-01T12:00:04Z",
        values={"a": 1.0}, label=None,
    )  # fmt: skip
    assert reading_rows(batch) == 4
    assert reading_rows(one) == 1
    assert reading_rows(b"not json") == 0
    assert reading_rows(b'{"first_seq": 3, "rows": "broken"}') == 0


def test_idle_datasets_are_named_not_checked() -> None:
    idle = ["msl", "smap"]
    table = format_table([health()], 60.0, idle=idle).splitlines()
    assert table[-1] == (
        "without a model or traffic in the last 60s, not shown: msl, smap "
        "(--dataset NAME checks one)"
    )
    assert [line.split()[0] for line in table[1:-2]] == ["skab"]
    only_idle = format_table([], 60.0, idle=idle)
    assert only_idle.startswith("without a model or traffic in the last 60s, not shown: msl")
    assert all_ok([])  # a fresh setup, nothing trained nor replayed, is no failure
    document = json.loads(format_json([health()], "g1", idle=idle))
    assert document["idle"] == idle
    assert [d["dataset"] for d in document["datasets"]] == ["skab"]


@pytest.mark.parametrize(
    "argv",
    [
        ["health", "--window", "0"],
        ["health", "--window", "soon"],
        ["health", "--alerts-window", "-1"],
        ["health", "--dataset", "Not A Slug"],
        ["health", "--max-lag", "-3"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("anomstream health: error:")
    assert len(err.strip().splitlines()) == 1
