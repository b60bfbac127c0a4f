"""`anomstream replay sql` from a real PostgreSQL server onto a real Kafka topic, read back."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from confluent_kafka import Consumer
from kafka_helpers import free_port
from postgres_server import PASSWORD, PostgresServer

from schemas import Reading, decode

MACHINES = ("press-1", "press-2")
ROWS = 20
# 02:00 at +02:00: the readings must come out at midnight UTC.
START = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
MISSING_TEMPERATURE = ("press-1", 12)  # a NULL value: a missing reading, kept
NO_LABEL = ("press-2", 15)  # a NULL label: a bad row, skipped
# The server must get it as written: text() would take ':30' for a parameter, and psycopg
# the '%' for a placeholder.
QUERY = (
    "SELECT recorded_at, machine, temperature, pressure, is_anomaly FROM telemetry "
    "WHERE note IS NULL OR note NOT LIKE 'calibration%: 12:30'"
)


def rows() -> Iterator[tuple[object, ...]]:
    for i in range(ROWS):
        for m, machine in enumerate(MACHINES):
            temperature = None if (machine, i) == MISSING_TEMPERATURE else 60.0 + i + 10 * m
            label = None if (machine, i) == NO_LABEL else (m == 0 and i % 3 == 0)
            pressure = Decimal(f"{1 + i / 100:.3f}")
            yield START + timedelta(seconds=i), machine, temperature, pressure, label, None
    # A machine with one row, which the query leaves out (it could not be split).
    yield START, "press-9", 1.0, Decimal("1"), False, "calibration run: 12:30"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"), free_port())
    try:
        server.start()
        with psycopg.connect(server.url) as connection:
            connection.execute(
                "CREATE TABLE telemetry (recorded_at timestamptz NOT NULL, machine text NOT NULL,"
                " temperature double precision, pressure numeric(6, 3), is_anomaly boolean,"
                " note text)"
            )
            # Newest first, as a table's physical order often is: the loader sorts by time.
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO telemetry VALUES (%s, %s, %s, %s, %s, %s)",
                    list(rows())[::-1],
                )
        yield server
    finally:
        server.stop()


def read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Keys and values of `topic` from the start: `expected` of them, and any extra ones."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{topic}",
         "auto.offset.reset": "earliest", "log_level": 2}
    )  # fmt: skip
    consumer.subscribe([topic])
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                assert message.error() is None
                out.append((message.key() or b"", message.value() or b""))
        out += [(m.key() or b"", m.value() or b"") for m in consumer.consume(1000, timeout=2.0)]
    finally:
        consumer.close()
    return out


def replay_sql(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    # DEBUG: the password must not show in any library's log either.
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "--log-level", "DEBUG", "replay", "sql",
         "--url", url, *args, "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_postgresql_table_is_replayed_onto_kafka_and_read_back(
    postgres: PostgresServer, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)

    result = replay_sql(
        postgres.url,
        *("--query", QUERY, "--timestamp-column", "recorded_at", "--entity-column", "machine"),
        *("--label-column", "is_anomaly", "--on-bad-row", "skip", "--max"),
        *("--topic", topic, "--bootstrap", kafka_bootstrap),
    )

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert f"postgresql+psycopg://anomstream:***@127.0.0.1:{postgres.port}/postgres" in (
        result.stderr
    )
    # The NULL label is reported by its place in the result, and the row left out.
    assert "skipping corrupt row sql query:" in result.stderr
    assert "column 'is_anomaly': <NA> is not a label (0 or 1)" in result.stderr
    # The test split, the second half of each machine's rows: press-1's 10 of 20, and
    # press-2's 10 of the 19 left once row 15 is gone (9 train).
    expected = 20
    assert f"done: {expected} readings in {expected} messages, {expected} delivered" in (
        result.stderr
    )

    readings: dict[str, list[Reading]] = {machine: [] for machine in MACHINES}
    for key, value in read_all(kafka_bootstrap, topic, expected):
        reading = decode(value, Reading)
        assert key == reading.entity.encode() and reading.dataset == "sql"
        readings[reading.entity].append(reading)
    one, two = readings["press-1"], readings["press-2"]
    assert [r.seq for r in one] == list(range(10)) and [r.seq for r in two] == list(range(10))
    midnight = datetime(2026, 1, 1, tzinfo=UTC)
    assert [r.event_time for r in one] == [midnight + timedelta(seconds=s) for s in range(10, 20)]
    assert one[0].values == {"temperature": 70.0, "pressure": 1.1}
    assert one[2].values["temperature"] is None  # the NULL at second 12
    assert [r.label for r in one] == [int(i % 3 == 0) for i in range(10, 20)]
    seconds = [int((r.event_time - midnight).total_seconds()) for r in two]
    assert seconds == [9, 10, 11, 12, 13, 14, 16, 17, 18, 19]
    assert all(r.label == 0 for r in two)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("s3cret-for-tests", "wrong-password"), "password authentication failed"),
        (("/postgres", "/nosuchdb"), 'database "nosuchdb" does not exist'),
    ],
)
def test_a_bad_login_exits_1_in_one_line_without_the_password(
    postgres: PostgresServer, change: tuple[str, str], message: str
) -> None:
    url = postgres.url.replace(*change)

    result = replay_sql(url, "--query", "SELECT 1 AS timestamp, 2 AS x", "--dry-run")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr and "wrong-password" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("anomstream")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert errors[0].startswith("anomstream replay: error: postgresql+psycopg://anomstream:***@")


def test_a_bad_query_exits_1_with_the_servers_message(postgres: PostgresServer) -> None:
    result = replay_sql(postgres.url, "--query", "SELECT * FROM nowhere", "--dry-run")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert result.stderr.strip().endswith('relation "nowhere" does not exist'), result.stderr
