"""Kafka connection settings shared by every process: `ANOMSTREAM_KAFKA_*`.

`client_config()` is the one place where the broker address and the security settings
(SASL login, TLS files) become librdkafka properties; every client builds on it. Secrets
are `SecretStr`: repr, str and validation errors show them masked, and only the methods
that hand them to a client (`client_config()`, `sasl_login()`, `ssl_context()`) read them.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any, Literal, NamedTuple

from pydantic import Field, FilePath, SecretStr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "KafkaSecurityError", "KafkaSettings", "SaslLogin"]

log = logging.getLogger(__name__)

ENV_PREFIX = "ANOMSTREAM_KAFKA_"
_SASL = ("SASL_PLAINTEXT", "SASL_SSL")
_TLS = ("SSL", "SASL_SSL")
_SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")
_TLS_FIELDS = (
    "ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password",
    "ssl_skip_hostname_verification",
)  # fmt: skip


class KafkaSecurityError(ValueError):
    """The TLS files named by the settings cannot be loaded (for `ssl_context()`)."""


class SaslLogin(NamedTuple):
    """The SASL login for Python clients (aiokafka, faust): the password in clear."""

    mechanism: str
    username: str
    password: str

    def __repr__(self) -> str:  # a tuple's repr would show the password
        return f"SaslLogin(mechanism={self.mechanism!r}, username={self.username!r})"


def _env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class KafkaSettings(BaseSettings):
    """Where the cluster is, how to log in to it, and how producers batch."""

    # Errors keep no input: it is the raw settings, the passwords in clear among them.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, hide_input_in_errors=True)

    bootstrap: str = "127.0.0.1:9092"
    # How long to wait for the cluster to answer before calling it unreachable.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    linger_ms: int = Field(default=20, ge=0)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"

    # Security: PLAINTEXT (no login, no encryption) unless set. SASL_SSL is the one to use
    # over any network: SASL_PLAINTEXT encrypts nothing (with PLAIN, not even the password).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # PEM files. The CA verifies the broker (unset: the system's CAs); the certificate and
    # key are this client's own, for brokers that ask for one (mutual TLS).
    ssl_ca_location: FilePath | None = None
    ssl_certificate_location: FilePath | None = None
    ssl_key_location: FilePath | None = None
    ssl_key_password: SecretStr | None = None
    # INSECURE when true: the broker's certificate is still checked against the CA, but not
    # whether it names the host connected to, so any holder of a certificate from that CA
    # can pose as the broker. Only for a test broker whose certificate names another host.
    ssl_skip_hostname_verification: bool = False

    def model_post_init(self, context: Any, /) -> None:
        # Checked here, not in a model validator: that one's errors carry the raw input, the
        # passwords in clear among it; this error carries the model, which masks them.
        problem = self._security_problem()
        if problem is not None:
            error = PydanticCustomError("kafka_security", problem)  # the message as written
            raise ValidationError.from_exception_data(
                type(self).__name__, [InitErrorDetails(type=error, loc=(), input=self)]
            )
        if self.ssl_skip_hostname_verification:
            log.warning(
                "%s is set: the broker's certificate is not checked against its host name",
                _env("ssl_skip_hostname_verification"),
            )

    def _security_problem(self) -> str | None:
        """What is missing or contradictory in the security settings, naming the variables."""
        protocol = f"{_env('security_protocol')}={self.security_protocol}"
        if self.security_protocol in _SASL:
            missing = [_env(name) for name in _SASL_FIELDS if not getattr(self, name)]
            if missing:
                return f"{protocol} needs {' and '.join(missing)}"
        elif unused := self._unused(_SASL_FIELDS, f"{protocol} logs in without SASL", "SASL_SSL"):
            return unused
        if self.security_protocol not in _TLS:
            return self._unused(_TLS_FIELDS, f"{protocol} does not use TLS", "SSL or SASL_SSL")
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            return (
                f"{_env('ssl_certificate_location')} and {_env('ssl_key_location')} "
                "go together (this client's certificate and its private key)"
            )
        if self.ssl_key_password is not None and self.ssl_key_location is None:
            return f"{_env('ssl_key_password')} is set without {_env('ssl_key_location')}"
        return None

    def _unused(self, fields: tuple[str, ...], why: str, protocols: str) -> str | None:
        """Settings the protocol would ignore are a mistake (credentials that never log in)."""
        given = [_env(name) for name in fields if getattr(self, name)]
        if not given:
            return None
        return (
            f"{', '.join(given)} given, but {why}: set {_env('security_protocol')}="
            f"{protocols}, or unset {'it' if len(given) == 1 else 'them'}"
        )

    def client_config(self) -> dict[str, str | int | bool]:
        """librdkafka properties every client starts from: the brokers and how to log in."""
        config: dict[str, str | int | bool] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
        }
        if (login := self.sasl_login()) is not None:
            config["sasl.mechanism"] = login.mechanism
            config["sasl.username"] = login.username
            config["sasl.password"] = login.password
        if self.security_protocol in _TLS:
            if self.ssl_ca_location is not None:
                config["ssl.ca.location"] = str(self.ssl_ca_location)
            if self.ssl_certificate_location is not None:
                config["ssl.certificate.location"] = str(self.ssl_certificate_location)
            if self.ssl_key_location is not None:
                config["ssl.key.location"] = str(self.ssl_key_location)
            if self.ssl_key_password is not None:
                config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            # Said explicitly: librdkafka before 2.0 did not check host names by default.
            skip = self.ssl_skip_hostname_verification
            config["ssl.endpoint.identification.algorithm"] = "none" if skip else "https"
        return config

    def sasl_login(self) -> SaslLogin | None:
        """The SASL settings for Python clients (aiokafka, faust); None without SASL."""
        if self.security_protocol not in _SASL:
            return None
        # The validator guarantees all three for a SASL protocol.
        assert self.sasl_mechanism and self.sasl_username and self.sasl_password  # noqa: S101
        return SaslLogin(
            self.sasl_mechanism, self.sasl_username, self.sasl_password.get_secret_value()
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The same TLS settings for Python clients (aiokafka); None without TLS."""
        if self.security_protocol not in _TLS:
            return None
        try:
            if self.ssl_ca_location is not None:
                context = ssl.create_default_context(cafile=str(self.ssl_ca_location))
            else:
                context = ssl.create_default_context()
        except (ssl.SSLError, OSError) as exc:
            raise KafkaSecurityError(
                f"cannot load {_env('ssl_ca_location')}={self.ssl_ca_location}: {exc}"
            ) from None
        if self.ssl_certificate_location is not None and self.ssl_key_location is not None:
            password = self.ssl_key_password
            try:
                context.load_cert_chain(
                    str(self.ssl_certificate_location),
                    str(self.ssl_key_location),
                    password.get_secret_value() if password is not None else None,
                )
            except (ssl.SSLError, OSError) as exc:
                # The exception names no password; "bad password" and "not a key" look alike.
                raise KafkaSecurityError(
                    f"cannot load {_env('ssl_certificate_location')} with "
                    f"{_env('ssl_key_location')} (wrong {_env('ssl_key_password')}?): {exc}"
                ) from None
        if self.ssl_skip_hostname_verification:
            context.check_hostname = False
        return context

    def producer_config(self, client_id: str) -> dict[str, str | int | bool]:
        """confluent-kafka settings for an idempotent producer (no duplicates on retry)."""
        return {
            **self.client_config(),
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": self.linger_ms,
            "compression.type": self.compression,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            # Errors surface through delivery reports and our own reachability check;
            # librdkafka's per-attempt connection logs would only repeat them.
            "log_level": 2,
        }
