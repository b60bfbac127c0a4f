"""The exporter's Kafka connection state: what flips the gauge, and one log line per change."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry, Gauge

from consumers.exporter_connection import PROBE_INTERVAL_S, KafkaConnection


class FakeCluster:
    """list_topics answers while `up`, else fails as librdkafka does after its timeout."""

    def __init__(self) -> None:
        self.up = False
        self.asked = 0

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> object:
        self.asked += 1
        if not self.up:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))
        return object()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


ALL_DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")


@pytest.fixture
def parts() -> tuple[KafkaConnection, Gauge, FakeCluster, Clock]:
    gauge = Gauge("connected", "test", registry=CollectorRegistry())
    clock = Clock()
    return KafkaConnection(gauge, "kafka:9092", clock), gauge, FakeCluster(), clock


def value(gauge: Gauge) -> float:
    [metric] = gauge.collect()
    return float(metric.samples[0].value)


def test_unreachable_at_start_then_reachable(
    parts: tuple[KafkaConnection, Gauge, FakeCluster, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    connection, gauge, cluster, clock = parts
    with caplog.at_level(logging.INFO, logger="consumers.exporter_connection"):
        assert not connection.probe(cluster, 10)
        assert value(gauge) == 0.0
        assert connection.connected is False
        assert not connection.probe_due()  # not again before the interval
        clock.now += PROBE_INTERVAL_S
        assert connection.probe_due()
        assert not connection.probe(cluster, 2)  # still down: nothing new to say
        cluster.up = True
        clock.now += PROBE_INTERVAL_S
        assert connection.probe(cluster, 2)
    assert value(gauge) == 1.0
    assert not connection.probe_due()  # connected and nothing reported: no probing
    assert [r.getMessage() for r in caplog.records] == [
        "cannot reach Kafka at kafka:9092 (no answer within 10s); serving /metrics with "
        "anomstream_exporter_kafka_connected 0 and retrying",
        "connected to Kafka at kafka:9092",
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_all_brokers_down_is_checked_then_believed(
    parts: tuple[KafkaConnection, Gauge, FakeCluster, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    connection, gauge, cluster, _clock = parts
    cluster.up = True
    connection.probe(cluster, 2)
    with caplog.at_level(logging.INFO, logger="consumers.exporter_connection"):
        # A passing report (a client moving to the brokers it learnt) is denied by a probe.
        connection.on_error(ALL_DOWN)
        assert connection.probe_due() and value(gauge) == 1.0
        assert connection.probe(cluster, 2)
        assert caplog.records == []
        # A real outage: the probe gets no answer.
        cluster.up = False
        connection.on_error(ALL_DOWN)
        connection.on_error(KafkaError(KafkaError._TRANSPORT, "connect refused"))
        assert not connection.probe(cluster, 2)
        assert value(gauge) == 0.0
        # A record read means the cluster answers again.
        connection.up()
        connection.up()
    assert value(gauge) == 1.0
    assert [r.getMessage() for r in caplog.records] == [
        "lost Kafka at kafka:9092 (1/1 brokers are down, no answer within 2s); "
        "anomstream_exporter_kafka_connected is 0 until it answers again",
        "Kafka at kafka:9092 answers again; anomstream_exporter_kafka_connected is 1",
    ]


def test_other_errors_change_nothing(
    parts: tuple[KafkaConnection, Gauge, FakeCluster, Clock],
) -> None:
    connection, _gauge, cluster, _clock = parts
    cluster.up = True
    connection.probe(cluster, 2)
    connection.on_error(KafkaError(KafkaError._TRANSPORT, "one broker of three went away"))
    assert not connection.probe_due()
    assert cluster.asked == 1
