"""`anomstream tail` as a user runs it, against the real broker: exact JSON, human lines,
filters, start positions, limits, timeouts, Ctrl-C, and the kcat command of the README."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer
from kafka_helpers import REPO_ROOT, free_port
from output_messages import make_alert, make_score, make_score_batch

from schemas import (
    ALERTS_TOPIC,
    Alert,
    Score,
    ScoreBatch,
    decode,
    encode,
    encode_key,
    scores_topic,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUN_TIMEOUT_S = 60


def score(dataset: str, entity: str, seq: int, value: float) -> Score:
    return make_score(
        dataset=dataset, entity=entity, seq=seq, score=value,
        scored_at=T0 + timedelta(seconds=seq),
    )  # fmt: skip


def batch(dataset: str, entity: str, first_seq: int, values: list[float]) -> ScoreBatch:
    return make_score_batch(dataset=dataset, entity=entity, first_seq=first_seq, scores=values)


def alert(dataset: str, entity: str, state: str, peak: float) -> Alert:
    return make_alert(
        state=state, dataset=dataset, entity=entity, start_seq=100,
        end_seq=130 if state == "resolved" else None, peak=peak, top_channels=[("flow", 0.5)],
    )  # fmt: skip


def produce(
    bootstrap: str, topic: str, messages: list[Alert | Score | ScoreBatch], timestamp: int = 0
) -> list[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    values = [encode(m) for m in messages]
    for message, value in zip(messages, values, strict=True):
        producer.produce(topic, value, encode_key(message.entity), timestamp=timestamp)
    assert producer.flush(30) == 0
    return values


def tail(
    bootstrap: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomstream", "tail", "--bootstrap", bootstrap, *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=REPO_ROOT,
        env=env,
    )


def test_json_from_beginning_prints_committed_messages_exactly_as_sent(
    kafka_bootstrap: str, slug: str
) -> None:
    topic = scores_topic(slug)
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tail-test-{slug}"}
    )
    producer.init_transactions(30)
    sent = []
    attempts: list[tuple[Score | ScoreBatch, bool]] = [
        (score(slug, "e1", 1, 0.5), True),
        (score(slug, "e1", 2, 9.0), False),  # an aborted attempt: never shown
        (batch(slug, "e1", 3, [0.2, 3.0]), True),
    ]
    for message, commit in attempts:
        producer.begin_transaction()
        producer.produce(topic, encode(message), encode_key(message.entity))
        if commit:
            producer.commit_transaction(30)
            sent.append(encode(message).decode())
        else:
            producer.abort_transaction(30)

    done = tail(
        kafka_bootstrap,
        "scores",
        "--dataset",
        slug,
        "--from",
        "beginning",
        "--json",
        "--limit",
        "2",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == sent
    assert "2 printed" in done.stderr and "(limit)" in done.stderr


def test_human_lines_and_filters_on_the_shared_alerts_topic(
    kafka_bootstrap: str, slug: str
) -> None:
    produce(
        kafka_bootstrap,
        ALERTS_TOPIC,
        [
            alert(slug, "pump-1", "opened", 5.0),
            alert(slug, "fan-1", "opened", 2.0),
            alert(slug, "pump-1", "resolved", 7.5),
        ],
    )

    pumps = tail(
        kafka_bootstrap,
        "--dataset",
        slug,
        "--entity",
        "pump-*",
        "--from",
        "beginning",
        "--limit",
        "2",
    )
    resolved = tail(
        kafka_bootstrap,
        "alerts",
        "--dataset",
        slug,
        "--state",
        "resolved",
        "--from",
        "beginning",
        "--limit",
        "1",
    )
    high = tail(
        kafka_bootstrap,
        "--dataset",
        slug,
        "--min-score",
        "3",
        "--from",
        "beginning",
        "--timeout",
        "2",
    )

    assert pumps.returncode == 0, pumps.stderr
    lines = pumps.stdout.splitlines()
    assert len(lines) == 2 and "\033[" not in pumps.stdout, "no color on a pipe"
    assert f"OPENED   {slug}/pump-1  peak 5 > 1" in lines[0]
    assert f"RESOLVED {slug}/pump-1  peak 7.5 > 1  seq 100-130" in lines[1]
    assert resolved.stdout.splitlines() == [lines[1]]
    assert high.returncode == 0, high.stderr
    assert [line.split()[1:3] for line in high.stdout.splitlines()] == [
        ["OPENED", f"{slug}/pump-1"],
        ["RESOLVED", f"{slug}/pump-1"],
    ]
    assert "(timeout)" in high.stderr


def test_scores_human_lines_expand_batches_and_color_on_request(
    kafka_bootstrap: str, slug: str
) -> None:
    produce(kafka_bootstrap, scores_topic(slug), [batch(slug, "e7", 40, [0.25, 4.0])])

    done = tail(
        kafka_bootstrap,
        "scores",
        "--dataset",
        slug,
        "--from",
        "beginning",
        "--limit",
        "2",
        "--color",
        "always",
    )

    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert f"{slug}/e7  seq 40  score 0.25 / 1" in first and "normal" in first
    assert f"{slug}/e7  seq 41  score 4 / 1" in second and "\033[31m\033[1mANOMALY" in second


def test_from_a_duration_ago_skips_older_messages(kafka_bootstrap: str, slug: str) -> None:
    topic = scores_topic(slug)
    now_ms = int(time.time() * 1000)
    produce(kafka_bootstrap, topic, [score(slug, "e1", 1, 0.5)], timestamp=now_ms - 7_200_000)
    recent = produce(kafka_bootstrap, topic, [score(slug, "e1", 2, 0.6)], timestamp=now_ms)

    done = tail(
        kafka_bootstrap, "scores", "--dataset", slug, "--from", "30m", "--json", "--timeout", "2"
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [recent[0].decode()]


def test_ctrl_c_exits_cleanly_without_a_traceback(kafka_bootstrap: str, slug: str) -> None:
    produce(kafka_bootstrap, scores_topic(slug), [score(slug, "e1", 1, 0.5)])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anomstream",
            "tail",
            "scores",
            "--bootstrap",
            kafka_bootstrap,
            "--dataset",
            slug,
            "--from",
            "beginning",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=RUN_TIMEOUT_S), "no line printed in time"
        first = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert decode(first, Score).entity == "e1"
    assert out == ""
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "anomstream tail: 1 printed of 1 read (interrupted)"


def test_an_unreachable_broker_is_one_line() -> None:
    env = {**os.environ, "ANOMSTREAM_KAFKA_CONNECT_TIMEOUT_S": "1"}

    done = tail(f"127.0.0.1:{free_port()}", "--from", "beginning", env=env)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"anomstream tail: error: cannot reach Kafka at {done.args[5]} within 1s "
        "(start it: deploy/kafka/kafka-local start)"
    ]


def test_a_missing_scores_topic_is_one_line(kafka_bootstrap: str) -> None:
    done = tail(kafka_bootstrap, "scores", "--dataset", f"t{uuid.uuid4().hex[:10]}")

    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "does not exist" in done.stderr


def test_the_readme_kcat_command_shows_key_and_alert_json(kafka_bootstrap: str, slug: str) -> None:
    sent = alert(slug, "kcat-1", "opened", 4.0)
    produce(kafka_bootstrap, ALERTS_TOPIC, [sent])

    done = subprocess.run(
        [
            "kcat",
            "-C",
            "-b",
            kafka_bootstrap,
            "-t",
            "alerts",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-X",
            "isolation.level=read_committed",
            "-f",
            "%k\t%s\n",
        ],
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    mine = [line for line in done.stdout.splitlines() if f'"dataset":"{slug}"'.encode() in line]
    assert len(mine) == 1
    key, value = mine[0].split(b"\t", 1)
    assert key == b"kcat-1"
    assert decode(value, Alert) == sent
