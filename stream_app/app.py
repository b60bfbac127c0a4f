"""The faust application: `faust -A stream_app.app worker` runs the scoring engine.

faust provides the worker process, its lifecycle and signals, logging and the web server
(/metrics). The records themselves flow through `Engine`, a batched confluent-kafka loop
in a thread: measured on this project's 2-core machine, a faust agent reading 200k
single-row readings with `stream.take(1000)` managed about 6k messages/s where a
confluent-kafka batch consumer read 600k/s, and the targets are 30k readings/s single-row.
See docs/STREAM_APP.md.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import faust
from aiohttp.web import Response
from faust.web import Request, View

from producers.kafka_config import KafkaSettings
from stream_app.engine import Engine
from stream_app.metrics import WorkerMetrics
from stream_app.settings import AlertPolicy, WorkerSettings

__all__ = ["app"]

log = logging.getLogger(__name__)

settings = WorkerSettings()
kafka = KafkaSettings()
if settings.bootstrap:
    kafka = kafka.model_copy(update={"bootstrap": settings.bootstrap})
metrics = WorkerMetrics()

app = faust.App(
    f"{settings.group_id}-faust",
    broker=f"kafka://{kafka.bootstrap}",
    web_port=settings.web_port,
    web_host="0.0.0.0",  # noqa: S104 - Prometheus scrapes it from other hosts/containers
    # faust keeps table state here; the worker has none, so keep it out of the cwd.
    datadir=Path(tempfile.gettempdir()) / f"anomstream-faust-{settings.worker_id}",
    # faust's own consumer reads only its leader topic: the engine owns the data path. Its
    # group must not hold a restarted worker back longer than the engine's own does.
    broker_session_timeout=settings.session_timeout_ms / 1000,
    broker_heartbeat_interval=settings.session_timeout_ms / 4000,
)


@app.service
class ScoringService(faust.Service):
    """Runs the engine in a thread; a crash there stops the worker with an error."""

    async def on_start(self) -> None:
        self._stop = threading.Event()
        self._engine = Engine(settings, kafka, AlertPolicy(), metrics)
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name="anomstream-engine", daemon=True
        )
        self._thread.start()

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._engine.run(self._stop)
        except Exception as exc:
            log.exception("the scoring engine stopped")
            asyncio.run_coroutine_threadsafe(self.crash(exc), loop)

    async def on_stop(self) -> None:
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)


@app.page("/metrics")
class MetricsView(View):
    async def get(self, request: Request) -> Any:
        return Response(
            body=metrics.exposition(), content_type="text/plain", charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )  # fmt: skip
