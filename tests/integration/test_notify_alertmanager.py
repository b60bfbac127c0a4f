"""`anomstream notify` against the real broker and a real Alertmanager (Debian's
prometheus-alertmanager, started here on a port of its own with a throwaway config): an
opened incident shows up in Alertmanager's API with its labels and top channels, and its
resolution ends it."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka_helpers import free_port
from notify_helpers import NotifyProcess, produce_alerts, wait_until
from output_messages import make_alert

from schemas import AlertState

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
DEADLINE_S = 90.0

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="Alertmanager is not installed (Debian: apt-get install prometheus-alertmanager; "
    "scripts/setup does)",
)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
        return json.load(response)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A one-instance Alertmanager whose receiver sends nothing; yields its base URL."""
    assert ALERTMANAGER is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    port = free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=2).close()  # noqa: S310
        except OSError:
            return False
        return True

    try:
        wait_until(ready, 30, "Alertmanager ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def active_alerts(base_url: str, dataset: str) -> dict[str, dict[str, Any]]:
    """Alertmanager's current alerts of `dataset`, by entity (resolved ones are not listed)."""
    query = urllib.parse.urlencode({"filter": f'dataset="{dataset}"'})
    alerts = get_json(f"{base_url}/api/v2/alerts?{query}")
    return {a["labels"]["entity"]: a for a in alerts}


def states(base_url: str, dataset: str) -> dict[str, str]:
    return {e: a["status"]["state"] for e, a in active_alerts(base_url, dataset).items()}


def peak_score(base_url: str, dataset: str, entity: str) -> str:
    alert = active_alerts(base_url, dataset).get(entity)
    return "" if alert is None else str(alert["annotations"]["peak_score"])


def test_incidents_fire_and_resolve_in_alertmanager(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    alertmanager: str,
    tmp_path: Path,
) -> None:
    topic = new_topic("alerts", partitions=2)
    dataset = f"t{uuid.uuid4().hex[:10]}"
    top = [("flow", 0.61), ("temp", 0.2)]
    produce_alerts(
        kafka_bootstrap, topic,
        [make_alert(dataset=dataset, entity="valve1", top_channels=top),
         make_alert(dataset=dataset, entity="valve2"),
         make_alert(dataset=dataset, entity="valve1", state=AlertState.UPDATED, peak=7.5,
                    top_channels=top)],
    )  # fmt: skip
    notify = NotifyProcess(
        tmp_path / "notify.log",
        ["--alertmanager", alertmanager, "--topic", topic, "--group-id", f"notify-{topic}",
         "--from", "earliest", "--bootstrap", kafka_bootstrap],
        {"ANOMSTREAM_NOTIFY_SEVERITY": "page"},
    )  # fmt: skip
    notify.start()
    try:
        wait_until(
            lambda: states(alertmanager, dataset) == {"valve1": "active", "valve2": "active"},
            DEADLINE_S, "both incidents active in Alertmanager",
        )  # fmt: skip
        # valve1's update, sent after its opening, is the latest word on it.
        wait_until(
            lambda: peak_score(alertmanager, dataset, "valve1") == "7.5",
            DEADLINE_S, "valve1's update in Alertmanager",
        )  # fmt: skip
        valve1 = active_alerts(alertmanager, dataset)["valve1"]
        assert valve1["labels"] == {
            "alertname": "AnomstreamAnomaly", "dataset": dataset, "entity": "valve1",
            "severity": "page",
        }  # fmt: skip
        assert valve1["annotations"]["top_channels"] == "flow 0.61, temp 0.2"
        assert valve1["startsAt"].startswith("2026-03-01T12:00:00")
        ends = datetime.fromisoformat(valve1["endsAt"].replace("Z", "+00:00"))
        assert ends > datetime.now(UTC), "an open incident keeps firing"

        produce_alerts(
            kafka_bootstrap,
            topic,
            [make_alert(dataset=dataset, entity="valve1", state=AlertState.RESOLVED)],
        )
        wait_until(
            lambda: states(alertmanager, dataset) == {"valve2": "active"},
            DEADLINE_S, "valve1 resolved in Alertmanager",
        )  # fmt: skip
    finally:
        status = notify.stop()
    assert status == 0, notify.output()
    assert "notify stopped: 4 alert events delivered, 0 dead-lettered" in notify.output()
