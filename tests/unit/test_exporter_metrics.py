"""ExporterMetrics: scores and alerts in, exact metric values out; and the command's settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from output_messages import make_alert, make_score
from prometheus_client import generate_latest

from anomstream.cli import main
from consumers.exporter_metrics import OTHER_ENTITY, ExporterMetrics
from consumers.exporter_settings import ExporterSettings
from schemas import Alert, AlertState, Score, ScoreBatch, encode, encode_score_batch

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _score(
    entity: str = "e1",
    seq: int = 0,
    score: float = 0.5,
    *,
    anomaly: bool = False,
    label: int | None = None,
    dataset: str = "ds",
    threshold: float = 1.0,
    ingested_ms: float | None = 40.0,
) -> Score:
    scored_at = T0 + timedelta(seconds=seq)
    ingested = None if ingested_ms is None else scored_at - timedelta(milliseconds=ingested_ms)
    return make_score(
        dataset=dataset, entity=entity, seq=seq, event_time=scored_at, score=score,
        threshold=threshold, is_anomaly=anomaly, label=label, ingested_at=ingested,
        scored_at=scored_at,
    )  # fmt: skip


def _alert(state: AlertState, entity: str = "e1", start: int = 10, dataset: str = "ds") -> Alert:
    return make_alert(state=state, dataset=dataset, entity=entity, start_seq=start)


def _value(m: ExporterMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_latest_score_threshold_and_verdict_per_entity() -> None:
    m = ExporterMetrics()
    m.observe_score(_score("e1", 0, 0.5), now=T0)
    m.observe_score(_score("e1", 1, 2.5, anomaly=True, threshold=2.0), now=T0)
    m.observe_score(_score("e2", 0, 0.25), now=T0)
    assert _value(m, "anomstream_entity_score", dataset="ds", entity="e1") == 2.5
    assert _value(m, "anomstream_entity_threshold", dataset="ds", entity="e1") == 2.0
    assert _value(m, "anomstream_entity_is_anomaly", dataset="ds", entity="e1") == 1.0
    assert _value(m, "anomstream_entity_score", dataset="ds", entity="e2") == 0.25
    assert _value(m, "anomstream_entity_is_anomaly", dataset="ds", entity="e2") == 0.0
    stamp = (T0 + timedelta(seconds=1)).timestamp()
    assert (
        _value(m, "anomstream_entity_last_scored_timestamp_seconds", dataset="ds", entity="e1")
        == stamp
    )
    assert _value(m, "anomstream_scores_total", dataset="ds", verdict="normal") == 2.0
    assert _value(m, "anomstream_scores_total", dataset="ds", verdict="anomaly") == 1.0


def test_batch_counts_every_score_and_keeps_the_last_as_latest() -> None:
    m = ExporterMetrics()
    batch = ScoreBatch(
        dataset="ds", entity="e9", first_seq=7, event_times=[T0, T0, T0],
        scores=[0.1, 3.0, 0.2], is_anomaly=[False, True, False], labels=None, threshold=1.5,
        detector="pca", model_version="v1", ingested_at=T0, scored_at=T0,
    )  # fmt: skip
    m.observe_score_batch(batch, now=T0)
    assert _value(m, "anomstream_entity_score", dataset="ds", entity="e9") == 0.2
    assert _value(m, "anomstream_entity_threshold", dataset="ds", entity="e9") == 1.5
    assert _value(m, "anomstream_scores_total", dataset="ds", verdict="normal") == 2.0
    assert _value(m, "anomstream_scores_total", dataset="ds", verdict="anomaly") == 1.0
    # No labels: no outcome counted.
    assert _value(m, "anomstream_label_outcomes_total", dataset="ds", outcome="tn") is None


def test_label_outcomes() -> None:
    m = ExporterMetrics()
    verdicts = [(True, 1), (True, 1), (True, 0), (False, 1), (False, 0), (False, 0), (False, 0)]
    for seq, (anomaly, label) in enumerate(verdicts):
        m.observe_score(_score(seq=seq, anomaly=anomaly, label=label), now=T0)
    m.observe_score(_score(seq=99, anomaly=True, label=None), now=T0)
    outcomes = {
        outcome: _value(m, "anomstream_label_outcomes_total", dataset="ds", outcome=outcome)
        for outcome in ("tp", "fp", "fn", "tn")
    }
    assert outcomes == {"tp": 2.0, "fp": 1.0, "fn": 1.0, "tn": 3.0}


def test_latency_histograms() -> None:
    m = ExporterMetrics()
    score = _score(seq=0, ingested_ms=40.0)  # scored 40 ms after it was ingested
    m.observe_score(score, now=score.scored_at + timedelta(seconds=2))
    m.observe_score(_score(seq=0, ingested_ms=None), now=score.scored_at - timedelta(seconds=1))
    assert _value(m, "anomstream_scoring_latency_seconds_count", dataset="ds") == 1.0
    assert _value(m, "anomstream_scoring_latency_seconds_sum", dataset="ds") == pytest.approx(0.04)
    assert _value(m, "anomstream_scoring_latency_seconds_bucket", dataset="ds", le="0.025") == 0.0
    assert _value(m, "anomstream_scoring_latency_seconds_bucket", dataset="ds", le="0.05") == 1.0
    assert _value(m, "anomstream_score_age_seconds_count", dataset="ds") == 2.0
    # A clock behind the worker's gives age 0, never a negative observation.
    assert _value(m, "anomstream_score_age_seconds_sum", dataset="ds") == pytest.approx(2.0)
    assert _value(m, "anomstream_score_age_seconds_bucket", dataset="ds", le="0.01") == 1.0


def test_alert_lifecycle_counts_and_open_gauge() -> None:
    m = ExporterMetrics()
    m.observe_alert(_alert(AlertState.OPENED, "e1", 10))
    m.observe_alert(_alert(AlertState.OPENED, "e2", 4))
    m.observe_alert(_alert(AlertState.UPDATED, "e2", 4))
    assert _value(m, "anomstream_open_alerts", dataset="ds") == 2.0
    m.observe_alert(_alert(AlertState.RESOLVED, "e2", 4))
    # A repeated resolve (a re-read after an exporter restart) does not go below zero.
    m.observe_alert(_alert(AlertState.RESOLVED, "e2", 4))
    assert _value(m, "anomstream_open_alerts", dataset="ds") == 1.0
    assert _value(m, "anomstream_alerts_total", dataset="ds", entity="e1", state="opened") == 1.0
    assert _value(m, "anomstream_alerts_total", dataset="ds", entity="e2", state="opened") == 1.0
    assert _value(m, "anomstream_alerts_total", dataset="ds", entity="e2", state="updated") == 1.0
    assert _value(m, "anomstream_alerts_total", dataset="ds", entity="e2", state="resolved") == 2.0
    # An update of an incident opened before the exporter started counts it as open.
    m.observe_alert(_alert(AlertState.UPDATED, "e3", 1, dataset="other"))
    assert _value(m, "anomstream_open_alerts", dataset="other") == 1.0


def test_entities_beyond_the_cap_share_the_other_label() -> None:
    m = ExporterMetrics(max_entities=2)
    m.observe_score(_score("a", score=1.0), now=T0)
    m.observe_score(_score("b", score=2.0, dataset="ds2"), now=T0)
    m.observe_score(_score("c", score=3.0), now=T0)
    m.observe_score(_score("d", score=4.0), now=T0)
    m.observe_score(_score("c", seq=1, score=5.0), now=T0)  # c again: not a new aggregation
    m.observe_alert(_alert(AlertState.OPENED, "e"))
    m.observe_alert(_alert(AlertState.OPENED, "a"))
    assert _value(m, "anomstream_entity_score", dataset="ds", entity="a") == 1.0
    assert _value(m, "anomstream_entity_score", dataset="ds2", entity="b") == 2.0
    assert _value(m, "anomstream_entity_score", dataset="ds", entity="c") is None
    assert _value(m, "anomstream_entity_score", dataset="ds", entity=OTHER_ENTITY) == 5.0
    assert _value(m, "anomstream_exporter_entities_aggregated_total", dataset="ds") == 3.0
    assert (
        _value(m, "anomstream_alerts_total", dataset="ds", entity=OTHER_ENTITY, state="opened")
        == 1.0
    )
    assert _value(m, "anomstream_alerts_total", dataset="ds", entity="a", state="opened") == 1.0
    # Every score still counts in the per-dataset totals.
    assert _value(m, "anomstream_scores_total", dataset="ds", verdict="normal") == 4.0
    entities = {
        sample.labels["entity"]
        for family in m.registry.collect()
        if family.name == "anomstream_entity_score"
        for sample in family.samples
    }
    assert entities == {"a", "b", OTHER_ENTITY}


def test_observe_record_decodes_scores_batches_alerts_and_counts_garbage() -> None:
    m = ExporterMetrics()
    topic = "scores.ds"
    batch = encode_score_batch(
        dataset="ds", entity="e1", first_seq=3, event_times=[T0, T0], scores=[0.1, 0.2],
        is_anomaly=[False, False], labels=[0, 1], top_channels=[], threshold=1.0,
        detector="pca", model_version="v1", ingested_at=None, scored_at=T0,
    )  # fmt: skip
    assert m.observe_record(topic, encode(_score("e1", 0, 0.7)), now=T0)
    assert m.observe_record(topic, batch, now=T0)
    assert m.observe_record("alerts", encode(_alert(AlertState.OPENED)), now=T0)
    assert not m.observe_record(topic, b"not json", now=T0)
    assert not m.observe_record(topic, None, now=T0)
    assert not m.observe_record("alerts", encode(_score()), now=T0)  # a score on alerts
    assert _value(m, "anomstream_scores_total", dataset="ds", verdict="normal") == 3.0
    assert _value(m, "anomstream_entity_score", dataset="ds", entity="e1") == 0.2
    assert _value(m, "anomstream_label_outcomes_total", dataset="ds", outcome="fn") == 1.0
    assert _value(m, "anomstream_open_alerts", dataset="ds") == 1.0
    assert _value(m, "anomstream_exporter_messages_consumed_total", topic=topic) == 4.0
    assert _value(m, "anomstream_exporter_messages_consumed_total", topic="alerts") == 2.0
    assert _value(m, "anomstream_exporter_undecodable_messages_total", topic=topic) == 2.0
    assert _value(m, "anomstream_exporter_undecodable_messages_total", topic="alerts") == 1.0


def test_default_constructor_exposes_every_family() -> None:
    text = generate_latest(ExporterMetrics().registry).decode()
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert families == {
        "anomstream_entity_score",
        "anomstream_entity_threshold",
        "anomstream_entity_is_anomaly",
        "anomstream_entity_last_scored_timestamp_seconds",
        "anomstream_scores_total",
        "anomstream_alerts_total",
        "anomstream_open_alerts",
        "anomstream_label_outcomes_total",
        "anomstream_scoring_latency_seconds",
        "anomstream_score_age_seconds",
        "anomstream_exporter_messages_consumed_total",
        "anomstream_exporter_undecodable_messages_total",
        "anomstream_exporter_entities_aggregated_total",
        "anomstream_exporter_kafka_connected",
    }
    with pytest.raises(ValueError, match="max_entities"):
        ExporterMetrics(max_entities=0)


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = ExporterSettings()
    assert (defaults.port, defaults.host, defaults.max_entities) == (9464, "127.0.0.1", 1000)
    assert defaults.topic_list() == [r"^scores\..+", "alerts"]
    monkeypatch.setenv("ANOMSTREAM_EXPORTER_TOPICS", r"^scores\.x$, alerts")
    monkeypatch.setenv("ANOMSTREAM_EXPORTER_START_FROM", "earliest")
    settings = ExporterSettings()
    assert settings.topic_list() == [r"^scores\.x$", "alerts"]
    assert settings.start_from == "earliest"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ANOMSTREAM_EXPORTER_MAX_ENTITIES", "0", "ANOMSTREAM_EXPORTER_MAX_ENTITIES"),
        ("ANOMSTREAM_EXPORTER_TOPICS", "^scores(", "ANOMSTREAM_EXPORTER_TOPICS"),
        ("ANOMSTREAM_EXPORTER_START_FROM", "middle", "ANOMSTREAM_EXPORTER_START_FROM"),
        ("ANOMSTREAM_EXPORTER_PORT", "70000", "ANOMSTREAM_EXPORTER_PORT"),
    ],
)
def test_bad_setting_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["exporter"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"anomstream exporter: error: bad setting {message}:")
    assert err.count("\n") == 1
