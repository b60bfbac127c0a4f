"""Valid-looking input that used to stop, stall or blackhole the worker, against a real broker.

One worker serves the module; each test feeds an entity of its own among good readings and
checks that the odd message is dealt with (scored, or dead-lettered with its reason) while
every good reading around it is scored exactly once.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from stream_checks import drop_dataset, make_worker, new_dataset, publish, readings_of
from stream_fixtures import CHANNELS, WINDOW, reading, series, times, train_model
from worker_process import WorkerProcess, expand_scores, read_all

from schemas import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    Alert,
    DeadLetter,
    Score,
    decode,
    encode_reading,
    readings_topic,
    scores_topic,
)

ENTITIES = ("clock", "pill", "jumpy", "strict", "silent")


@dataclass
class Running:
    bootstrap: str
    slug: str
    worker: WorkerProcess


@pytest.fixture(scope="module")
def running(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("bad-input")
    slug = new_dataset(kafka_bootstrap, kafka_admin)
    for i, entity in enumerate(ENTITIES):
        train_model(tmp / "models", slug, entity, seed=600 + i)
    worker = make_worker(
        kafka_bootstrap, tmp / "models", slug, tmp,
        ANOMSTREAM_WORKER_UNKNOWN_ENTITY="deadletter",
        ANOMSTREAM_WORKER_DEADLETTER_LOG_INTERVAL_S="1",
        ANOMSTREAM_WORKER_ALERT_QUIET="5",
        ANOMSTREAM_WORKER_ALERT_STALE_AFTER_S="3",
    )  # fmt: skip
    worker.start()
    worker.wait_assigned()
    yield Running(kafka_bootstrap, slug, worker)
    status = worker.stop()
    drop_dataset(kafka_admin, slug)
    assert status == 0, worker.log()[-3000:]
    assert "Traceback" not in worker.log()


def scores_of(run: Running, entity: str, done: Callable[[list[Score]], bool]) -> list[Score]:
    """The entity's committed scores, read until `done` holds (or 90 s pass)."""
    found: list[Score] = []

    def enough(values: list[bytes]) -> bool:
        found[:] = [s for s in expand_scores(values) if s.entity == entity]
        return done(found)

    read_all(run.bootstrap, scores_topic(run.slug), enough, timeout_s=90)
    return found


def letters_of(run: Running, entity: str) -> list[DeadLetter]:
    letters = [
        decode(v, DeadLetter)
        for v in read_all(run.bootstrap, DEADLETTER_TOPIC, lambda v: False, 3.0)
    ]
    return [
        d
        for d in letters
        if d.source_topic == readings_topic(run.slug) and d.key == entity.encode()
    ]


def all_scored(rows: int) -> Callable[[list[Score]], bool]:
    return lambda scores: len({s.seq for s in scores}) >= rows - WINDOW + 1


def assert_each_scored_once(scores: list[Score], rows: int) -> None:
    seqs = Counter(s.seq for s in scores)
    assert max(seqs.values()) == 1, "a reading was scored twice"
    assert set(seqs) == set(range(WINDOW - 1, rows))


def test_a_reading_whose_clock_goes_back_is_scored_and_its_alert_ends_after_it_starts(
    running: Running,
) -> None:
    data = series(260, seed=31, spike_at=200)
    messages = []
    for seq, row in enumerate(data):
        # From seq 203 on the sensor's clock is an hour behind: the incident's last
        # anomalous readings carry times before its first one's.
        when = times(seq - 3600 if seq >= 203 else seq, 1)[0]
        value = encode_reading(
            dataset=running.slug, entity="clock", seq=seq, event_time=when,
            values=dict(zip(CHANNELS, row.tolist(), strict=True)), label=None,
        )  # fmt: skip
        messages.append(("clock", value))
    publish(running.bootstrap, readings_topic(running.slug), messages)
    assert_each_scored_once(scores_of(running, "clock", all_scored(260)), 260)
    alerts = [
        decode(v, Alert)
        for v in read_all(running.bootstrap, ALERTS_TOPIC, lambda v: False, 3.0)
        if b'"clock"' in v
    ]
    mine = [a for a in alerts if a.dataset == running.slug and a.entity == "clock"]
    resolved = [a for a in mine if a.state.value == "resolved"]
    assert resolved, f"the incident did not resolve: {mine}"
    assert all(a.end_time is not None and a.end_time >= a.start_time for a in resolved)


