"""What `anomstream notify` sends and how it reads its settings: the Alertmanager mapping,
the webhook request, the receivers' answers (httpx's mock transport), the CLI's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from output_messages import T0, make_alert
from pydantic import ValidationError

from anomstream.cli import main
from consumers.notify_payload import AlertEvent, alertmanager_alert, webhook_headers
from consumers.notify_settings import NotifySettings
from consumers.notify_targets import AlertmanagerTarget, WebhookTarget, display_url
from schemas import AlertState, encode

NOW = T0 + timedelta(minutes=30)


def event_of(state: AlertState = AlertState.OPENED, offset: int = 3) -> AlertEvent:
    alert = make_alert(
        state=state, dataset="skab", entity="valve1", top_channels=[("flow", 0.61), ("temp", 0.2)]
    )
    return AlertEvent(alert, encode(alert), b"valve1", "alerts", 1, offset)


def test_an_open_incident_fires_from_its_start_for_the_ttl() -> None:
    alert = event_of().alert
    body = alertmanager_alert(alert, NOW, severity="page", open_ttl_s=600)
    assert body["labels"] == {
        "alertname": "AnomstreamAnomaly", "dataset": "skab", "entity": "valve1",
        "severity": "page",
    }  # fmt: skip
    assert body["startsAt"] == "2026-03-01T12:00:00Z"
    assert body["endsAt"] == "2026-03-01T12:40:00Z"  # now + 10 minutes
    annotations = body["annotations"]
    assert annotations["top_channels"] == "flow 0.61, temp 0.2"
    assert annotations["summary"] == "anomaly on skab/valve1: peak score 3 over threshold 1"
    assert annotations["alert_id"] == alert.alert_id and annotations["state"] == "opened"
    assert "top channels: flow 0.61, temp 0.2" in annotations["description"]
    assert all(isinstance(v, str) for v in annotations.values())  # Alertmanager's type


def test_a_resolved_incident_ends_at_its_end() -> None:
    alert = event_of(AlertState.RESOLVED).alert
    assert alert.end_time is not None
    body = alertmanager_alert(alert, NOW)
    assert body["endsAt"] == "2026-03-01T12:00:05Z"  # make_alert: 5 seqs of a second
    assert body["annotations"]["end_time"] == body["endsAt"]
    # An end ahead of the clock (a skewed sensor) would keep it firing: now instead.
    early = alertmanager_alert(alert, T0 + timedelta(seconds=2))
    assert early["endsAt"] == "2026-03-01T12:00:02Z"


def test_no_top_channels_no_annotation() -> None:
    body = alertmanager_alert(make_alert(), NOW)
    assert "top_channels" not in body["annotations"]
    assert "top channels" not in body["annotations"]["description"]


def test_webhook_headers_carry_an_idempotency_key_per_event() -> None:
    headers = webhook_headers(event_of(offset=42))
    assert headers["Idempotency-Key"] == "alerts/1/42"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Anomstream-Alert-State"] == "opened"


def recording_client(status: int, seen: list[httpx.Request]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text="" if status < 300 else "down for maintenance")

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_alertmanager_target_posts_one_alert_to_the_v2_api() -> None:
    seen: list[httpx.Request] = []
    with recording_client(200, seen) as client:
        target = AlertmanagerTarget("http://am:9093/", client, clock=lambda: NOW)
        assert target.send(event_of()) is None
    (request,) = seen
    assert str(request.url) == "http://am:9093/api/v2/alerts" and request.method == "POST"
    body = json.loads(request.content)
    assert [a["labels"]["entity"] for a in body] == ["valve1"]
    assert target.name == "alertmanager http://am:9093"


def test_webhook_target_posts_the_alert_json_as_written() -> None:
    seen: list[httpx.Request] = []
    event = event_of()
    with recording_client(204, seen) as client:
        assert WebhookTarget("https://hooks.example/T0/secret?x=1", client).send(event) is None
    (request,) = seen
    assert request.content == event.raw
    assert request.headers["idempotency-key"] == event.event_id


@pytest.mark.parametrize(("status", "permanent"), [(503, False), (429, False), (400, True)])
def test_a_non_2xx_answer_is_a_failure(status: int, permanent: bool) -> None:
    with recording_client(status, []) as client:
        failure = WebhookTarget("http://h/x", client).send(event_of())
    assert failure is not None and failure.permanent is permanent
    assert failure.reason.startswith(f"HTTP {status}: down for maintenance")


def test_an_unreachable_receiver_is_a_failure_worth_retrying() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        failure = AlertmanagerTarget("http://am:9093", client).send(event_of())
    assert failure is not None and not failure.permanent
    assert failure.reason == "ConnectError: connection refused"


def test_a_receiver_is_named_without_its_path_where_tokens_live() -> None:
    assert display_url("https://user:pw@hooks.example/T0/secret?token=x") == (
        "https://hooks.example:443"
    )
    with httpx.Client() as client:
        assert WebhookTarget("http://h:8080/abc", client).name == "webhook http://h:8080"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMSTREAM_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:8080/hook")
    monkeypatch.setenv("ANOMSTREAM_NOTIFY_ALERTMANAGER_URL", "")  # empty is unset
    monkeypatch.setenv("ANOMSTREAM_NOTIFY_ON_FAILURE", "deadletter")
    monkeypatch.setenv("ANOMSTREAM_NOTIFY_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("ANOMSTREAM_NOTIFY_GIVE_UP_AFTER_S", "30")
    settings = NotifySettings()
    assert settings.alertmanager_url is None
    assert str(settings.webhook_url) == "http://127.0.0.1:8080/hook"
    policy = settings.retry_policy()
    assert (policy.max_attempts, policy.deadline_s, policy.blocks) == (4, 30.0, False)
    # The limits belong to the deadletter policy: with block they would be a false comfort.
    with pytest.raises(ValidationError, match="only with ANOMSTREAM_NOTIFY_ON_FAILURE=deadletter"):
        NotifySettings(on_failure="block")
    monkeypatch.delenv("ANOMSTREAM_NOTIFY_MAX_ATTEMPTS")
    monkeypatch.delenv("ANOMSTREAM_NOTIFY_GIVE_UP_AFTER_S")
    assert NotifySettings(on_failure="block").retry_policy().blocks


def test_cli_without_a_receiver_says_which_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ALERTMANAGER_URL", "WEBHOOK_URL"):
        monkeypatch.delenv(f"ANOMSTREAM_NOTIFY_{name}", raising=False)
    assert main(["notify"]) == 1
    err = capsys.readouterr().err
    assert "ANOMSTREAM_NOTIFY_ALERTMANAGER_URL (--alertmanager)" in err
    assert main(["notify", "--webhook", "ftp://x"]) == 1
    assert "bad setting ANOMSTREAM_NOTIFY_WEBHOOK_URL" in capsys.readouterr().err


def test_cli_help_names_the_policy_and_the_guarantee(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["notify", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for phrase in ("--on-failure", "deadletter", "committed only after", "/api/v2/alerts"):
        assert phrase in out


def test_utc_is_written_as_z() -> None:
    alert = make_alert()
    body = alertmanager_alert(alert, datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert body["startsAt"].endswith("Z") and body["endsAt"].endswith("Z")
