"""Every client against a broker that takes SCRAM logins over TLS only.

The module starts its own kafka-local broker in `sasl_ssl` mode, with a CA and a broker
certificate made here, and runs the commands as a user does: topics, replay, tail, health,
report, the exporter and kafka-local's own tools. A wrong password, an untrusted certificate
and a plaintext client are refused with one line; the password shows in no output or log.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from kafka_helpers import KAFKA_LOCAL, REPO_ROOT, free_port, kafka_local_env
from output_messages import make_score
from pydantic import SecretStr
from stream_fixtures import WINDOW, batch, series, train_model
from tls_certs import TlsFiles, make_tls_files
from worker_process import WorkerProcess

from producers.kafka_config import KafkaSettings
from schemas import (
    Reading,
    ScoreBatch,
    TopicSettings,
    decode,
    encode,
    encode_key,
    readings_topic,
    scores_topic,
    topic_specs,
)
from stream_app.topic_admin import ensure_topics

USER = "anomstream-test"
SCORES = 6  # scores produced for the module, 2 of them anomalous
READINGS = 40  # readings replayed for the module
RUN_TIMEOUT_S = 90


@dataclass
class SecureBroker:
    bootstrap: str
    password: str
    tls: TlsFiles
    data_dir: Path
    # kafka-local's environment without any security setting: the data dir must suffice.
    tools_env: dict[str, str]
    slug: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    # Every process's output, checked for the password at the end.
    outputs: list[str] = field(default_factory=list)

    def settings(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap=self.bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password=SecretStr(self.password),
            ssl_ca_location=self.tls.ca,
        )

    def env(self, **kafka: str) -> dict[str, str]:
        """The environment of an anomstream command: ANOMSTREAM_KAFKA_* as a user sets them,
        with `kafka` overriding (an empty value removes the variable)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMSTREAM_KAFKA_")}
        settings = {
            "BOOTSTRAP": self.bootstrap,
            "SECURITY_PROTOCOL": "SASL_SSL",
            "SASL_MECHANISM": "SCRAM-SHA-512",
            "SASL_USERNAME": USER,
            "SASL_PASSWORD": self.password,
            "SSL_CA_LOCATION": str(self.tls.ca),
            **kafka,
        }
        env.update({f"ANOMSTREAM_KAFKA_{k}": v for k, v in settings.items() if v})
        env["ANOMSTREAM_TOPIC_DATASETS"] = self.slug
        return env

    def record(self, *texts: str) -> None:
        for text in texts:
            self.outputs.append(text)
            assert self.password not in text, "the password appeared in a process's output"


def anomstream(
    broker: SecureBroker, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "anomstream", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=REPO_ROOT,
        env=env if env is not None else broker.env(),
    )
    broker.record(result.stdout, result.stderr)
    return result


