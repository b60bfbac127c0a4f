"""The broker fixture's Docker branch (testcontainers) against the Kafka image built here:
a real KRaft broker that takes the project's topics and transactions."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from docker_stack import Images
from kafka_helpers import docker_kafka

from schemas import TopicSettings, topic_specs
from stream_app.topic_admin import ensure_topics

# The first test of a session builds the images (minutes on a fresh machine).
pytestmark = pytest.mark.timeout(2400)


def test_the_docker_branch_runs_a_broker_that_takes_topics_and_transactions(
    images: Images,
) -> None:
    with docker_kafka(images.kafka) as bootstrap:
        specs = topic_specs(TopicSettings(datasets=["synthetic"]))
        ensure_topics(bootstrap, specs)
        topic = "readings.synthetic"
        producer = Producer(
            {"bootstrap.servers": bootstrap, "transactional.id": f"t-{uuid.uuid4().hex}"}
        )
        producer.init_transactions(30)
        producer.begin_transaction()
        for i in range(10):
            producer.produce(topic, f"reading {i}".encode(), b"sensor-000")
        producer.commit_transaction(30)
        producer.begin_transaction()
        producer.produce(topic, b"never seen", b"sensor-000")
        producer.abort_transaction(30)

        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"g-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        try:
            consumer.subscribe([topic])
            seen: list[bytes] = []
            for _ in range(60):
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    seen.append(message.value() or b"")
                if len(seen) == 10:
                    break
            assert seen == [f"reading {i}".encode() for i in range(10)]
            assert consumer.poll(2.0) is None, "the aborted record stays hidden"
        finally:
            consumer.close()