def test_a_5_mb_reading_is_dead_lettered_truncated_and_its_entity_goes_on(
    running: Running,
) -> None:
    data = series(150, seed=32)
    before = readings_of(running.slug, "pill", data[:80], seed=1, single_only=True)
    after = readings_of(running.slug, "pill", data, seed=1, start=80, single_only=True)
    # 5 MB of JSON that compresses to a few kilobytes: the broker takes it. (A repeated
    # key is valid JSON; the last one wins.)
    head = orjson.dumps(
        {"dataset": running.slug, "entity": "pill", "seq": 80, "event_time": times(80, 1)[0]}
    )
    pill = head[:-1] + b',"values":{' + b'"flow":0.0,' * 500_000 + b'"temp":1.0}}'
    assert len(pill) > 5_000_000
    producer = Producer(
        {
            "bootstrap.servers": running.bootstrap,
            "compression.type": "lz4",
            "message.max.bytes": 10_000_000,
            "log_level": 2,
        }
    )
    publish(running.bootstrap, readings_topic(running.slug), before)
    producer.produce(readings_topic(running.slug), pill, b"pill")
    assert producer.flush(30) == 0
    publish(running.bootstrap, readings_topic(running.slug), after)
    assert_each_scored_once(scores_of(running, "pill", all_scored(150)), 150)
    (letter,) = [d for d in letters_of(running, "pill") if d.reason.startswith("too_large")]
    assert letter.truncated and letter.raw_size == len(pill)
    assert 0 < len(letter.raw) <= 65_536 and pill.startswith(letter.raw)


def test_one_wild_seq_is_dead_lettered_and_does_not_blackhole_its_entity(
    running: Running,
) -> None:
    data = series(300, seed=33)
    messages = readings_of(running.slug, "jumpy", data, seed=2, single_only=True)
    wild = reading(running.slug, "jumpy", 1_000_000_000, data[150])
    publish(running.bootstrap, readings_topic(running.slug), [*messages[:150], ("jumpy", wild)])
    publish(running.bootstrap, readings_topic(running.slug), messages[150:])
    assert_each_scored_once(scores_of(running, "jumpy", all_scored(300)), 300)
    reasons = [d.reason.split(":")[0] for d in letters_of(running, "jumpy")]
    assert reasons == ["seq_jump"]


def test_a_seq_sent_as_a_string_is_a_schema_error_not_a_duplicate(running: Running) -> None:
    data = series(100, seed=34)
    messages = readings_of(running.slug, "strict", data, seed=3, single_only=True)
    stringly = reading(running.slug, "strict", 99, data[99]).replace(b'"seq":99', b'"seq":"99"')
    assert b'"seq":"99"' in stringly
    publish(running.bootstrap, readings_topic(running.slug), [*messages[:99], ("strict", stringly)])
    publish(running.bootstrap, readings_topic(running.slug), messages[99:])
    assert_each_scored_once(scores_of(running, "strict", all_scored(100)), 100)
    (letter,) = letters_of(running, "strict")
    assert letter.reason.startswith("schema") and "seq" in letter.reason
    assert letter.raw == stringly


def test_dead_letters_are_summarised_in_the_log_by_reason_and_entity(running: Running) -> None:
    data = series(40, seed=35)
    publish(
        running.bootstrap,
        readings_topic(running.slug),
        readings_of(running.slug, "nobody", data, seed=4, single_only=True),
    )
    deadline = time.monotonic() + 30
    pattern = re.compile(r"(\d+) dead letters \(no_model\) in the last \d+s: [^;]*nobody (\d+)")
    while time.monotonic() < deadline:
        found = pattern.findall(running.worker.log())
        if sum(int(n) for _, n in found) >= 40:
            break
        time.sleep(0.5)
    assert sum(int(n) for _, n in found) == 40, running.worker.log()[-3000:]
    assert "dead letter (no_model): no model for" in running.worker.log()


def test_an_alert_left_open_by_a_stream_that_stops_resolves_as_stale(running: Running) -> None:
    data = series(120, seed=36, spike_at=112)  # the stream ends inside the incident
    publish(
        running.bootstrap,
        readings_topic(running.slug),
        readings_of(running.slug, "silent", data, seed=5, single_only=True),
    )
    deadline = time.monotonic() + 60
    states: list[tuple[str, str | None]] = []
    while time.monotonic() < deadline and ("resolved", "stale") not in states:
        states = [
            (a.state.value, a.resolved_by)
            for a in (
                decode(v, Alert)
                for v in read_all(running.bootstrap, ALERTS_TOPIC, lambda v: False, 2.0)
                if b'"silent"' in v
            )
            if a.dataset == running.slug
        ]
    assert states[0] == ("opened", None) and states[-1] == ("resolved", "stale"), states
    assert running.worker.metric("anomstream_worker_stale_alerts_resolved_total") >= 1


def test_the_health_endpoints_say_the_engine_runs_and_commits(running: Running) -> None:
    for path in ("healthz", "readyz"):
        url = f"http://127.0.0.1:{running.worker.port}/{path}"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            body = json.loads(response.read())
        assert response.status == 200 and body["status"] == "ok", body
    assert running.worker.metric("anomstream_worker_engine_running") == 1
    committed = running.worker.metric("anomstream_worker_last_commit_timestamp_seconds")
    assert time.time() - 600 < committed <= time.time()
