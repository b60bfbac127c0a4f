"""Shared fixtures: real benchmark data (or a clean skip), a real Kafka broker, uuid topics."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from docker_stack import Images, build_images
from kafka_helpers import (
    KAFKA_IMAGE,
    KAFKA_LOCAL,
    docker_answers,
    docker_kafka,
    free_port,
    image_present,
    kafka_local_env,
)
from local_kafka import LocalKafka

from schemas import ALERTS_TOPIC, TopicSettings, scores_topic, topic_specs
from stream_app.topic_admin import ensure_topics

SHARED_EXTRACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "extract"


@pytest.fixture(scope="session")
def real_data_dir() -> Callable[[str], Path]:
    """Returns the data root holding `folder` (a dataset's folder), or skips the test.

    The root is ANOMSTREAM_DATA_DIR (CI sets it from ../shared/datasets/extract). A user's
    clone has no benchmark data, so those tests skip with the reason instead of failing.
    """

    def find(folder: str) -> Path:
        root = os.environ.get("ANOMSTREAM_DATA_DIR")
        if root is None:
            pytest.skip(
                f"real data for {folder} not available: set ANOMSTREAM_DATA_DIR "
                f"(`{SHARED_EXTRACT}` prints the folder where that exists)"
            )
        if not (Path(root) / folder).is_dir():
            pytest.skip(f"real data for {folder} not found under ANOMSTREAM_DATA_DIR={root}")
        return Path(root)

    return find


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    integration = Path(__file__).parent / "integration"
    faults = Path(__file__).parent / "faults"
    docker = Path(__file__).parent / "docker"
    for item in items:
        parents = Path(str(item.fspath)).parents
        if integration in parents:
            item.add_marker(pytest.mark.integration)
        if faults in parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)
        if docker in parents:
            item.add_marker(pytest.mark.docker)


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    # The environment kafka-local was started with; None for a broker started elsewhere.
    kafka_local_env: dict[str, str] | None


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """KAFKA_BOOTSTRAP if set; else Kafka in Docker (testcontainers) if a daemon answers and
    the Kafka image is here already (nothing is pulled); else kafka-local. ANOMSTREAM_TEST_BROKER
    =docker or =local insists on one."""
    choice = os.environ.get("ANOMSTREAM_TEST_BROKER", "auto")
    if given := os.environ.get("KAFKA_BOOTSTRAP"):
        yield Broker(given, None)
    elif choice == "docker" or (
        choice == "auto" and docker_answers() and image_present(KAFKA_IMAGE)
    ):
        with docker_kafka() as bootstrap:
            yield Broker(bootstrap, None)
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
def images() -> Images:
    """The images compose runs, built here once a session (tests/docker); skips without a
    Docker daemon, debootstrap or compose v2."""
    return build_images()


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A one-node kafka-local broker of the test's own, which it may stop and kill."""
    cluster = LocalKafka(tmp_path / "kafka")
    cluster.start()
    yield cluster
    cluster.close()


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
    # It outlives the broker at session end; its reconnect attempts would print errors.
    return AdminClient({"bootstrap.servers": kafka_bootstrap, "log_level": 2})


def _wait_until_led(admin: AdminClient, name: str, partitions: int) -> None:
    # Creation returns before every partition has a leader; producers would see errors.
    for _ in range(100):
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        if topic is not None and topic.error is None and len(topic.partitions) == partitions:
            if all(p.leader >= 0 for p in topic.partitions.values()):
                return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} has no leaders after 10 s")


@pytest.fixture
def new_topic(kafka_admin: AdminClient) -> Iterator[Callable[..., str]]:
    """Creates uuid-named topics for one test and deletes them after it."""
    created: list[str] = []

    def create(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex}"
        futures = kafka_admin.create_topics([NewTopic(name, partitions, 1)])
        futures[name].result(timeout=30)
        created.append(name)
        _wait_until_led(kafka_admin, name, partitions)
        return name

    yield create
    if created:
        for future in kafka_admin.delete_topics(created).values():
            future.result(timeout=30)


@pytest.fixture
def slug(kafka_bootstrap: str, kafka_admin: AdminClient) -> Iterator[str]:
    """A fresh dataset slug whose `scores.<slug>` topic is this test's own (2 partitions);
    the shared alerts topic exists. For tests of the consumers of the worker's outputs."""
    name = f"t{uuid.uuid4().hex[:10]}"
    ensure_topics(
        kafka_bootstrap,
        [s for s in topic_specs(TopicSettings(datasets=[])) if s.name == ALERTS_TOPIC],
    )
    topic = scores_topic(name)
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    yield name
    kafka_admin.delete_topics([topic])[topic].result(timeout=30)
