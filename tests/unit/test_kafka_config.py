"""ANOMSTREAM_KAFKA_* security settings: validation, librdkafka properties, SSLContext, secrets."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from pydantic import SecretStr, ValidationError
from tls_certs import TlsFiles, make_tls_files

from anomstream.cli import main
from consumers.exporter_settings import ExporterSettings
from producers.kafka_config import KafkaSecurityError, KafkaSettings, SaslLogin
from producers.kafka_errors import SecurityErrors, refused

PASSWORD = "pw-0f9c2d7e1b"  # noqa: S105 - a test value, never a real one
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings of the machine running the tests must not leak into them."""
    for name in list(os.environ):
        if name.startswith(("ANOMSTREAM_KAFKA_", "ANOMSTREAM_EXPORTER_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def encrypted_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls-enc"), key_password=b"key-pw-31337")


def scram_env(monkeypatch: pytest.MonkeyPatch, tls: TlsFiles) -> None:
    for name, value in {
        "BOOTSTRAP": "broker-1:9093,broker-2:9093",
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-512",
        "SASL_USERNAME": "anomstream",
        "SASL_PASSWORD": PASSWORD,
        "SSL_CA_LOCATION": str(tls.ca),
    }.items():
        monkeypatch.setenv(f"ANOMSTREAM_KAFKA_{name}", value)


def test_the_default_is_plaintext_with_nothing_but_the_address() -> None:
    settings = KafkaSettings()

    assert settings.client_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }
    assert settings.ssl_context() is None


def test_scram_over_tls_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tls: TlsFiles
) -> None:
    scram_env(monkeypatch, tls)

    assert KafkaSettings().client_config() == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "anomstream",
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(tls.ca),
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_python_clients_get_the_same_login(monkeypatch: pytest.MonkeyPatch, tls: TlsFiles) -> None:
    assert KafkaSettings().sasl_login() is None
    scram_env(monkeypatch, tls)

    login = KafkaSettings().sasl_login()

    assert login == SaslLogin("SCRAM-SHA-512", "anomstream", PASSWORD)
    assert PASSWORD not in repr(login) and PASSWORD not in str(login)


def test_the_producer_config_builds_on_the_client_config(
    monkeypatch: pytest.MonkeyPatch, tls: TlsFiles
) -> None:
    scram_env(monkeypatch, tls)
    settings = KafkaSettings()

    config = settings.producer_config("replay")

    assert config.items() >= settings.client_config().items()
    assert config["enable.idempotence"] is True and config["client.id"] == "replay"


def test_mutual_tls_passes_the_client_certificate_and_key(encrypted_tls: TlsFiles) -> None:
    settings = KafkaSettings(
        security_protocol="SSL",
        ssl_ca_location=encrypted_tls.ca,
        ssl_certificate_location=encrypted_tls.cert,
        ssl_key_location=encrypted_tls.key,
        ssl_key_password=SecretStr("key-pw-31337"),
    )

    config = settings.client_config()

    assert config["ssl.certificate.location"] == str(encrypted_tls.cert)
    assert config["ssl.key.location"] == str(encrypted_tls.key)
    assert config["ssl.key.password"] == "key-pw-31337"
    assert "sasl.mechanism" not in config and "sasl.password" not in config


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SECURITY_PROTOCOL": "SASL_SSL"},
            "ANOMSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs ANOMSTREAM_KAFKA_SASL_MECHANISM "
            "and ANOMSTREAM_KAFKA_SASL_USERNAME and ANOMSTREAM_KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "SASL_MECHANISM": "PLAIN",
                "SASL_USERNAME": "u",
            },
            "ANOMSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs "
            "ANOMSTREAM_KAFKA_SASL_PASSWORD",
        ),
        (
            {"SASL_USERNAME": "u", "SASL_PASSWORD": PASSWORD},
            "ANOMSTREAM_KAFKA_SASL_USERNAME, ANOMSTREAM_KAFKA_SASL_PASSWORD given, but "
            "ANOMSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT logs in without SASL: set "
            "ANOMSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_SSL, or unset them",
        ),
        (
            {
                "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "SASL_MECHANISM": "SCRAM-SHA-256",
                "SASL_USERNAME": "u",
                "SASL_PASSWORD": PASSWORD,
                "SSL_SKIP_HOSTNAME_VERIFICATION": "true",
            },
            "ANOMSTREAM_KAFKA_SSL_SKIP_HOSTNAME_VERIFICATION given, but "
            "ANOMSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS: set "
            "ANOMSTREAM_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL, or unset it",
        ),
    ],
)
def test_an_incomplete_or_unused_combination_is_one_line_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"ANOMSTREAM_KAFKA_{name}", value)

    assert main(["topics", "create", "--timeout", "1"]) == 1

    err = capsys.readouterr().err
    assert err == f"anomstream topics: error: bad ANOMSTREAM_KAFKA_* settings: {message}\n"
    assert PASSWORD not in err


