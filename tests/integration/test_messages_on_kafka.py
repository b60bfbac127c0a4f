"""Schema messages through a real broker: confluent-kafka both ways, and kcat as a reader."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Message, Producer
from pydantic import BaseModel

from schemas import (
    Alert,
    AlertState,
    ChannelContribution,
    DeadLetter,
    Reading,
    ReadingBatch,
    Score,
    decode,
    encode,
    encode_key,
)

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 12, 0, 5, tzinfo=UTC)
TOP = [ChannelContribution(channel="pressure", contribution=0.7)]


def sample_messages() -> list[BaseModel]:
    """One message of every type, each keyed by its entity (dead letters by their source)."""
    return [
        Reading(
            dataset="skab",
            entity="valve1/3",
            seq=7,
            event_time=T0,
            values={"pressure": 1.5, "temperature": None},
            label=1,
        ),
        ReadingBatch(
            dataset="smd",
            entity="machine-1-1",
            first_seq=100,
            event_times=[T0, T1],
            channels=["cpu", "mem"],
            rows=[[0.1, None], [0.3, 0.4]],
            labels=[0, 1],
        ),
        Score(
            dataset="skab",
            entity="valve1/3",
            seq=7,
            event_time=T0,
            score=3.2,
            threshold=2.5,
            is_anomaly=True,
            detector="pca",
            model_version="1",
            top_channels=TOP,
            ingested_at=T0,
            scored_at=T1,
        ),
        Alert(
            alert_id="a-1",
            dataset="skab",
            entity="valve1/3",
            state=AlertState.RESOLVED,
            start_seq=7,
            end_seq=9,
            start_time=T0,
            end_time=T1,
            peak_score=4.0,
            threshold=2.5,
            top_channels=TOP,
            detector="pca",
            model_version="1",
            emitted_at=T1,
        ),
        DeadLetter(
            raw=b"\xff\x00not json",
            key=b"valve1/3",
            source_topic="readings.skab",
            partition=0,
            offset=41,
            reason="not UTF-8",
            failed_at=T1,
        ),
    ]


def _key(message: BaseModel) -> bytes:
    return encode_key(getattr(message, "entity", "deadletter"))


def produce(bootstrap: str, topic: str, messages: list[BaseModel]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for message in messages:
        producer.produce(topic, key=_key(message), value=encode(message))
    assert producer.flush(30) == 0, "messages left undelivered"


def consume(bootstrap: str, topic: str, count: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[Message] = []
    try:
        for _ in range(60):
            received += consumer.consume(num_messages=count - len(received), timeout=1.0)
            if len(received) >= count:
                break
    finally:
        consumer.close()
    return received


def test_every_message_type_round_trips_through_kafka(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    messages = sample_messages()
    produce(kafka_bootstrap, topic, messages)

    received = consume(kafka_bootstrap, topic, len(messages))

    assert [m.error() for m in received] == [None] * len(messages)
    decoded = [
        decode(m.value() or b"", type(orig)) for m, orig in zip(received, messages, strict=True)
    ]
    assert decoded == messages
    assert [m.key() for m in received] == [_key(m) for m in messages]


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (apt kcat)")
def test_kcat_reads_readable_json_with_its_key(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    reading = sample_messages()[0]
    produce(kafka_bootstrap, topic, [reading])

    out = subprocess.run(
        ["kcat", "-C", "-b", kafka_bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
        + ["-f", "%k\\t%s\\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    key, value = out.rstrip("\n").split("\t")
    assert key == "valve1/3"
    as_json = json.loads(value)
    assert as_json["values"] == {"pressure": 1.5, "temperature": None}
    assert as_json["event_time"].startswith("2026-11-22T12:00:00")
    assert as_json["dataset"] == "skab" and as_json["seq"] == 7
