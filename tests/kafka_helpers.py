"""Helpers for tests that run Kafka: free ports, kafka-local's environment, Docker probe."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = REPO_ROOT / "deploy" / "kafka" / "kafka-local"
# Kafka 3.9 in a container, for machines with Docker; cp-kafka 7.9 is Apache Kafka 3.9.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"


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


def docker_answers() -> bool:
    # The docker CLI rather than docker-py: docker-py leaks a socket when no daemon answers.
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0