def test_a_certificate_without_its_key_is_refused(tls: TlsFiles) -> None:
    with pytest.raises(ValidationError, match="ANOMSTREAM_KAFKA_SSL_KEY_LOCATION go together"):
        KafkaSettings(security_protocol="SSL", ssl_certificate_location=tls.cert)


def test_a_missing_tls_file_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ANOMSTREAM_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("ANOMSTREAM_KAFKA_SSL_CA_LOCATION", str(tmp_path / "nope.pem"))

    assert main(["tail", "--timeout", "1"]) == 1

    err = capsys.readouterr().err.splitlines()
    assert err == [
        "anomstream tail: error: bad setting ANOMSTREAM_KAFKA_SSL_CA_LOCATION: "
        "Path does not point to a file"
    ]


def test_secrets_are_masked_in_repr_str_and_validation_errors(tls: TlsFiles) -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password=SecretStr(PASSWORD),
        ssl_ca_location=tls.ca,
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert PASSWORD not in str(settings.model_dump())


def test_a_rejected_combination_from_the_environment_masks_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # From the environment the password is a plain string until validated: the error must
    # carry the validated (masked) settings, not that raw input.
    monkeypatch.setenv("ANOMSTREAM_KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("ANOMSTREAM_KAFKA_SASL_PASSWORD", PASSWORD)  # but no SASL protocol

    with pytest.raises(ValidationError, match="logs in without SASL") as caught:
        KafkaSettings()

    error = caught.value
    assert PASSWORD not in str(error) and PASSWORD not in error.json()
    assert PASSWORD not in repr(error.errors())


def test_only_kafka_config_reads_secret_values() -> None:
    """A secret's value leaves its SecretStr in one place per kind of secret: where Kafka
    client configs are built (a new kind of client gets a method there, as Python clients
    got `sasl_login()`), and where the SQL source's URL becomes a SQLAlchemy URL (which
    masks its password in every message)."""
    readers = sorted(
        str(path.relative_to(REPO_ROOT))
        for folder in ("anomstream", "consumers", "producers", "stream_app", "schemas")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if "get_secret_value" in path.read_text()
    )
    assert readers == ["producers/datasets/sql_query.py", "producers/kafka_config.py"]


def test_the_ssl_context_verifies_the_broker_against_the_ca(tls: TlsFiles) -> None:
    context = KafkaSettings(security_protocol="SSL", ssl_ca_location=tls.ca).ssl_context()

    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "anomstream test CA"),),)
    ]


def test_the_ssl_context_loads_an_encrypted_client_key(encrypted_tls: TlsFiles) -> None:
    def settings(password: str) -> KafkaSettings:
        return KafkaSettings(
            security_protocol="SSL",
            ssl_ca_location=encrypted_tls.ca,
            ssl_certificate_location=encrypted_tls.cert,
            ssl_key_location=encrypted_tls.key,
            ssl_key_password=SecretStr(password),
        )

    assert settings("key-pw-31337").ssl_context() is not None
    with pytest.raises(KafkaSecurityError, match="wrong ANOMSTREAM_KAFKA_SSL_KEY_PASSWORD") as bad:
        settings("not-the-key-pw").ssl_context()
    assert "not-the-key-pw" not in str(bad.value)


def test_skipping_hostname_verification_is_explicit_and_warned(
    tls: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="producers.kafka_config"):
        settings = KafkaSettings(
            security_protocol="SSL", ssl_ca_location=tls.ca, ssl_skip_hostname_verification=True
        )

    assert settings.client_config()["ssl.endpoint.identification.algorithm"] == "none"
    context = settings.ssl_context()
    assert context is not None and not context.check_hostname
    assert context.verify_mode is ssl.CERT_REQUIRED  # the CA is still checked
    assert "not checked against its host name" in caplog.text


def test_the_exporter_keeps_the_shared_login_with_its_own_bootstrap(
    monkeypatch: pytest.MonkeyPatch, tls: TlsFiles
) -> None:
    scram_env(monkeypatch, tls)
    monkeypatch.setenv("ANOMSTREAM_EXPORTER_BOOTSTRAP", "exporter-broker:9093")

    kafka = ExporterSettings().kafka(KafkaSettings())

    assert kafka.client_config() == {
        **KafkaSettings().client_config(),
        "bootstrap.servers": "exporter-broker:9093",
    }


def test_security_errors_keep_the_first_login_or_tls_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.security")
    errors = SecurityErrors(log)

    errors(KafkaError(KafkaError._TRANSPORT, "connection refused"))
    assert errors.first is None
    with caplog.at_level(logging.ERROR, logger="test.security"):
        errors(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid"))
        errors(KafkaError(KafkaError._SSL, "certificate verify failed"))

    assert errors.first == "SASL authentication error: invalid"
    assert [r.getMessage() for r in caplog.records] == [
        "Kafka refused the connection: SASL authentication error: invalid"
    ]
    assert refused("b:9093", "SASL authentication error: invalid").startswith(
        "Kafka at b:9093 refused the connection: SASL authentication error: invalid (check"
    )
