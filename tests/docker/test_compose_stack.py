"""`docker compose up` for real: the images built here, the stack started and checked end to
end from the host, through ports published on 127.0.0.1 only, then taken down."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_stack import Images
from kafka_helpers import REPO_ROOT, free_port

# The first test of a session builds the images (minutes on a fresh machine).
pytestmark = pytest.mark.timeout(2400)

READINGS, ENTITIES, WINDOW = 4000, 4, 100


class Stack:
    """One compose project of its own (name, host ports), so a user's stack is untouched."""

    def __init__(self, images: Images, tmp_path: Path) -> None:
        self.project = f"anomstream-test-{uuid.uuid4().hex[:8]}"
        services = ("KAFKA", "WORKER", "EXPORTER", "PROMETHEUS", "UI", "ALERTMANAGER")
        self.ports = {name: free_port() for name in services}
        settings = {k: v for k, v in os.environ.items() if not k.startswith("ANOMSTREAM_")}
        self.env = {
            **settings,
            **images.env(),
            "COMPOSE_PROJECT_NAME": self.project,
            "ANOMSTREAM_DATA_HOST_DIR": str(tmp_path / "data"),
            **{f"ANOMSTREAM_{name}_HOST_PORT": str(port) for name, port in self.ports.items()},
        }

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "--project-directory", str(REPO_ROOT), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"


@pytest.fixture
def stack(images: Images, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(images, tmp_path)
    try:
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", "--tail", "40")
        (tmp_path / "compose.log").write_text(logs.stdout + logs.stderr)
        down = stack.compose("down", "-v", "--remove-orphans")
        assert down.returncode == 0, down.stderr


def prometheus(stack: Stack, query: str) -> float:
    url = stack.url("PROMETHEUS", "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        result = json.load(response)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def wait_for(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass  # not answering yet
        time.sleep(2)
    raise AssertionError(f"{what} within {timeout_s:.0f}s")


def test_compose_up_scores_a_replay_from_the_host_and_prometheus_scrapes_both_services(
    stack: Stack,
) -> None:
    # With the `alerts` profile: Alertmanager, and notify sending it each incident.
    up = stack.compose("--profile", "alerts", "up", "-d", "--wait", "--wait-timeout", "300")
    assert up.returncode == 0, up.stderr[-3000:]
    ps = stack.compose("--profile", "alerts", "ps", "--format", "json").stdout
    listed = [json.loads(line) for line in ps.splitlines() if line.strip()]
    health = {s["Service"]: s["Health"] for s in listed}
    checked = ("kafka", "worker", "exporter", "prometheus", "ui", "alertmanager")
    assert health == {**{s: "healthy" for s in checked}, "notify": ""}
    published = {(p["URL"], p["PublishedPort"]) for s in listed for p in s["Publishers"]}
    assert {url for url, port in published if port} == {"127.0.0.1"}, "loopback only"

    bootstrap = f"127.0.0.1:{stack.ports['KAFKA']}"
    replay = subprocess.run(
        [sys.executable, "-m", "anomstream", "replay", "synthetic", "--limit", str(READINGS),
         "--rate", "4000", "--bootstrap", bootstrap, "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-2000:]
    scored = READINGS - ENTITIES * (WINDOW - 1)  # each sensor's first window fills unscored

    # Prometheus (in its container) scrapes the worker and the exporter by service name.
    wait_for(
        lambda: (
            prometheus(stack, "sum(anomstream_scores_total)") == scored
            and prometheus(stack, "sum(anomstream_worker_readings_scored_total)") == scored
        ),
        180,
        f"Prometheus sees {scored} scores from both the worker and the exporter",
    )
    up_jobs = prometheus(stack, 'count(up{job=~"anomstream-(worker|exporter)"} == 1)')
    assert up_jobs == 2

    # Alerts, read committed from the host through the published port.
    alerts = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", "alerts", "-o", "beginning", "-e", "-q",
         "-X", "isolation.level=read_committed", "-f", "%s\n"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert alerts.returncode == 0, alerts.stderr
    opened = [json.loads(a) for a in alerts.stdout.splitlines() if '"opened"' in a]
    assert opened and {a["dataset"] for a in opened} == {"synthetic"}

    # The web view in its container lists the replayed sensors and their alerts.
    with urllib.request.urlopen(stack.url("UI", "/api/v1/entities"), timeout=10) as response:  # noqa: S310
        listed = json.load(response)
    assert listed["total"] == ENTITIES and listed["open_alerts"] >= 0
    with urllib.request.urlopen(stack.url("UI", "/api/v1/alerts"), timeout=10) as response:  # noqa: S310
        assert {a["alert_id"] for a in json.load(response)} >= {a["alert_id"] for a in opened}

    # notify, in its container, delivered every alert event to Alertmanager, which took them
    # (resolved incidents leave its active list, so its own counter is what is checked).
    events = [line for line in alerts.stdout.splitlines() if line.strip()]

    def delivered_to_alertmanager() -> bool:
        logs = stack.compose("--profile", "alerts", "logs", "--no-color", "notify").stdout
        delivered = re.findall(r"delivered \S+ \(\S+ \w+\) to alertmanager", logs)
        with urllib.request.urlopen(stack.url("ALERTMANAGER", "/metrics"), timeout=10) as response:  # noqa: S310
            exposition = response.read().decode()
        received = sum(
            float(value)
            for value in re.findall(
                r'^alertmanager_alerts_received_total\{[^}]*status="firing"[^}]*\} (\S+)$',
                exposition,
                re.M,
            )
        )
        return len(delivered) == len(events) and received >= len(opened)

    wait_for(delivered_to_alertmanager, 120, f"notify delivers {len(events)} alert events")

    with urllib.request.urlopen(stack.url("WORKER", "/healthz"), timeout=10) as response:  # noqa: S310
        assert response.status == 200
    with urllib.request.urlopen(stack.url("EXPORTER", "/metrics"), timeout=10) as response:  # noqa: S310
        exposition = response.read().decode()
    assert re.search(r"^anomstream_exporter_kafka_connected 1\.0$", exposition, re.M)


def test_make_demo_runs_kafka_with_compose_when_its_image_is_here(
    images: Images, tmp_path: Path
) -> None:
    stack = Stack(images, tmp_path)
    env = {
        **stack.env,
        "PIPELINE_DIR": str(tmp_path / "run"),
        "PIPELINE_LIMIT": "2000",
        "ANOMSTREAM_WORKER_WEB_PORT": str(free_port()),
        "ANOMSTREAM_EXPORTER_PORT": str(free_port()),
        "ANOMSTREAM_UI_PORT": str(free_port()),
        # No kafka-local of this test's may be running for compose to be chosen.
        "KAFKA_LOCAL_DIR": str(tmp_path / "no-kafka-local"),
    }
    try:
        done = subprocess.run(
            [str(REPO_ROOT / "scripts" / "demo"), "synthetic", "pca"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"broker: docker compose ({images.kafka})" in done.stdout
        assert re.search(r"^readings consumed\s+2,000$", done.stdout, re.M), done.stdout[-2000:]
        assert "stopping the broker this demo started" in done.stdout
    finally:
        stack.compose("down", "-v", "--remove-orphans")
