"""The receivers `anomstream notify` POSTs to: Alertmanager's API v2, and a JSON webhook.

A send is one HTTP request: None when the receiver answered 2xx, else a `Failure` saying
why and whether another try could help. Logs and failures name a receiver by its scheme,
host and port only, since a webhook's path or query may hold its token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from consumers.notify_payload import AlertEvent, alertmanager_alert, webhook_headers
from consumers.notify_retry import Failure, retryable_status

__all__ = ["AlertmanagerTarget", "Target", "WebhookTarget", "alerts_endpoint", "display_url"]

_BODY_SHOWN = 200


class Target(Protocol):
    """A receiver of alert events."""

    @property
    def name(self) -> str: ...

    def send(self, event: AlertEvent) -> Failure | None: ...


def display_url(url: str) -> str:
    """The URL without path, query or credentials: `https://hooks.example:443`."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def alerts_endpoint(base_url: str) -> str:
    """Alertmanager's alerts endpoint under its base URL (which may already name it)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/api/v2/alerts") else f"{base}/api/v2/alerts"


def _post(client: httpx.Client, url: str, **request: Any) -> Failure | None:
    try:
        response = client.post(url, **request)
    except httpx.HTTPError as exc:  # refused, timed out, reset: the receiver may come back
        return Failure(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if response.is_success:
        return None
    body = " ".join(response.text.split())[:_BODY_SHOWN]
    return Failure(
        f"HTTP {response.status_code}" + (f": {body}" if body else ""),
        permanent=not retryable_status(response.status_code),
    )


class AlertmanagerTarget:
    """POSTs each event as one alert to Alertmanager's `/api/v2/alerts`."""

    def __init__(
        self,
        base_url: str,
        client: httpx.Client,
        *,
        alert_name: str = "AnomstreamAnomaly",
        severity: str = "warning",
        open_ttl_s: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = alerts_endpoint(base_url)
        self._client = client
        self._alert_name = alert_name
        self._severity = severity
        self._open_ttl_s = open_ttl_s
        self._clock = clock

    @property
    def name(self) -> str:
        return f"alertmanager {display_url(self.url)}"

    def send(self, event: AlertEvent) -> Failure | None:
        body = [
            alertmanager_alert(
                event.alert,
                self._clock(),
                alert_name=self._alert_name,
                severity=self._severity,
                open_ttl_s=self._open_ttl_s,
            )
        ]
        return _post(
            self._client,
            self.url,
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )


class WebhookTarget:
    """POSTs each event's Alert JSON, exactly as the worker wrote it, to one URL."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self._client = client

    @property
    def name(self) -> str:
        return f"webhook {display_url(self.url)}"

    def send(self, event: AlertEvent) -> Failure | None:
        return _post(self._client, self.url, content=event.raw, headers=webhook_headers(event))
