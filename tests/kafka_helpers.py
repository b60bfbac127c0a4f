"""Helpers for tests that run Kafka: free ports, kafka-local's environment, Docker probe."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = REPO_ROOT / "deploy" / "kafka" / "kafka-local"
# Kafka 3.9 in a container, for machines with Docker; cp-kafka 7.9 is Apache Kafka 3.9.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"


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
