"""docker-compose.yml stays valid and mirrors kafka-local and the topic settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schemas import TopicSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _compose_available(),
    reason="the docker compose plugin is not installed (only `docker compose config` is used)",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # Settings in the caller's environment would override the defaults under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMSTREAM_")}
    result = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_kafka_is_the_same_version_as_kafka_local(compose: dict[str, Any]) -> None:
    script = (REPO_ROOT / "deploy" / "kafka" / "kafka-local").read_text()
    match = re.search(r"^readonly KAFKA_VERSION=(\S+)$", script, re.MULTILINE)
    assert match is not None
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{match.group(1)}"
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == (
        "broker,controller"
    )


def test_topic_creation_defaults_mirror_the_topic_settings(compose: dict[str, Any]) -> None:
    env = compose["services"]["create-topics"]["environment"]
    defaults = TopicSettings()
    prefix = "ANOMSTREAM_TOPIC_"
    assert env[f"{prefix}DATASETS"].split(",") == defaults.datasets
    assert int(env[f"{prefix}PARTITIONS"]) == defaults.partitions
    assert int(env[f"{prefix}REPLICATION_FACTOR"]) == defaults.replication_factor
    for kind in ("READINGS", "SCORES", "ALERTS", "DEADLETTER"):
        setting = getattr(defaults, f"{kind.lower()}_retention_hours")
        assert float(env[f"{prefix}{kind}_RETENTION_HOURS"]) == setting


def test_topic_creation_waits_for_a_healthy_broker(compose: dict[str, Any]) -> None:
    depends = compose["services"]["create-topics"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert "healthcheck" in compose["services"]["kafka"]
