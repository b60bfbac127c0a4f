"""The images docker compose runs, built by deploy/docker/build-images (tests/docker)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest
from kafka_helpers import REPO_ROOT, docker_answers


@dataclass(frozen=True)
class Images:
    app: str
    kafka: str
    prometheus: str
    alertmanager: str

    def env(self) -> dict[str, str]:
        return {
            "ANOMSTREAM_IMAGE": self.app,
            "ANOMSTREAM_KAFKA_IMAGE": self.kafka,
            "ANOMSTREAM_PROMETHEUS_IMAGE": self.prometheus,
            "ANOMSTREAM_ALERTMANAGER_IMAGE": self.alertmanager,
        }


def build_images() -> Images:
    """Builds the images from Debian, PyPI and Maven Central (no registry); skips, saying
    why, where no Docker daemon answers or compose v2 is missing."""
    if not docker_answers():
        pytest.skip("no Docker daemon answers (.ci/run starts one; see README, docker compose)")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap)")
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if compose.returncode != 0:
        pytest.skip("docker has no compose v2 plugin (scripts/setup builds one when Go is here)")
    built = subprocess.run(
        [str(REPO_ROOT / "deploy" / "docker" / "build-images"), "--no-env"],
        capture_output=True, text=True, timeout=3000, check=False,
        env={**os.environ, "ANOMSTREAM_IMAGE": "anomstream:local"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return Images(
        "anomstream:local",
        "anomstream-kafka:3.9.1",
        "anomstream-prometheus:2.42.0",
        "anomstream-alertmanager:0.25.0",
    )
