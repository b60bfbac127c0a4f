"""`anomstream replay` without Kafka: dry runs, selection, corrupt rows, bad arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schemas import Reading, ReadingBatch, decode


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "--log-level", "WARNING", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dry_run_writes_decodable_json_lines_in_event_time_order() -> None:
    result = replay("synthetic", "--dry-run", "--max", "--limit", "9", "--entities", "3")

    assert result.returncode == 0, result.stderr
    readings = [decode(line, Reading) for line in result.stdout.splitlines()]
    assert len(readings) == 9
    assert [r.entity for r in readings[:3]] == ["sensor-000", "sensor-001", "sensor-002"]
    assert [r.seq for r in readings if r.entity == "sensor-001"] == [0, 1, 2]
    assert "done: 9 readings in 9 messages, 9 delivered, 0 failed" in result.stderr


def test_dry_run_batches_and_entity_globs() -> None:
    result = replay(
        "synthetic", "--dry-run", "--max", "--entities", "3", "--entity", "*-002",
        "--batch-rows", "4", "--limit", "10",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    batches = [decode(line, ReadingBatch) for line in result.stdout.splitlines()]
    assert [(b.entity, b.first_seq, len(b.rows)) for b in batches] == [
        ("sensor-002", 0, 4), ("sensor-002", 4, 4), ("sensor-002", 8, 2)
    ]  # fmt: skip


@pytest.fixture
def csv_with_a_corrupt_row(tmp_path: Path) -> Path:
    path = tmp_path / "plant.csv"
    rows = [f"2026-01-01T00:00:{i:02d},{i}.5,{i}" for i in range(10)]
    rows[6] = "2026-01-01T00:00:06,not-a-number,6"
    path.write_text("timestamp,temp,flow\n" + "\n".join(rows) + "\n")
    return path


def test_a_corrupt_row_is_fatal_naming_file_and_line(csv_with_a_corrupt_row: Path) -> None:
    result = replay("csv", "--path", str(csv_with_a_corrupt_row), "--dry-run", "--max")

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert f"{csv_with_a_corrupt_row}:8:" in line and "Traceback" not in result.stderr


def test_a_corrupt_row_can_be_skipped(csv_with_a_corrupt_row: Path) -> None:
    result = replay(
        "csv", "--path", str(csv_with_a_corrupt_row), "--dry-run", "--max",
        "--on-bad-row", "skip", "--split", "train",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    temps = [decode(line, Reading).values["temp"] for line in result.stdout.splitlines()]
    assert 6.5 not in temps and len(temps) >= 4


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["kdd99"], "invalid choice: 'kdd99' (choose from 'skab', 'smd'"),
        (["synthetic", "--speed", "0"], "must be positive"),
        (["synthetic", "--speed", "2", "--max"], "not allowed with argument"),
        (["synthetic", "--batch-rows", "0"], "must be at least 1"),
        (["synthetic", "--limit", "ten"], "argument --limit: expected a whole number, got 'ten'"),
    ],
)
def test_bad_arguments_are_one_line(args: list[str], expected: str) -> None:
    result = replay(*args)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert expected in line


def test_an_unknown_entity_lists_what_there_is() -> None:
    result = replay("synthetic", "--entities", "2", "--entity", "pump-*", "--dry-run")

    assert result.returncode == 1
    assert "no entity matches pump-*; entities: sensor-000, sensor-001" in result.stderr


@pytest.fixture
def fleet_csv(tmp_path: Path) -> Path:
    """Two machines in one file, told apart by `unit`, with a 0/1 column named `Label`."""
    path = tmp_path / "fleet.csv"
    rows = [f"{t},{unit},{t}.5,{int(t == 3)}" for t in range(6) for unit in ("m1", "m2")]
    path.write_text("timestamp,unit,temp,Label\n" + "\n".join(rows) + "\n")
    return path


def test_csv_entity_column_and_a_guessed_label(fleet_csv: Path) -> None:
    result = replay(
        "csv", "--path", str(fleet_csv), "--entity-column", "unit", "--dry-run", "--max"
    )

    assert result.returncode == 0, result.stderr
    readings = [decode(line, Reading) for line in result.stdout.splitlines()]
    assert [(r.entity, r.seq) for r in readings] == [
        (unit, seq) for seq in range(3) for unit in ("m1", "m2")
    ]
    # The label travels as the label and is no channel the model could learn from.
    assert {tuple(r.values) for r in readings} == {("temp",)}
    assert [r.label for r in readings if r.entity == "m1"] == [1, 0, 0]


def test_csv_no_label_column_and_its_conflict(fleet_csv: Path) -> None:
    plain = replay(
        "csv", "--path", str(fleet_csv), "--entity-column", "unit", "--dry-run", "--max",
        "--no-label-column",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    readings = [decode(line, Reading) for line in plain.stdout.splitlines()]
    assert {tuple(r.values) for r in readings} == {("temp", "Label")}
    assert {r.label for r in readings} == {None}

    both = replay("csv", "--path", str(fleet_csv), "--label-column", "Label", "--no-label-column")
    assert both.returncode == 2
    [line] = both.stderr.strip().splitlines()
    assert "argument --no-label-column: not allowed with argument --label-column" in line
