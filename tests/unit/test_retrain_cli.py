"""`anomstream retrain` without a broker: settings and options, schedule, the dataset lock."""

from __future__ import annotations

import doctest
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import retraining.schedule
import retraining.settings
from anomstream.cli import main
from retraining.lock import RetrainBusyError, dataset_lock
from retraining.schedule import run_every, seconds_until_next
from retraining.settings import RetrainSettings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SINCE", "EVERY", "FROM", "TO", "DATASET", "MARGIN", "HOLDOUT"):
        monkeypatch.delenv(f"ANOMSTREAM_RETRAIN_{name}", raising=False)


def test_durations_and_times_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMSTREAM_RETRAIN_SINCE", "6h")
    monkeypatch.setenv("ANOMSTREAM_RETRAIN_EVERY", "1d")
    monkeypatch.setenv("ANOMSTREAM_RETRAIN_MARGIN", "0.05")
    settings = RetrainSettings()
    assert (settings.since, settings.every, settings.margin) == (
        timedelta(hours=6),
        timedelta(days=1),
        0.05,
    )
    assert settings.window(NOW) == (NOW - timedelta(hours=6), None)
    monkeypatch.delenv("ANOMSTREAM_RETRAIN_EVERY")
    monkeypatch.setenv("ANOMSTREAM_RETRAIN_FROM", "2026-03-01T06:00")
    monkeypatch.setenv("ANOMSTREAM_RETRAIN_TO", "2026-03-01T08:00:00+01:00")
    fixed = RetrainSettings()
    assert fixed.window(NOW) == (
        datetime(2026, 3, 1, 6, tzinfo=UTC),
        datetime(2026, 3, 1, 7, tzinfo=UTC),
    )


def test_defaults_retrain_once_on_the_last_day() -> None:
    settings = RetrainSettings()
    assert (settings.every, settings.since, settings.holdout) == (None, timedelta(days=1), 0.2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "which dataset? give it as an argument or set ANOMSTREAM_RETRAIN_DATASET"),
        (["ds", "--since", "soon"], "bad --since: expected a duration such as 30s"),
        (["ds", "--from", "yesterday"], "bad --from: expected an ISO-8601 time"),
        (["ds", "--from", "2026-01-02", "--to", "2026-01-01"], "the range ends before it starts"),
        (["ds", "--every", "1h", "--from", "2026-01-01"], "a schedule (every) retrains on the"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrain", *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("anomstream retrain: error: ")
    assert message in err


def test_a_bad_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMSTREAM_RETRAIN_HOLDOUT", "2")
    assert main(["retrain", "ds"]) == 1
    assert "bad setting ANOMSTREAM_RETRAIN_HOLDOUT" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["ds", "--margin", "-1"], ["ds", "--holdout", "x"], ["Bad/Name"], ["ds", "--x"]]
)
def test_argparse_refuses_malformed_options(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["retrain", *argv])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_help_explains_the_guard_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["retrain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("false-alarm rate", "candidates/", "ANOMSTREAM_RETRAIN_SINCE", "--every"):
        assert phrase in text


def test_an_unreachable_broker_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S", "1")
    argv = ["retrain", "ds", "--bootstrap", "127.0.0.1:1", "--models-dir", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach Kafka at 127.0.0.1:1" in err


class FakeTime(threading.Event):
    """A clock and a stop event whose waits pass at once, moving the clock on."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        self.now += timeout or 0.0
        return self.is_set()


def test_runs_start_every_period_until_stopped() -> None:
    fake, starts = FakeTime(), []

    def job() -> None:
        starts.append(fake.now)
        fake.now += 10.0  # each run takes 10 s
        if len(starts) == 3:
            fake.set()

    assert run_every(job, timedelta(minutes=1), fake, fake.clock) == 3
    assert starts == [0.0, 60.0, 120.0]
    assert fake.waits == [50.0, 50.0, 50.0]


def test_a_failed_scheduled_run_is_logged_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop, runs = threading.Event(), []

    def job() -> None:
        runs.append(1)
        if len(runs) == 2:
            stop.set()
        raise RuntimeError("broker away")

    with caplog.at_level(logging.ERROR):
        assert run_every(job, timedelta(milliseconds=1), stop) == 2
    assert "retrain run 1 failed" in caplog.text


def test_a_single_run_lets_its_error_through() -> None:
    def job() -> None:
        raise RuntimeError("once")

    with pytest.raises(RuntimeError, match="once"):
        run_every(job, None, threading.Event())
    assert seconds_until_next(0.0, timedelta(seconds=5), 7.0) == 0.0


def test_two_retrains_of_one_dataset_cannot_run_at_once(tmp_path: Path) -> None:
    with dataset_lock(tmp_path, "ds") as path:
        assert path == tmp_path / "ds" / ".retrain.lock"
        with pytest.raises(RetrainBusyError, match="another `anomstream retrain ds` is running"):
            with dataset_lock(tmp_path, "ds"):
                pass
        with dataset_lock(tmp_path, "other"):  # another dataset is free
            pass
    with dataset_lock(tmp_path, "ds"):  # released at the end of the block
        pass


def test_docstring_examples() -> None:
    for module in (retraining.schedule, retraining.settings):
        assert doctest.testmod(module).failed == 0
