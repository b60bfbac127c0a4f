"""`anomstream ui` against the real broker while a replay runs, through its API and in a real
browser (Debian's chromium driven by Playwright): the overview lists the entities, an entity's
chart grows as scores arrive, the injected spike shows as an alert. Each page is saved as a
screenshot (under the test's folder; `ANOMSTREAM_UPDATE_SCREENSHOTS=1` also refreshes the
README's docs/img/ui-*.png)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from kafka_helpers import REPO_ROOT, free_port
from stream_checks import (
    PacedPublisher,
    drop_dataset,
    interleave,
    make_worker,
    new_dataset,
    readings_of,
)
from stream_fixtures import series, train_model

from schemas import readings_topic

ROWS, SPIKE_AT = 1500, 600
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class Ui:
    """`anomstream ui` as a subprocess on a port of its own."""

    def __init__(self, bootstrap: str, models: Path, slug: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "ANOMSTREAM_KAFKA_BOOTSTRAP": bootstrap,
            "ANOMSTREAM_MODELS_DIR": str(models),
            "ANOMSTREAM_UI_PORT": str(self.port),
            "ANOMSTREAM_UI_SCORES_TOPICS": rf"scores\.{slug}",
            "ANOMSTREAM_UI_LOOKBACK": "10m",
            "ANOMSTREAM_WORKER_GROUP_ID": f"group-{slug}",
        }
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "anomstream", "ui"], env=env, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:  # noqa: S310
            return json.load(response)

    def wait(self, check: Any, what: str, timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                found = check()
            except OSError:
                found = None  # not serving yet
            if found:
                return found
            time.sleep(0.3)
        raise AssertionError(f"{what} within {timeout_s}s; log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, kafka_admin: AdminClient, tmp_path: Path
) -> Iterator[tuple[str, Ui, PacedPublisher]]:
    """A dataset of three entities (e0 spikes), its worker and its ui, and a paced replay."""
    slug, models = new_dataset(kafka_bootstrap, kafka_admin), tmp_path / "models"
    entities = {
        f"e{i}": series(ROWS, seed=i, spike_at=SPIKE_AT if i == 0 else None) for i in range(3)
    }
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=100 + i)
    worker = make_worker(kafka_bootstrap, models, slug, tmp_path)
    worker.start(via_cli=True)
    ui = Ui(kafka_bootstrap, models, slug, tmp_path / "ui.log")
    try:
        worker.wait_assigned()
        ui.wait(lambda: ui.get("/api/v1/healthz")["status"] == "ok", "the ui answers")
        messages = interleave(
            [readings_of(slug, e, d, seed=3, single_only=True) for e, d in entities.items()]
        )
        # 150 readings/s per entity: ten seconds of live scores for the pages to watch.
        feed = PacedPublisher(kafka_bootstrap, readings_topic(slug), messages, per_second=450)
        feed.start()
        yield slug, ui, feed
    finally:
        ui.stop()
        worker.stop()
        drop_dataset(kafka_admin, slug)
    assert "Traceback" not in ui.log.read_text()


def test_the_api_serves_live_entities_alerts_and_server_sent_events(
    pipeline: tuple[str, Ui, PacedPublisher],
) -> None:
    slug, ui, feed = pipeline
    page = ui.wait(
        lambda: (p := ui.get(f"/api/v1/entities?dataset={slug}"))["total"] == 3 and p,
        "three entities listed",
    )
    assert [e["entity"] for e in page["items"]] == ["e0", "e1", "e2"]
    assert all(e["detector"] == "pca" and e["model_version"] == "v1" for e in page["items"])
    with urllib.request.urlopen(  # noqa: S310 - loopback
        f"{ui.base}/api/v1/events?dataset={slug}&entity=e1", timeout=10
    ) as stream:
        lines = [stream.readline().decode() for _ in range(6)]
    event = next(i for i, line in enumerate(lines) if line == "event: scores\n")
    data = json.loads(lines[event + 1].removeprefix("data: "))
    assert data["entity"] == "e1" and data["points"]["seq"], data
    ui.wait(
        lambda: [
            a
            for a in ui.get(f"/api/v1/alerts?dataset={slug}&entity=e0")
            if SPIKE_AT - 10 <= a["start_seq"] <= SPIKE_AT + 10
        ],
        "the spike's alert",
    )
    scores = ui.get(f"/api/v1/entities/{slug}/e0/scores?since={SPIKE_AT - 5}&last=20")
    assert scores["points"]["seq"] == sorted(scores["points"]["seq"])
    assert min(scores["points"]["seq"]) > SPIKE_AT - 5
    worker = ui.get("/api/v1/worker")
    assert worker["kafka_connected"] and readings_topic(slug) in worker["lag"]["topics"]
    ready = ui.get("/api/v1/readyz")
    assert ready == {"status": "ready", "problems": []}


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup installs it)"
)
def test_the_pages_in_a_real_browser_list_chart_and_alert_live(
    pipeline: tuple[str, Ui, PacedPublisher], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    slug, ui, feed = pipeline
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        page.goto(f"{ui.base}/")
        page.wait_for_function(
            "document.querySelectorAll('#entities tr[data-entity]').length === 3", timeout=30_000
        )
        listed = page.eval_on_selector_all(
            "#entities tr[data-entity]", "rows => rows.map(r => r.dataset.entity)"
        )
        assert listed == ["e0", "e1", "e2"]
        page.screenshot(path=str(shots / "ui-overview.png"), full_page=True)

        page.goto(f"{ui.base}/entity?dataset={slug}&entity=e0")
        page.wait_for_function("Number(document.getElementById('chart').dataset.points) > 0")
        first = int(page.get_attribute("#chart", "data-points") or 0)
        assert feed.is_alive(), "the replay ended before the chart was watched; replay longer"
        page.wait_for_function(
            f"Number(document.getElementById('chart').dataset.points) > {first}", timeout=20_000
        )
        # Past the spike: its alert is listed and shaded on the chart.
        page.wait_for_function(
            f"Number(document.getElementById('chart').dataset.lastSeq) > {SPIKE_AT + 40}",
            timeout=30_000,
        )
        page.wait_for_function(
            "document.querySelectorAll('#alerts tr td .pill').length > 0", timeout=30_000
        )
        page.screenshot(path=str(shots / "ui-entity.png"), full_page=True)

        page.goto(f"{ui.base}/alerts")
        spike = " or ".join(
            f"@data-alert='{slug}/e0/{s}'" for s in range(SPIKE_AT - 10, SPIKE_AT + 11)
        )
        page.wait_for_selector(f"xpath=//tbody[@id='alerts']/tr[{spike}]", timeout=30_000)
        page.screenshot(path=str(shots / "ui-alerts.png"), full_page=True)

        page.goto(f"{ui.base}/models")
        page.wait_for_selector("#models tr td a", timeout=30_000)
        assert page.locator("#models tr").count() == 3
        page.screenshot(path=str(shots / "ui-models.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert sorted(p.name for p in shots.iterdir()) == [
        "ui-alerts.png", "ui-entity.png", "ui-models.png", "ui-overview.png",
    ]  # fmt: skip
    if os.environ.get("ANOMSTREAM_UPDATE_SCREENSHOTS") == "1":
        for shot in shots.iterdir():
            shutil.copy(shot, REPO_ROOT / "docs" / "img" / shot.name)
