"""The worker's HTTP endpoints, and nothing else: /metrics, /healthz, /readyz.

- `/metrics`: Prometheus text format.
- `/healthz`: 200 while the engine thread runs and its loop comes round (a broker outage
  included: restarting would not help); 503 when it died or stalled, i.e. restart me.
- `/readyz`: 200 when also connected to the broker and not recovering; 503 otherwise.

Both health answers are JSON that says why. The server binds to ANOMSTREAM_WORKER_WEB_HOST
(127.0.0.1 unless asked); any other path is 404.
"""

from __future__ import annotations

import json

from aiohttp import web

from stream_app.liveness import Liveness
from stream_app.metrics import WorkerMetrics

__all__ = ["WorkerWeb"]


class WorkerWeb:
    """An aiohttp server on the faust worker's event loop."""

    def __init__(self, host: str, port: int, metrics: WorkerMetrics, liveness: Liveness) -> None:
        self._host, self._port = host, port
        self._metrics = metrics
        self._liveness = liveness
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        application = web.Application()
        application.router.add_get("/metrics", self._serve_metrics)
        application.router.add_get("/healthz", self._serve_health)
        application.router.add_get("/readyz", self._serve_ready)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.exposition(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _serve_health(self, request: web.Request) -> web.Response:
        return _json(*self._liveness.health())

    async def _serve_ready(self, request: web.Request) -> web.Response:
        return _json(*self._liveness.readiness())


def _json(ok: bool, detail: dict[str, object]) -> web.Response:
    return web.Response(
        text=json.dumps(detail), status=200 if ok else 503, content_type="application/json"
    )
