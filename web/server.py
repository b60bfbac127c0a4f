"""`anomstream ui`: the live state fed from Kafka, served by uvicorn until stopped."""

from __future__ import annotations

import logging

import uvicorn

from producers.kafka_config import KafkaSettings
from stream_app.model_store import ModelStore
from web.api import ApiContext
from web.app import create_app
from web.feed import Feed
from web.live import LiveState
from web.scoring import Scorer
from web.settings import UiSettings
from web.worker_lag import WorkerLag

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(settings: UiSettings, kafka: KafkaSettings) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn's handling); the feed stops with it."""
    state = LiveState(settings.points_per_entity, settings.max_entities, settings.recent_alerts)
    feed = Feed(settings, kafka, state)
    lag = WorkerLag(kafka, settings.worker_group)
    store = ModelStore(settings.models_dir, device="cpu")
    context = ApiContext(state, feed, Scorer(store), lag)
    token = settings.token.get_secret_value() if settings.token is not None else None
    app = create_app(context, token, settings.max_body_bytes)
    feed.start()
    log.info(
        "anomstream ui on http://%s:%d/ (API /api/v1, docs /docs)%s",
        settings.host, settings.port, ", bearer token required" if token else "",
    )  # fmt: skip
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        feed.stop.set()
        feed.join(timeout=5)
        lag.close()
