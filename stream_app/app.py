"""The faust application: `faust -A stream_app.app worker` runs the scoring engine.

faust provides the worker process, its lifecycle and signals, and logging. The records flow
through `Engine`, a batched confluent-kafka loop in a thread: measured on this project's
2-core machine, a faust agent reading 200k single-row readings with `stream.take(1000)`
managed about 6k messages/s where a confluent-kafka batch consumer read 600k/s. So faust's
own Kafka clients and web server are not started (they would only duplicate connections,
flood the log during an outage and serve undocumented pages); the worker's HTTP endpoints
are its own (`stream_app.web`). See docs/STREAM_APP.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

import faust
from faust.app.base import BootStrategy

from producers.kafka_config import KafkaSettings
from stream_app.engine import Engine
from stream_app.liveness import Liveness
from stream_app.metrics import WorkerMetrics
from stream_app.publisher import CannotGoOn
from stream_app.settings import AlertPolicy, WorkerSettings
from stream_app.web import WorkerWeb

__all__ = ["app"]

log = logging.getLogger(__name__)

settings = WorkerSettings()
kafka = KafkaSettings()
if settings.bootstrap:
    kafka = kafka.model_copy(update={"bootstrap": settings.bootstrap})
metrics = WorkerMetrics()
liveness = Liveness(settings.stall_timeout_s)


class _EngineOnly(BootStrategy):
    """faust's process and lifecycle without its Kafka clients, web server or sensors."""

    enable_kafka = False
    enable_web = False
    enable_sensors = False


class _App(faust.App):
    BootStrategy = _EngineOnly


class EngineStopped(SystemExit):
    """Ends the worker with a status, without a second traceback from faust."""


def _private_dir(path: Path) -> Path:
    """faust's data directory, created readable by this user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


app = _App(
    f"{settings.group_id}-faust",
    broker=f"kafka://{kafka.bootstrap}",
    datadir=_private_dir(settings.faust_data_dir()),
    # faust's web server is off; these only make its start-up banner name ours.
    web_host=settings.web_host,
    web_port=settings.web_port,
)


@app.service
class ScoringService(faust.Service):
    """Runs the engine in a thread and serves its endpoints; a dead or stalled engine ends
    the worker with a non-zero status, so that a supervisor restarts it."""

    async def on_start(self) -> None:
        self._stop = threading.Event()
        self._engine = Engine(settings, kafka, AlertPolicy(), metrics, liveness)
        self._web = WorkerWeb(settings.web_host, settings.web_port, metrics, liveness)
        await self._web.start()
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name="anomstream-engine", daemon=True
        )
        liveness.thread = self._thread
        liveness.engine_running = True
        metrics.engine_running.set(1)
        self._thread.start()

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._engine.run(self._stop)
        except CannotGoOn as exc:
            self._engine_died(loop, str(exc), 3)
        except Exception as exc:
            log.exception("the scoring engine stopped")
            self._engine_died(loop, f"{type(exc).__name__}: {exc}", 1)
        else:
            liveness.engine_running = False
            metrics.engine_running.set(0)

    def _engine_died(self, loop: asyncio.AbstractEventLoop, reason: str, status: int) -> None:
        liveness.engine_running = False
        liveness.engine_error = reason
        metrics.engine_running.set(0)
        log.error("the scoring engine cannot go on: %s; the worker exits (%d)", reason, status)
        asyncio.run_coroutine_threadsafe(self.crash(EngineStopped(status)), loop)

    @faust.Service.timer(5.0)
    async def _watchdog(self) -> None:
        stalled = liveness.stalled_for()
        if liveness.engine_running and stalled >= settings.stall_timeout_s:
            log.error(
                "the scoring engine has not come round for %.0fs (stall timeout "
                "ANOMSTREAM_WORKER_STALL_TIMEOUT_S=%.0f); the worker exits so that it is "
                "restarted",
                stalled, settings.stall_timeout_s,
            )  # fmt: skip
            liveness.engine_running = False
            await self.crash(EngineStopped(4))

    async def on_stop(self) -> None:
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)
        await self._web.stop()
