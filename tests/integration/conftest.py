"""A real Kafka broker for the integration tests, and uuid-named topics per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO_ROOT / "deploy" / "kafka" / "kafka-local"
# Kafka 3.9 in a container, for machines with Docker; cp-kafka 7.9 is Apache Kafka 3.9.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    """A loopback port nobody listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kafka_local_env(data_dir: Path, port: int, controller_port: int) -> dict[str, str]:
    """Environment for `kafka-local` so that a test's cluster is its own."""
    return {
        **os.environ,
        "KAFKA_LOCAL_DIR": str(data_dir),
        "KAFKA_LOCAL_PORT": str(port),
        "KAFKA_LOCAL_CONTROLLER_PORT": str(controller_port),
    }


def _docker_answers() -> bool:
    # The docker CLI rather than docker-py: docker-py leaks a socket when no daemon answers.
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    # The environment kafka-local was started with; None for a broker started elsewhere.
    kafka_local_env: dict[str, str] | None


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """KAFKA_BOOTSTRAP if set; else Kafka in Docker if a daemon answers; else kafka-local."""
    if given := os.environ.get("KAFKA_BOOTSTRAP"):
        yield Broker(given, None)
    elif _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
            yield Broker(kafka.get_bootstrap_server(), None)
    else:
        env = kafka_local_env(tmp_path_factory.mktemp("kafka"), free_port(), free_port())
        started = subprocess.run(
            [str(KAFKA_LOCAL), "start"], env=env, capture_output=True, text=True, check=False
        )
        if started.returncode != 0:
            pytest.fail(f"kafka-local could not start a broker:\n{started.stderr}")
        try:
            yield Broker(started.stdout.strip().splitlines()[-1], env)
        finally:
            subprocess.run([str(KAFKA_LOCAL), "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(broker: Broker) -> str:
    return broker.bootstrap


@pytest.fixture(scope="session")
def session_kafka_local_env(broker: Broker) -> dict[str, str]:
    """The session broker's kafka-local environment, for tests of the script's tools."""
    if broker.kafka_local_env is None:
        pytest.skip("the session broker was not started by kafka-local (KAFKA_BOOTSTRAP/Docker)")
    return broker.kafka_local_env


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def new_topic(kafka_admin: AdminClient) -> Iterator[Callable[..., str]]:
    """Creates uuid-named topics for one test and deletes them after it."""
    created: list[str] = []

    def create(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex}"
        futures = kafka_admin.create_topics([NewTopic(name, partitions, 1)])
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield create
    if created:
        for future in kafka_admin.delete_topics(created).values():
            future.result(timeout=30)