def kafka_local(broker: SecureBroker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**broker.tools_env, "ANOMSTREAM_TOPIC_DATASETS": broker.slug}
    result = subprocess.run(
        [str(KAFKA_LOCAL), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        env={k: v for k, v in env.items() if not k.startswith("ANOMSTREAM_KAFKA_")},
    )
    broker.record(result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A one-node kafka-local cluster whose only broker port is SASL_SSL with SCRAM."""
    root = tmp_path_factory.mktemp("kafka-secure")
    tls = make_tls_files(root / "tls")
    # token_urlsafe's alphabet is within what kafka-local accepts for a SCRAM password.
    password = secrets.token_urlsafe(18)
    tools_env = kafka_local_env(root / "data", free_port(), free_port())
    env = {
        **tools_env,
        "KAFKA_LOCAL_SECURITY": "sasl_ssl",
        "KAFKA_LOCAL_SSL_CERT": str(tls.cert),
        "KAFKA_LOCAL_SSL_KEY": str(tls.key),
        "KAFKA_LOCAL_SSL_CA": str(tls.ca),
        "KAFKA_LOCAL_SCRAM_USER": USER,
        "KAFKA_LOCAL_SCRAM_PASSWORD": password,
    }
    started = subprocess.run(
        [str(KAFKA_LOCAL), "start"], env=env, capture_output=True, text=True, timeout=180
    )
    if started.returncode != 0:
        pytest.fail(f"kafka-local could not start a SASL_SSL broker:\n{started.stderr}")
    secure = SecureBroker(
        bootstrap=started.stdout.strip().splitlines()[-1],
        password=password,
        tls=tls,
        data_dir=root / "data",
        tools_env={k: v for k, v in tools_env.items() if not k.startswith("KAFKA_LOCAL_S")},
    )
    secure.record(started.stdout, started.stderr)
    try:
        yield secure
    finally:
        subprocess.run([str(KAFKA_LOCAL), "stop"], env=env, capture_output=True, check=False)


@pytest.fixture(scope="module")
def topics(broker: SecureBroker) -> subprocess.CompletedProcess[str]:
    """`anomstream topics create`, logging in with the other SCRAM mechanism, SHA-256."""
    return anomstream(broker, "topics", "create", env=broker.env(SASL_MECHANISM="SCRAM-SHA-256"))


@pytest.fixture(scope="module")
def scores(broker: SecureBroker, topics: subprocess.CompletedProcess[str]) -> list[bytes]:
    """SCORES scores on scores.<slug>, one key, so one partition keeps them in order."""
    assert topics.returncode == 0, topics.stderr
    producer = Producer(broker.settings().producer_config("test-secure"))
    values = [
        encode(make_score(dataset=broker.slug, seq=seq, score=2.0 if seq % 3 == 0 else 0.5))
        for seq in range(SCORES)
    ]
    for value in values:
        producer.produce(scores_topic(broker.slug), value, encode_key("e1"))
    assert producer.flush(30) == 0
    return values


@pytest.fixture(scope="module")
def replayed(
    broker: SecureBroker, topics: subprocess.CompletedProcess[str]
) -> subprocess.CompletedProcess[str]:
    assert topics.returncode == 0, topics.stderr
    return anomstream(
        broker, "replay", "synthetic", "--max", "--limit", str(READINGS),
        "--topic", readings_topic(broker.slug), "--no-progress",
    )  # fmt: skip


def test_topics_create_logs_in_with_scram_over_tls(
    broker: SecureBroker, topics: subprocess.CompletedProcess[str]
) -> None:
    assert topics.returncode == 0, topics.stderr
    assert sorted(topics.stdout.splitlines()) == sorted(
        f"created\t{name}"
        for name in (
            readings_topic(broker.slug), scores_topic(broker.slug), "alerts", "deadletter"
        )
    )  # fmt: skip


def test_replay_delivers_every_reading_to_the_secured_broker(
    broker: SecureBroker, replayed: subprocess.CompletedProcess[str]
) -> None:
    assert replayed.returncode == 0, replayed.stderr
    assert f"{READINGS} delivered, 0 failed" in replayed.stderr
    consumer = Consumer(
        {
            **broker.settings().client_config(),
            "group.id": f"read-{broker.slug}",
            "auto.offset.reset": "earliest",
            "log_level": 2,
        }
    )
    consumer.subscribe([readings_topic(broker.slug)])
    got: list[Reading] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < READINGS and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=1.0):
                assert message.error() is None, message.error()
                got.append(decode(message.value() or b"", Reading))
    finally:
        consumer.close()
    assert len(got) == READINGS
    assert {r.dataset for r in got} == {"synthetic"}


def test_tail_reads_the_scores_back(broker: SecureBroker, scores: list[bytes]) -> None:
    result = anomstream(
        broker, "tail", "scores", "--dataset", broker.slug, "--from", "beginning", "--json",
        "--limit", str(SCORES), "--timeout", "30",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.encode().splitlines() == scores


def test_health_reads_rates_and_lag(
    broker: SecureBroker, scores: list[bytes], replayed: subprocess.CompletedProcess[str]
) -> None:
    assert replayed.returncode == 0, replayed.stderr
    result = anomstream(
        broker, "health", "--dataset", broker.slug, "--group", f"worker-{broker.slug}",
        "--window", "10m", "--max-lag", "100000", "--json",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    (dataset,) = json.loads(result.stdout)["datasets"]
    assert (dataset["readings"], dataset["scores"], dataset["anomalies"]) == (READINGS, SCORES, 2)
    assert dataset["lag"] == READINGS  # the group never committed: every reading is lag


def test_report_reads_the_scores(broker: SecureBroker, scores: list[bytes], tmp_path: Path) -> None:
    result = anomstream(broker, "report", "--dataset", broker.slug, "--out", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index.html").is_file()
    assert result.stdout.startswith("anomstream report: 1 entities ->")


def _scores_total(port: int, slug: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:  # noqa: S310
            text = response.read().decode()
    except OSError:
        return -1.0  # not serving yet
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("anomstream_scores_total{") and f'dataset="{slug}"' in line
    )


def _exporter(broker: SecureBroker, log: Path, **kafka: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **broker.env(**kafka),
        "ANOMSTREAM_EXPORTER_TOPICS": rf"^scores\.{broker.slug}$",
        "ANOMSTREAM_EXPORTER_GROUP_ID": f"exporter-{uuid.uuid4().hex}",
        "ANOMSTREAM_EXPORTER_START_FROM": "earliest",
        "ANOMSTREAM_EXPORTER_HOST": "127.0.0.1",
        "ANOMSTREAM_EXPORTER_PORT": str(port),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "anomstream", "exporter"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, port


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        return -9


def test_the_exporter_consumes_over_scram(
    broker: SecureBroker, scores: list[bytes], tmp_path: Path
) -> None:
    log = tmp_path / "exporter.log"
    exporter, port = _exporter(broker, log)
    try:
        deadline = time.monotonic() + 30
        while _scores_total(port, broker.slug) < SCORES and time.monotonic() < deadline:
            time.sleep(0.3)
        total = _scores_total(port, broker.slug)
    finally:
        status = _stop(exporter)
    broker.record(log.read_text())
    assert total == SCORES, log.read_text()
    assert status == 0


def test_the_exporter_says_once_that_its_login_is_refused(
    broker: SecureBroker, tmp_path: Path
) -> None:
    log = tmp_path / "exporter.log"
    wrong = f"wrong-{secrets.token_hex(8)}"
    exporter, _port = _exporter(broker, log, SASL_PASSWORD=wrong, CONNECT_TIMEOUT_S="2")
    try:
        deadline = time.monotonic() + 30
        while "refused the connection" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # librdkafka retries the login meanwhile: it must not log again
    finally:
        status = _stop(exporter)
    text = log.read_text()
    broker.record(text)
    refusals = [line for line in text.splitlines() if "refused the connection" in line]
    assert len(refusals) == 1, text
    assert "SASL authentication error" in refusals[0] and "Traceback" not in text
    assert wrong not in text
    assert status == 0


@pytest.mark.parametrize(
    "command",
    [
        ["topics", "create", "--timeout", "2"],
        ["replay", "synthetic", "--max", "--limit", "5", "--no-progress"],
        ["tail", "--from", "beginning", "--timeout", "2"],
        ["health", "--group", "g"],
        ["report", "--dataset", "synthetic"],
    ],
    ids=lambda command: command[0],
)
def test_a_wrong_password_is_one_line_and_exit_status_1(
    broker: SecureBroker, command: list[str]
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    env = broker.env(SASL_PASSWORD=wrong, CONNECT_TIMEOUT_S="2")

    result = anomstream(broker, "--log-level", "WARNING", *command, env=env)

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"anomstream {command[0]}: error: Kafka at {broker.bootstrap} refused the connection: "
    )
    assert "SASL authentication error" in line and "SCRAM-SHA-512" in line
    assert wrong not in line


def test_a_plaintext_client_is_refused(broker: SecureBroker) -> None:
    env = broker.env(
        SECURITY_PROTOCOL="PLAINTEXT", SASL_MECHANISM="", SASL_USERNAME="", SASL_PASSWORD="",
        SSL_CA_LOCATION="", CONNECT_TIMEOUT_S="2",
    )  # fmt: skip

    result = anomstream(broker, "tail", "--timeout", "2", env=env)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"anomstream tail: error: cannot reach Kafka at {broker.bootstrap} within 2s "
        "(start it: deploy/kafka/kafka-local start)"
    ]
    plain = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "p", "log_level": 2})
    try:
        with pytest.raises(KafkaException):
            plain.list_topics(timeout=2)
    finally:
        plain.close()


def test_a_broker_certificate_from_another_ca_is_refused(
    broker: SecureBroker, tmp_path: Path
) -> None:
    other = make_tls_files(tmp_path / "other")
    env = broker.env(SSL_CA_LOCATION=str(other.ca), CONNECT_TIMEOUT_S="2")

    result = anomstream(broker, "tail", "--timeout", "2", env=env)

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "refused the connection" in line and "certificate verify failed" in line


def test_kafka_local_tools_log_in_from_the_data_directory(
    broker: SecureBroker, scores: list[bytes]
) -> None:
    created = kafka_local(broker, "create-topics")
    listed = kafka_local(broker, "topics", "--list")
    consumed = kafka_local(
        broker, "console-consumer", "--topic", scores_topic(broker.slug), "--from-beginning",
        "--max-messages", str(SCORES), "--timeout-ms", "20000",
    )  # fmt: skip

    assert created.returncode == 0, created.stderr
    assert f"exists\t{readings_topic(broker.slug)}" in created.stdout.splitlines()
    assert listed.returncode == 0, listed.stderr
    assert scores_topic(broker.slug) in listed.stdout.splitlines()
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.encode().splitlines() == scores


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"KAFKA_LOCAL_SSL_CERT": ""},
            "KAFKA_LOCAL_SECURITY=sasl_ssl needs KAFKA_LOCAL_SSL_CERT (a PEM file)",
        ),
        (
            {"KAFKA_LOCAL_SCRAM_PASSWORD": 'has"quote'},
            "KAFKA_LOCAL_SCRAM_PASSWORD must be 8 or more of letters, digits and "
            ". _ - + / @ % ^ : ~",
        ),
        (
            {"KAFKA_LOCAL_SECURITY": "tls"},
            "KAFKA_LOCAL_SECURITY must be plaintext or sasl_ssl, got 'tls'",
        ),
    ],
    ids=["no-cert", "bad-password", "bad-mode"],
)
def test_kafka_local_refuses_incomplete_secured_settings_in_one_line(
    broker: SecureBroker, tmp_path: Path, settings: dict[str, str], error: str
) -> None:
    env = {
        **kafka_local_env(tmp_path / "data", free_port(), free_port()),
        "KAFKA_LOCAL_SECURITY": "sasl_ssl",
        "KAFKA_LOCAL_SSL_CERT": str(broker.tls.cert),
        "KAFKA_LOCAL_SSL_KEY": str(broker.tls.key),
        "KAFKA_LOCAL_SSL_CA": str(broker.tls.ca),
        "KAFKA_LOCAL_SCRAM_USER": USER,
        "KAFKA_LOCAL_SCRAM_PASSWORD": "long-enough-1",
        **settings,
    }

    result = subprocess.run(
        [str(KAFKA_LOCAL), "start"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"kafka-local: error: {error}"]
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_kafka_local_keeps_the_mode_it_formatted(broker: SecureBroker) -> None:
    status = kafka_local(broker, "status")
    plaintext = subprocess.run(
        [str(KAFKA_LOCAL), "start"],
        env={**broker.tools_env, "KAFKA_LOCAL_SECURITY": "plaintext"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert status.returncode == 0
    assert f"broker {broker.bootstrap} (SASL_SSL)" in status.stdout
    assert plaintext.returncode == 1
    assert plaintext.stderr.splitlines() == [
        f"kafka-local: error: {broker.data_dir} holds a sasl_ssl cluster, not plaintext: "
        "run 'kafka-local reset' or set KAFKA_LOCAL_DIR"
    ]


def test_the_worker_scores_through_scram_over_tls(broker: SecureBroker, tmp_path: Path) -> None:
    slug = f"t{uuid.uuid4().hex[:10]}"
    settings = broker.settings()
    ensure_topics(
        settings,
        [s for s in topic_specs(TopicSettings(datasets=[slug])) if s.name.endswith(slug)],
    )
    data = {f"e{i}": series(60, seed=i) for i in range(2)}
    for i, entity in enumerate(data):
        train_model(tmp_path / "models", slug, entity, seed=i)
    env = {k: v for k, v in broker.env().items() if k.startswith("ANOMSTREAM_KAFKA_")}
    worker = WorkerProcess(
        bootstrap=broker.bootstrap, models_dir=tmp_path / "models", topics=readings_topic(slug),
        group_id=f"group-{slug}", worker_id=f"{slug}-w1", log_dir=tmp_path, extra_env=env,
    )  # fmt: skip
    worker.start()
    try:
        worker.wait_assigned()
        producer = Producer(settings.producer_config("test-secure-readings"))
        for entity, rows in data.items():
            producer.produce(readings_topic(slug), batch(slug, entity, 0, rows), entity.encode())
        assert producer.flush(30) == 0
        consumer = Consumer(
            {
                **settings.client_config(),
                "group.id": f"check-{slug}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe([scores_topic(slug)])
        got: set[tuple[str, int]] = set()
        deadline = time.monotonic() + 60
        while len(got) < 2 * (60 - WINDOW + 1) and time.monotonic() < deadline:
            for record in consumer.consume(100, timeout=0.5):
                if record.error() is None:
                    batch_ = decode(record.value() or b"", ScoreBatch)
                    got |= {(s.entity, s.seq) for s in batch_.expand()}
        consumer.close()
        assert got == {(e, q) for e in data for q in range(WINDOW - 1, 60)}
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        broker.record(worker.log())


def test_the_password_is_in_no_output_or_log(broker: SecureBroker) -> None:
    # Each command's output was checked as it ran; the broker's logs are checked here.
    logs = sorted((broker.data_dir / "node-1" / "logs").iterdir())
    assert logs, "the broker wrote no logs"
    for log in logs:
        assert broker.password not in log.read_text(errors="replace"), log
    assert broker.password not in (broker.data_dir / "cluster.env").read_text()
    assert all(broker.password not in text for text in broker.outputs)
    # The files that must hold it (the brokers' and the tools' logins) are the owner's only.
    for holder in ("client.env", "client.properties", "node-1/server.properties"):
        assert (broker.data_dir / holder).stat().st_mode & 0o077 == 0, holder
