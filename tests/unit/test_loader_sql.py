"""The sql dataset on SQLite files (PostgreSQL: tests/integration/test_replay_postgres.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kafka_helpers import free_port
from pydantic import SecretStr

from producers.datasets import CorruptRowError, DatasetError, DatasetMissingError, SqlSettings
from producers.datasets.sql_query import SqlLoader, database_url
from schemas import Reading, decode

T0 = np.datetime64("2024-01-01T00:00:00", "ns")
SECOND = np.timedelta64(1, "s")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """Two units' readings, stored newest first: only the loader's sort puts them in order."""
    path = tmp_path / "plant.db"
    rows = [
        (f"2024-01-01 00:00:{t:02d}", unit, 20 + t + (100 if unit == "b" else 0), t % 2, "ok")
        for t in range(8)
        for unit in ("a", "b")
    ]
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE readings (ts TEXT, unit TEXT, temp, label INT, note)")
        connection.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?)", rows[::-1])
    connection.close()
    return path


def loader(
    database: Path, query: str, entity_column: str | None = None, skip: bool = False
) -> SqlLoader:
    settings = SqlSettings(url=SecretStr(f"sqlite:///{database}"), query=query)
    return SqlLoader(
        database.parent,
        settings=settings,
        timestamp_column="ts",
        entity_column=entity_column,
        on_bad_row="skip" if skip else "fail",
    )


def test_rows_are_sorted_by_time_split_per_entity(database: Path) -> None:
    sql = loader(database, "SELECT * FROM readings", entity_column="unit")

    assert sql.entities() == ["b", "a"]  # by first time, a tie in the stored order
    a = sql.load("a")
    assert a.dataset == "sql" and a.channels == ("temp",)
    assert a.train.values[:, 0].tolist() == [20, 21, 22, 23]
    np.testing.assert_array_equal(a.test.timestamps, T0 + np.arange(4, 8) * SECOND)
    assert a.test.labels is not None and a.test.labels.tolist() == [0, 1, 0, 1]
    assert sql.load("b").test.values[:, 0].tolist() == [124, 125, 126, 127]


def test_without_an_entity_column_the_rows_are_one_entity(database: Path) -> None:
    sql = loader(database, "SELECT ts, temp FROM readings WHERE unit = 'a'")

    assert sql.entities() == ["sql"]
    assert len(sql.load("sql").train) == 4


def test_the_query_runs_verbatim_colons_and_percent_signs_included(database: Path) -> None:
    query = (
        "SELECT ts, temp FROM readings WHERE unit = 'a' AND (ts >= '2024-01-01 00:00:04' "
        "OR note LIKE 'n%')"
    )
    data = loader(database, query).load("sql")

    assert data.train.values[:, 0].tolist() == [24, 25]


def test_a_bad_value_is_a_corrupt_row_named_by_its_place_in_the_result(database: Path) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE readings SET temp = 'oops' WHERE ts LIKE '%:05' AND unit = 'a'")
    connection.close()
    query = "SELECT ts, unit, temp FROM readings ORDER BY ts, unit"

    with pytest.raises(CorruptRowError) as caught:
        loader(database, query, entity_column="unit").entities()
    assert (caught.value.file, caught.value.line) == ("sql query", 11)
    assert str(caught.value) == "sql query:11: column 'temp': 'oops' is not a finite number"

    skipping = loader(database, query, entity_column="unit", skip=True)
    a = skipping.load("a")
    assert len(a.train) + len(a.test) == 7
    assert [error.line for error in skipping.bad_rows.skipped] == [11]


def test_equal_times_of_one_entity_are_refused(database: Path) -> None:
    query = "SELECT ts, temp FROM readings"  # both units' rows, as one entity

    with pytest.raises(DatasetError, match=r"sql query:\d+: timestamp .* on row \d+; times must"):
        loader(database, query).load("sql")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELEC ts FROM readings", 'near "SELEC": syntax error'),
        ("SELECT ts FROM nowhere", "no such table: nowhere"),
        ("CREATE TABLE other (x INT)", "the query returns no rows; give it a SELECT"),
        ("SELECT ts, temp, temp FROM readings", "more than one column named temp"),
        ("SELECT temp FROM readings", "no column 'ts'; its columns are ['temp']"),
    ],
)
def test_a_bad_query_is_one_line(database: Path, query: str, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        loader(database, query).load("sql")

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "the SQL URL cannot be parsed"),
        ("postgresql://me:hunter2@host:port/db", "the SQL URL cannot be parsed"),
        ("nosuchdb://me:hunter2@host/db", "nosuchdb://me:***@host/db: SQLAlchemy knows no"),
    ],
)
def test_a_bad_url_is_one_line_without_its_password(url: str, message: str) -> None:
    settings = SqlSettings(url=SecretStr(url), query="SELECT 1")

    with pytest.raises(DatasetError) as caught:
        SqlLoader(Path("."), settings=settings).load("sql")

    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    url = database_url(SecretStr("postgres://me:hunter2@db.example/plant"))

    assert url.drivername == "postgresql+psycopg"
    assert (
        url.render_as_string(hide_password=True) == "postgresql+psycopg://me:***@db.example/plant"
    )


def test_no_url_or_query_says_what_to_give() -> None:
    with pytest.raises(DatasetMissingError, match=r"a database URL \(--url.* and a query"):
        SqlLoader(Path("."), settings=SqlSettings(url=None, query=None)).entities()


def replay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "replay", "sql", *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_replay_sql_dry_run_with_the_url_from_the_environment(database: Path) -> None:
    result = replay(
        *("--query", "SELECT * FROM readings", "--timestamp-column", "ts"),
        *("--entity-column", "unit", "--dry-run", "--max"),
        env={"ANOMSTREAM_SQL_URL": f"sqlite:///{database}"},
    )

    assert result.returncode == 0, result.stderr
    readings = [decode(line, Reading) for line in result.stdout.splitlines()]
    assert [(r.entity, r.seq, r.values["temp"], r.label) for r in readings[:2]] == [
        ("b", 0, 124.0, 0),
        ("a", 0, 24.0, 0),
    ]
    assert len(readings) == 8 and {r.dataset for r in readings} == {"sql"}


def test_an_unreachable_postgresql_server_exits_1_in_one_line_without_the_password() -> None:
    url = f"postgresql://reader:hunter2@127.0.0.1:{free_port()}/plant"
    result = replay("--url", url, "--query", "SELECT 1", "--dry-run")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    shown = url.replace("postgresql:", "postgresql+psycopg:").replace("hunter2", "***")
    assert len(errors) == 1 and errors[0].startswith(f"anomstream replay: error: {shown}: ")
    assert "Connection refused" in errors[0], result.stderr
