"""The HTTP API without Kafka: scoring with a saved model, models, errors, limits, the token.

The live state is filled directly (its feed is the Kafka part, tested against a real broker in
tests/integration/test_web_ui.py); the models are real ones trained and saved here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from stream_fixtures import CHANNELS, WINDOW, series, times, train_model

from detectors.pipeline import load_trained, score_series
from stream_app.model_store import ModelStore
from web.api import ApiContext
from web.app import create_app
from web.live import LiveState
from web.scoring import Scorer


class Feed:
    connected = True
    error: str | None = None


def client(models: Path, token: str | None = None, max_body: int = 1_048_576) -> TestClient:
    context = ApiContext(LiveState(), Feed(), Scorer(ModelStore(models, refresh_s=0.0)))
    return TestClient(create_app(context, token, max_body), raise_server_exceptions=False)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    train_model(tmp_path, "plant", "pump-1", seed=1)
    return tmp_path


def batch_body(rows: np.ndarray, first_seq: int = 0, entity: str = "pump-1") -> dict[str, Any]:
    return {
        "dataset": "plant", "entity": entity, "first_seq": first_seq,
        "event_times": times(first_seq, len(rows)), "channels": list(CHANNELS),
        "rows": rows.tolist(),
    }  # fmt: skip


def test_score_gives_the_offline_scores_for_every_full_window(models: Path) -> None:
    data = series(40, seed=3, spike_at=30)
    response = client(models).post("/api/v1/score", json=batch_body(data, first_seq=100))
    assert response.status_code == 200, response.text
    body = response.json()
    model, _ = load_trained(next((models / "plant" / "pump-1" / "pca").iterdir()))
    offline, contributions = score_series(model, data, contributions=True)
    assert contributions is not None
    assert [s["seq"] for s in body["scores"]] == list(range(100 + WINDOW - 1, 140))
    np.testing.assert_allclose([s["score"] for s in body["scores"]], offline[WINDOW - 1 :])
    assert body["threshold"] == pytest.approx(model.threshold.value)
    assert body["model"] == {
        "owner": "pump-1",
        "detector": "pca",
        "version": "v1",
        "window": WINDOW,
    }
    flagged = [s for s in body["scores"] if s["is_anomaly"]]
    assert body["anomalous"] and any(30 <= s["seq"] - 100 < 36 for s in flagged)
    peak = max(flagged, key=lambda s: s["score"])
    expected = CHANNELS[int(np.argmax(contributions[peak["seq"] - 100]))]
    assert peak["top_channels"][0]["channel"] == expected


def test_readings_as_a_list_in_another_channel_order_score_the_same(models: Path) -> None:
    data = series(12, seed=4)
    readings = [
        {"dataset": "plant", "entity": "pump-1", "seq": i, "event_time": times(i, 1)[0],
         "values": dict(reversed(list(zip(CHANNELS, row.tolist(), strict=True))))}
        for i, row in enumerate(data)
    ]  # fmt: skip
    api = client(models)
    as_list = api.post("/api/v1/score", json=readings).json()
    as_batch = api.post("/api/v1/score", json=batch_body(data)).json()
    assert [s["score"] for s in as_list["scores"]] == [s["score"] for s in as_batch["scores"]]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (batch_body(series(5, seed=1)), 422, "5 readings are too few: pca v1 scores windows of 8"),
        (batch_body(series(20, seed=1), entity="nobody"), 404, "no model for plant/nobody"),
        ({"dataset": "plant"}, 422, "entity: Field required"),
        ([], 422, "no readings"),
        ("not json at all", 422, "JSON"),
    ],
)
def test_bad_requests_are_4xx_json_saying_why(
    models: Path, body: Any, status: int, message: str
) -> None:
    api = client(models)
    if isinstance(body, str):
        response = api.post(
            "/api/v1/score", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = api.post("/api/v1/score", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_channels_that_do_not_match_the_model_are_named(models: Path) -> None:
    body = batch_body(series(10, seed=1))
    body["channels"] = ["flow", "pressure", "humidity"]
    error = client(models).post("/api/v1/score", json=body).json()["error"]
    assert "missing temp" in error and "unknown humidity" in error


def test_a_body_over_the_cap_is_413_before_it_is_parsed(models: Path) -> None:
    api = client(models, max_body=2048)
    response = api.post("/api/v1/score", json=batch_body(series(200, seed=1)))
    assert response.status_code == 413
    assert response.json() == {"error": "request body over 2048 bytes"}


def test_models_lists_what_is_deployed_and_404s_the_rest(models: Path) -> None:
    api = client(models)
    (model,) = api.get("/api/v1/models").json()
    described = {k: model[k] for k in ("dataset", "entity", "detector", "version", "window")}
    assert described == {
        "dataset": "plant", "entity": "pump-1", "detector": "pca", "version": "v1",
        "window": WINDOW,
    }  # fmt: skip
    assert model["channels"] == list(CHANNELS) and model["train_hash"]
    assert api.get("/api/v1/models/plant/pump-1").json() == [model]
    missing = api.get("/api/v1/models/plant/nobody")
    assert missing.status_code == 404 and missing.json() == {"error": "no model for plant/nobody"}


def test_a_token_guards_the_api_but_not_health(models: Path) -> None:
    api = client(models, token="s3cret")  # noqa: S106 - a test's token
    assert api.get("/api/v1/healthz").status_code == 200
    refused = api.get("/api/v1/models")
    assert refused.status_code == 401 and "bearer token" in refused.json()["error"]
    assert api.get("/api/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.get("/api/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert api.get("/api/v1/alerts?access_token=s3cret").status_code == 200


def test_readyz_says_what_is_missing(tmp_path: Path) -> None:
    not_ready = client(tmp_path).get("/api/v1/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["problems"] == [f"no models under {tmp_path}"]


def test_pages_docs_and_the_shipped_chart_library_are_served(models: Path) -> None:
    api = client(models)
    for page in ("/", "/entity", "/alerts", "/models"):
        response = api.get(page)
        assert response.status_code == 200 and "/static/app.js" in response.text
    docs = api.get("/docs").text
    assert "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js" in docs and "cdn" not in docs
    assert api.get("/static/vendor/uplot-1.6.32/uPlot.iife.min.js").status_code == 200
    assert "/api/v1/score" in api.get("/openapi.json").json()["paths"]


def test_unknown_routes_and_bad_queries_are_json_4xx(models: Path) -> None:
    api = client(models)
    assert api.get("/api/v1/nothing").json() == {"error": "Not Found"}
    bad = api.get("/api/v1/alerts?state=sideways")
    assert bad.status_code == 422 and "state" in bad.json()["error"]
    assert api.get("/api/v1/entities/plant/nobody/scores").status_code == 404
