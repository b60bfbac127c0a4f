"""docker-compose.yml stays valid and mirrors kafka-local and the topic settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
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


def compose_config(*args: str) -> dict[str, Any]:
    """`docker compose config` with the defaults under test: settings in the caller's
    environment, or a .env from deploy/docker/build-images, would override them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMSTREAM_")}
    result = subprocess.run(
        ["docker", "compose", "--env-file", os.devnull, *args, "config", "--format", "json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_config()


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


PYTHON_SERVICES = ("train", "worker", "exporter", "replay", "ui", "notify", "retrain")


@pytest.fixture(scope="module")
def compose_with_profiles() -> dict[str, Any]:
    return compose_config(
        "--profile", "replay", "--profile", "grafana", "--profile", "alerts",
        "--profile", "retrain",
    )  # fmt: skip


def test_every_published_port_is_on_loopback(compose_with_profiles: dict[str, Any]) -> None:
    published = [
        (name, port)
        for name, service in compose_with_profiles["services"].items()
        for port in service.get("ports", [])
    ]
    assert published, "the stack publishes its ports"
    assert all(port["host_ip"] == "127.0.0.1" for _, port in published), published


def test_grafana_is_provisioned_but_only_started_with_its_profile(
    compose: dict[str, Any], compose_with_profiles: dict[str, Any]
) -> None:
    assert "grafana" not in compose["services"]
    grafana = compose_with_profiles["services"]["grafana"]
    assert grafana["profiles"] == ["grafana"]
    mounted = {volume["target"] for volume in grafana["volumes"]}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards"} <= mounted


def test_the_images_can_be_the_locally_built_ones() -> None:
    env = {
        "ANOMSTREAM_IMAGE": "anomstream:local",
        "ANOMSTREAM_KAFKA_IMAGE": "anomstream-kafka:3.9.1",
        "ANOMSTREAM_PROMETHEUS_IMAGE": "anomstream-prometheus:2.42.0",
    }
    result = subprocess.run(
        ["docker", "compose", "--env-file", os.devnull, "config", "--format", "json"],
        cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert {services[s]["image"] for s in ("kafka", "create-topics")} == {
        env["ANOMSTREAM_KAFKA_IMAGE"]
    }
    assert services["prometheus"]["image"] == env["ANOMSTREAM_PROMETHEUS_IMAGE"]
    assert {services[s]["image"] for s in ("train", "worker", "exporter")} == {
        env["ANOMSTREAM_IMAGE"]
    }


def test_python_services_run_real_subcommands_with_valid_settings(
    compose_with_profiles: dict[str, Any],
) -> None:
    from anomstream.cli import build_parser
    from stream_app.settings import WorkerSettings

    parser = build_parser()
    worker_fields = {name.upper() for name in WorkerSettings.model_fields}
    for name in PYTHON_SERVICES:
        service = compose_with_profiles["services"][name]
        parser.parse_args(service["command"])  # exits (fails the test) if not a real command
        env = service["environment"]
        assert env["ANOMSTREAM_KAFKA_BOOTSTRAP"] == "kafka:29092"
        for key in env:
            if key.startswith("ANOMSTREAM_WORKER_"):
                assert key.removeprefix("ANOMSTREAM_WORKER_") in worker_fields, key


def test_prometheus_scrapes_the_ports_the_services_serve(compose: dict[str, Any]) -> None:
    # The file is plain enough for a regex (no YAML library among the dependencies).
    text = (REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text()
    jobs = re.findall(r'job_name: (\S+)\s+static_configs:\s+- targets: \["([^"]+)"\]', text)
    targets = dict(jobs)
    services = compose["services"]
    worker_port = services["worker"]["environment"]["ANOMSTREAM_WORKER_WEB_PORT"]
    exporter_port = services["exporter"]["environment"]["ANOMSTREAM_EXPORTER_PORT"]
    assert targets == {
        "anomstream-worker": f"worker:{worker_port}",
        "anomstream-exporter": f"exporter:{exporter_port}",
    }
    assert services["prometheus"]["image"].endswith(_debian_prometheus_version())


def _debian_prometheus_version() -> str:
    """The compose Prometheus matches the one the tests run (Debian's), where it is here."""
    if shutil.which("prometheus") is None:
        return ""
    out = subprocess.run(["prometheus", "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"version (\d+\.\d+)\.", out.stdout + out.stderr)
    return f"v{match.group(1)}.0" if match else ""


def test_the_gpu_override_is_valid_and_asks_for_a_gpu() -> None:
    gpu = compose_config("-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml")
    worker = gpu["services"]["worker"]
    assert worker["environment"]["ANOMSTREAM_WORKER_DEVICE"] == "cuda"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) absent")
def test_the_prometheus_config_passes_promtool() -> None:
    path = REPO_ROOT / "deploy/prometheus/prometheus.yml"
    done = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_profile_wires_rules_alertmanager_and_notify(
    compose: dict[str, Any], compose_with_profiles: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from consumers.notify_settings import NotifySettings

    assert not {"alertmanager", "notify"} & set(compose["services"]), "only with --profile alerts"
    services = compose_with_profiles["services"]
    # Prometheus loads the rules next to its config (rule_files: alerts.yml) ...
    mounts = {v["target"]: v["source"] for v in services["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus/alerts.yml"].endswith("deploy/prometheus/alerts.yml")
    text = (REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text()
    assert re.search(r"^rule_files:\n  - alerts\.yml$", text, re.MULTILINE)
    # ... and sends what fires to the alertmanager service, where notify sends too.
    assert '- targets: ["alertmanager:9093"]' in text
    assert {p["target"] for p in services["alertmanager"]["ports"]} == {9093}
    env = services["notify"]["environment"]
    assert env["ANOMSTREAM_NOTIFY_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = NotifySettings()  # the service's settings are valid: an empty webhook is none
    assert settings.webhook_url is None and settings.on_failure == "block"
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.25.0"


def test_retrain_runs_on_a_schedule_only_with_its_profile(
    compose: dict[str, Any], compose_with_profiles: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retraining import RetrainSettings

    assert "retrain" not in compose["services"], "only with --profile retrain"
    service = compose_with_profiles["services"]["retrain"]
    assert service["image"] == compose_with_profiles["services"]["worker"]["image"]
    # It writes new versions into the volume the worker reads them from.
    assert [(v["source"], v["target"], v.get("read_only", False)) for v in service["volumes"]] == [
        ("models", "/models", False)
    ]
    for key, value in service["environment"].items():
        monkeypatch.setenv(key, value)
    settings = RetrainSettings()
    assert settings.dataset == "synthetic" and settings.every is not None
    assert settings.since == settings.every  # each run reads what came since the last one


def test_the_image_copies_every_package_the_project_installs() -> None:
    """A package missing from the Dockerfile or the .dockerignore allow-list builds an image
    whose commands fail at import (found once only when the compose tests ran)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {
        name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    allowed = {
        line[1:] for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }  # fmt: skip
    assert packages <= copied, f"not copied by the Dockerfile: {sorted(packages - copied)}"
    assert packages <= allowed, f"excluded by .dockerignore: {sorted(packages - allowed)}"
