"""The `anomstream` command: subcommands, one-line errors, settings from the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from anomstream.cli import main


def test_schemas_writes_one_json_schema_per_message_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["schemas", "--out", str(tmp_path / "out")])

    assert status == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "Alert.schema.json",
        "DeadLetter.schema.json",
        "Reading.schema.json",
        "ReadingBatch.schema.json",
        "Score.schema.json",
        "ScoreBatch.schema.json",
    ]
    reading = json.loads((tmp_path / "out" / "Reading.schema.json").read_text())
    assert {"dataset", "entity", "seq", "event_time", "values"} <= set(reading["required"])
    assert capsys.readouterr().out.count(".schema.json") == 6


def test_topics_list_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMSTREAM_TOPIC_DATASETS", "skab,smd")
    monkeypatch.setenv("ANOMSTREAM_TOPIC_PARTITIONS", "6")

    assert main(["topics", "list"]) == 0

    lines = capsys.readouterr().out.splitlines()
    names = [line.split("\t")[0] for line in lines]
    assert names == ["readings.skab", "scores.skab", "readings.smd", "scores.smd"] + [
        "alerts",
        "deadletter",
    ]
    assert all("partitions=6" in line for line in lines)


def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMSTREAM_TOPIC_PARTITIONS", "0")

    assert main(["topics", "list"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("anomstream topics: error: bad setting ANOMSTREAM_TOPIC_PARTITIONS")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["topics"], "the following arguments are required: ACTION"),
        (["topics", "create", "--timeout", "soon"], "invalid float value: 'soon'"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(argv: list[str], expected: str) -> None:
    # A real process, as a user meets it: no traceback, one line, status 2.
    result = subprocess.run(
        [sys.executable, "-m", "anomstream", *argv], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
