"""`anomstream notify`'s settings, from `ANOMSTREAM_NOTIFY_*` environment variables."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, HttpUrl, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.notify_retry import RetryPolicy
from producers.kafka_config import KafkaSettings
from schemas.topics import ALERTS_TOPIC, DEADLETTER_TOPIC

__all__ = ["ENV_PREFIX", "NotifySettings"]

ENV_PREFIX = "ANOMSTREAM_NOTIFY_"


class NotifySettings(BaseSettings):
    """Where the alerts come from, where they go, and what to do while a receiver is down."""

    # The URLs may carry a token (a chat webhook's path): errors never echo the input. An
    # empty variable is an unset one (compose passes `${ANOMSTREAM_NOTIFY_WEBHOOK_URL:-}`).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, hide_input_in_errors=True, env_ignore_empty=True
    )

    # The notifier's own broker setting wins over ANOMSTREAM_KAFKA_BOOTSTRAP when given.
    bootstrap: str | None = None
    topic: str = Field(default=ALERTS_TOPIC, min_length=1)
    # Its own consumer group: its committed offsets are the record of what was delivered.
    group_id: str = Field(default="anomstream-notify", min_length=1)
    # Where a group with no committed offsets starts: `latest` (new alerts only) rather than
    # weeks of retained history sent to people at once.
    start_from: Literal["earliest", "latest"] = "latest"
    # A notifier that died without leaving the group holds its partitions this long before
    # a restarted one gets them (the broker allows 6 s at least).
    session_timeout_s: float = Field(default=45.0, ge=6, le=1800)

    # Alertmanager's base URL (http://alertmanager:9093): alerts go to its /api/v2/alerts.
    alertmanager_url: HttpUrl | None = None
    # Any HTTP endpoint: each alert event is POSTed to it as the Alert's JSON.
    webhook_url: HttpUrl | None = None
    # Alertmanager labels of every incident besides dataset and entity.
    alert_name: str = Field(default="AnomstreamAnomaly", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    severity: str = Field(default="warning", min_length=1)
    # Alertmanager resolves an alert that is not re-sent within its end time: an open
    # incident is sent as firing this long from each event (the worker re-publishes an open
    # incident as `updated` while it lasts, and resolves it, also when its entity goes quiet).
    open_alert_ttl_s: float = Field(default=3600.0, gt=0)
    # One HTTP request: connect, send and read the answer.
    timeout_s: float = Field(default=10.0, gt=0)

    # Retries: waits of retry_initial_s, doubling, at most retry_max_s apart.
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    # A receiver that stays down: `block` retries forever (nothing lost, later alerts wait);
    # `deadletter` gives up after max_attempts or give_up_after_s, whichever comes first,
    # writes the event with the reason to deadletter_topic, and goes on.
    on_failure: Literal["block", "deadletter"] = "block"
    max_attempts: int = Field(default=10, ge=1)
    give_up_after_s: float | None = Field(default=None, gt=0)
    deadletter_topic: str = Field(default=DEADLETTER_TOPIC, min_length=1)
    # How long one poll waits for a record; also how soon a stop request is seen.
    poll_timeout_s: float = Field(default=0.5, gt=0, le=10)

    @model_validator(mode="after")
    def _needs_a_receiver(self) -> Self:
        if self.alertmanager_url is None and self.webhook_url is None:
            raise PydanticCustomError(
                "no_receiver",
                f"no receiver: set {ENV_PREFIX}ALERTMANAGER_URL (--alertmanager) or "
                f"{ENV_PREFIX}WEBHOOK_URL (--webhook), or both",
            )
        limits = {"max_attempts", "give_up_after_s"} & self.model_fields_set
        if self.on_failure == "block" and limits:
            names = " and ".join(f"{ENV_PREFIX}{name.upper()}" for name in sorted(limits))
            raise PydanticCustomError(
                "limit_without_deadletter",
                f"{names}: only with {ENV_PREFIX}ON_FAILURE=deadletter "
                "(--on-failure deadletter); block retries until the receiver answers",
            )
        if self.retry_max_s < self.retry_initial_s:
            raise PydanticCustomError(
                "retry_order",
                f"{ENV_PREFIX}RETRY_MAX_S must be at least {ENV_PREFIX}RETRY_INITIAL_S",
            )
        return self

    def retry_policy(self) -> RetryPolicy:
        gives_up = self.on_failure == "deadletter"
        return RetryPolicy(
            initial_s=self.retry_initial_s,
            max_s=self.retry_max_s,
            max_attempts=self.max_attempts if gives_up else None,
            deadline_s=self.give_up_after_s if gives_up else None,
        )

    def kafka(self, shared: KafkaSettings) -> KafkaSettings:
        """The shared ANOMSTREAM_KAFKA_* settings (login, TLS), with this bootstrap if set."""
        if not self.bootstrap:
            return shared
        return shared.model_copy(update={"bootstrap": self.bootstrap})
