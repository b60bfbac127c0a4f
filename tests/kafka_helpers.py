"""Helpers for tests that run Kafka: free ports, kafka-local's environment, Docker probe."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = REPO_ROOT / "deploy" / "kafka" / "kafka-local"
# Kafka 3.9.1 in a container, for machines with Docker: the official image, or the one
# deploy/docker/build-images makes from the Maven jars (same settings), as compose names it.
KAFKA_IMAGE = os.environ.get("ANOMSTREAM_KAFKA_IMAGE", "apache/kafka:3.9.1")


# Below the kernel's ephemeral range (32768-60999): a port picked there can be taken by an
# outgoing connection between the pick and the server's bind.
_TEST_PORTS = range(20000, 32000)


def free_port() -> int:
    """A loopback port below the ephemeral range that nobody listens on now."""
    for _ in range(200):
        port = random.choice(_TEST_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_TEST_PORTS}")


def kafka_local_env(data_dir: Path, port: int, controller_port: int) -> dict[str, str]:
    """Environment for `kafka-local` so that a test's cluster is its own."""
    return {
        **os.environ,
        "KAFKA_LOCAL_DIR": str(data_dir),
        "KAFKA_LOCAL_PORT": str(port),
        "KAFKA_LOCAL_CONTROLLER_PORT": str(controller_port),
    }


def docker_answers() -> bool:
    # The docker CLI rather than docker-py: docker-py leaks a socket when no daemon answers.
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def image_present(image: str) -> bool:
    probe = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


@contextmanager
def docker_kafka(image: str = KAFKA_IMAGE) -> Iterator[str]:
    """A one-node KRaft broker in a container (testcontainers), on a loopback port of its
    own; yields its bootstrap address. The image takes apache/kafka's KAFKA_* settings."""
    # Ryuk, testcontainers' reaper, is an image to pull; the context manager cleans up.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    port = free_port()
    container = DockerContainer(image).waiting_for(
        LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(120)
    )
    # Published on loopback only: docker-py takes (address, port), which with_bind_ports
    # (a port number, so every interface) cannot express; its annotation says so too.
    container.ports["9092/tcp"] = ("127.0.0.1", port)  # type: ignore[assignment]
    settings = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        # Clients come in through the published port; the broker reaches itself (for
        # transactions) on a listener of its own inside the container, as in compose.
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,BROKER://:29092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},BROKER://localhost:29092",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT"
        ),
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    for name, value in settings.items():
        container.with_env(name, value)
    with container:
        yield f"127.0.0.1:{port}"
