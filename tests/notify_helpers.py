"""For tests of `anomstream notify`: a webhook receiver that records every POST, the notifier
as a subprocess, and alert events put on a topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from confluent_kafka import Producer
from kafka_helpers import REPO_ROOT, free_port

from schemas import Alert, encode, encode_key


@dataclass(frozen=True)
class Received:
    """One POST: its Idempotency-Key, body, and the status it was answered with."""

    key: str
    body: bytes
    status: int


class WebhookReceiver:
    """A local HTTP server in a thread; `answer(body)` picks each POST's status (200 unless
    set). It can be stopped (connection refused) and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answer: Callable[[bytes], int] = lambda body: 200
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.answer(body)
                with receiver._lock:
                    key = self.headers.get("Idempotency-Key", "")
                    receiver.received.append(Received(key, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def rejected(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if not 200 <= r.status < 300]


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s:.0f}s: {what}")


def produce_alerts(bootstrap: str, topic: str, alerts: list[Alert]) -> list[bytes]:
    """The alerts on `topic`, keyed by entity as the worker keys them; their bytes."""
    producer = Producer({"bootstrap.servers": bootstrap})
    values = [encode(alert) for alert in alerts]
    for alert, value in zip(alerts, values, strict=True):
        producer.produce(topic, value, encode_key(alert.entity))
    assert producer.flush(30) == 0
    return values


class NotifyProcess:
    """`python -m anomstream notify` on one topic and group, its output in `log`; it may be
    started again after a stop or a kill (the log is appended to)."""

    def __init__(self, log: Path, args: list[str], env: dict[str, str]) -> None:
        self.log = log
        self.args = args
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ANOMSTREAM_")},
            # Quick retries, and a killed notifier's partitions freed soon.
            "ANOMSTREAM_NOTIFY_RETRY_INITIAL_S": "0.2",
            "ANOMSTREAM_NOTIFY_RETRY_MAX_S": "0.5",
            "ANOMSTREAM_NOTIFY_POLL_TIMEOUT_S": "0.2",
            "ANOMSTREAM_NOTIFY_SESSION_TIMEOUT_S": "6",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "anomstream", "notify", *self.args],
                cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM; its exit status (-9 if it had to be killed)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                return -9
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
