"""Topic names, topic settings from the environment, and the topic layout."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from schemas import (
    ALERTS_TOPIC,
    DATASETS,
    DEADLETTER_TOPIC,
    TopicSettings,
    TopicSpec,
    readings_topic,
    scores_topic,
    topic_specs,
)

HOUR_MS = 3_600_000


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell may export these; tests must see only what they set.
    for name in list(os.environ):
        if name.upper().startswith("ANOMSTREAM_TOPIC_"):
            monkeypatch.delenv(name)


def test_topic_names() -> None:
    assert readings_topic("skab") == "readings.skab"
    assert scores_topic("smd") == "scores.smd"
    assert (ALERTS_TOPIC, DEADLETTER_TOPIC) == ("alerts", "deadletter")


@pytest.mark.parametrize("bad", ["", "SKAB", "a.b", "-x", "x y", "é", "x" * 65])
def test_topic_names_reject_bad_slugs(bad: str) -> None:
    with pytest.raises(ValueError, match="not a slug"):
        readings_topic(bad)
    with pytest.raises(ValueError, match="not a slug"):
        scores_topic(bad)


def test_known_datasets() -> None:
    expected = (
        "skab", "smd", "smap", "msl", "swat", "wadi", "damadics", "synthetic", "csv", "sql",
    )  # fmt: skip
    assert expected == DATASETS


def test_settings_defaults() -> None:
    s = TopicSettings()
    assert (s.partitions, s.replication_factor) == (3, 1)
    assert s.datasets == list(DATASETS)
    assert (s.readings_retention_hours, s.scores_retention_hours) == (24, 72)
    assert (s.alerts_retention_hours, s.deadletter_retention_hours) == (720, 720)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("skab,smd", ["skab", "smd"]), (" skab , smd ,", ["skab", "smd"]),
     ('["smap", "msl"]', ["smap", "msl"]), ("csv", ["csv"]), ("smd,smd", ["smd"])],
)  # fmt: skip
def test_settings_datasets_from_env(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("ANOMSTREAM_TOPIC_DATASETS", raw)
    assert TopicSettings().datasets == expected


def test_settings_numbers_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMSTREAM_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("ANOMSTREAM_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("ANOMSTREAM_TOPIC_READINGS_RETENTION_HOURS", "1.5")
    s = TopicSettings()
    assert (s.partitions, s.replication_factor, s.readings_retention_hours) == (12, 3, 1.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PARTITIONS", "0"), ("REPLICATION_FACTOR", "0"), ("DATASETS", "skab,Bad.Name"),
     ("READINGS_RETENTION_HOURS", "0")],
)  # fmt: skip
def test_settings_reject_bad_env(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"ANOMSTREAM_TOPIC_{name}", value)
    with pytest.raises(ValidationError) as info:
        TopicSettings()
    assert info.value.errors()[0]["loc"][0] == name.lower()


def test_topic_specs_list_every_topic_with_retention_in_ms() -> None:
    settings = TopicSettings(datasets=["skab", "smd"], partitions=6, replication_factor=2)
    specs = {spec.name: spec for spec in topic_specs(settings)}
    assert list(specs) == [
        "readings.skab", "scores.skab", "readings.smd", "scores.smd", "alerts", "deadletter",
    ]  # fmt: skip
    assert {(s.partitions, s.replication_factor) for s in specs.values()} == {(6, 2)}
    assert specs["readings.smd"].config == {"retention.ms": str(24 * HOUR_MS)}
    assert specs["scores.skab"].config == {"retention.ms": str(72 * HOUR_MS)}
    assert specs["alerts"].config == {"retention.ms": str(720 * HOUR_MS)}
    assert specs["deadletter"].config == {"retention.ms": str(720 * HOUR_MS)}


def test_fractional_retention_is_whole_milliseconds() -> None:
    specs = topic_specs(TopicSettings(datasets=["csv"], readings_retention_hours=0.5))
    assert specs[0].config["retention.ms"] == "1800000"


def test_topic_specs_default_to_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMSTREAM_TOPIC_DATASETS", "synthetic")
    assert [s.name for s in topic_specs()] == [
        "readings.synthetic", "scores.synthetic", "alerts", "deadletter",
    ]  # fmt: skip


def test_topic_spec_is_frozen_and_hashable() -> None:
    spec = TopicSpec("alerts", 3, 1, {"retention.ms": "1"})
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    assert spec == TopicSpec("alerts", 3, 1, {"retention.ms": "1"})
    assert hash(spec) == hash(TopicSpec("alerts", 3, 1, {"retention.ms": "2"}))
