"""The `anomstream` command: subcommands, one-line errors, settings from the environment."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from anomstream.cli import build_parser, main


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


@pytest.mark.parametrize(
    "argv",
    [
        ["datasets", "--json"],
        ["replay", "synthetic", "--dry-run", "--limit", "5000", "--no-progress"],
    ],
)
def test_a_reader_gone_away_ends_the_command_quietly(argv: list[str]) -> None:
    # `anomstream ... | head -1`: the reader closes the pipe before the command is done.
    process = subprocess.Popen(
        [sys.executable, "-m", "anomstream", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command has written anything
    status = process.wait(timeout=120)
    stderr = process.stderr.read()
    process.stderr.close()

    assert status == 141, stderr
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr


def _actions(
    parser: argparse.ArgumentParser, name: str
) -> Iterator[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _actions(subparser, f"{name} {sub}")
        else:
            yield name, parser, action


def test_every_help_shows_the_default_once() -> None:
    checked = 0
    for name, parser, action in _actions(build_parser(), "anomstream"):
        default = action.default
        if default is None or default is False or default == [] or default == argparse.SUPPRESS:
            continue  # nothing to show: no value, a switch that is off, an empty list
        where = f"{name} {'/'.join(action.option_strings) or action.dest}"
        assert action.help, f"{where} has a default ({default!r}) but no help to show it in"
        text = parser._get_formatter()._expand_help(action)
        assert text.lower().count("default") == 1, f"{where}: {text!r}"
        checked += 1
    assert checked >= 25  # the walk reached the subcommands


def test_defaults_appear_in_a_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "window length in rows (default 100)" in text
    assert "(larger trains faster) (default 1)" in text
    assert "the detector's random seed (default 0)" in text
    assert "(default pot)" in text and "(default pot) (default" not in text


def test_a_deep_detector_without_torch_is_one_line_saying_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # As in an image built with TORCH=none: importing a deep detector's module fails on torch.
    import importlib

    real_import = importlib.import_module

    def without_torch(name: str, package: str | None = None) -> object:
        if name == "detectors.lstm_ed":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", without_torch)
    status = main(["train", "synthetic", "--detector", "lstm_ed", "--models-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in err, err
    assert err == (
        "anomstream train: error: lstm_ed runs on PyTorch, which is not installed here: "
        "pip install torch (or build the image with TORCH=index)"
    )
