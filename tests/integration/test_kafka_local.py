"""deploy/kafka/kafka-local as a user runs it: errors in one line, a multi-node cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, TopicMetadata
from kafka_helpers import KAFKA_LOCAL, free_port, kafka_local_env

from schemas import TopicSettings, topic_specs
from stream_app.topic_admin import ensure_topics


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_LOCAL), *args], env=env, capture_output=True, text=True, timeout=180
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def bin_dir_with(tmp_path: Path, *commands: str) -> str:
    """A PATH holding only `commands` (linked to the real ones), to hide the others."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in commands:
        real = shutil.which(command)
        assert real is not None, f"{command} is needed for this test"
        (bin_dir / command).symlink_to(real)
    return str(bin_dir)


def test_a_taken_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = kafka_local_env(tmp_path / "data", port, free_port())

        result = run_script("start", env=env)

    assert result.returncode == 1
    assert error_lines(result) == [
        f"kafka-local: error: port {port} on 127.0.0.1 is already in use: "
        "set KAFKA_LOCAL_PORT / KAFKA_LOCAL_CONTROLLER_PORT"
    ]


def test_missing_java_is_one_clear_error(tmp_path: Path) -> None:
    env = kafka_local_env(tmp_path / "data", free_port(), free_port())
    env["PATH"] = bin_dir_with(tmp_path, "bash", "dirname")

    result = run_script("start", env=env)

    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("kafka-local: error: java not found on PATH")


def test_missing_maven_is_one_clear_error_when_jars_are_not_cached(tmp_path: Path) -> None:
    env = kafka_local_env(tmp_path / "data", free_port(), free_port())
    env["KAFKA_LOCAL_CACHE"] = str(tmp_path / "empty-cache")
    env["PATH"] = bin_dir_with(tmp_path, "bash", "dirname", "java", "cksum", "cut")

    result = run_script("fetch", env=env)

    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("kafka-local: error: mvn not found on PATH")


def test_unreachable_maven_central_is_one_clear_error(tmp_path: Path) -> None:
    # A Maven mirror on a closed loopback port stands for Maven Central being unreachable.
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>closed</id><mirrorOf>*</mirrorOf>"
        f"<url>http://127.0.0.1:{free_port()}/maven2</url></mirror></mirrors></settings>"
    )
    env = kafka_local_env(tmp_path / "data", free_port(), free_port())
    # Java takes user.home from the password file, not HOME: hand Maven the fake home.
    env.update(MAVEN_OPTS=f"-Duser.home={home}", KAFKA_LOCAL_CACHE=str(tmp_path / "cache"))

    result = run_script("fetch", env=env)

    assert result.returncode == 1
    lines = [line for line in error_lines(result) if "error" in line]
    assert lines == [
        "kafka-local: error: could not fetch the Kafka 3.9.1 jars from Maven Central "
        f"(see {tmp_path / 'cache'}/fetch.log)"
    ]


def test_status_of_a_never_started_directory_is_not_running(tmp_path: Path) -> None:
    env = kafka_local_env(tmp_path / "never", free_port(), free_port())

    result = run_script("status", env=env)

    assert result.returncode == 3
    assert "not formatted" in result.stdout


def test_unknown_command_and_bad_node_count_are_rejected(tmp_path: Path) -> None:
    env = kafka_local_env(tmp_path / "data", free_port(), free_port())

    unknown = run_script("launch", env=env)
    bad_nodes = run_script("start", "--nodes", "zero", env=env)

    assert unknown.returncode == 1 and "unknown command 'launch'" in unknown.stderr
    assert bad_nodes.returncode == 1 and "--nodes must be a positive integer" in bad_nodes.stderr


def wait_for_topic(bootstrap: str, name: str) -> TopicMetadata:
    """The topic's metadata once every broker knows it (propagation is asynchronous)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _ in range(60):
        metadata = admin.list_topics(timeout=30)
        if name in metadata.topics and len(metadata.brokers) == 3:
            topic: TopicMetadata = metadata.topics[name]
            return topic
        time.sleep(0.5)
    raise AssertionError(f"{name} did not appear in the cluster's metadata")


def test_console_tools_and_topic_creation_on_the_running_broker(
    session_kafka_local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**session_kafka_local_env, "ANOMSTREAM_TOPIC_DATASETS": f"c{uuid.uuid4().hex[:8]}"}
    dataset = env["ANOMSTREAM_TOPIC_DATASETS"]

    first = run_script("create-topics", env=env)
    again = run_script("create-topics", env=env)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert f"created\treadings.{dataset}" in first.stdout
    assert f"exists\treadings.{dataset}" in again.stdout and "created" not in again.stdout

    topic = f"readings.{dataset}"
    produced = subprocess.run(
        [str(KAFKA_LOCAL), "console-producer", "--topic", topic, "--property", "parse.key=true"],
        input='valve1\t{"seq": 1}\n',
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert produced.returncode == 0, produced.stderr
    consumed = run_script(
        "console-consumer",
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "1",
        "--property",
        "print.key=true",
        "--timeout-ms",
        "60000",
        env=env,
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines()[0] == 'valve1\t{"seq": 1}'


@pytest.fixture
def three_node_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    # Ports for three nodes are PORT..PORT+2; pick bases far apart to keep them free.
    base = 20000 + (os.getpid() * 7) % 20000
    env = kafka_local_env(tmp_path / "cluster", base, base + 100)
    yield env
    run_script("stop", env=env)


def test_three_node_cluster_replicates_the_project_topics(
    three_node_env: dict[str, str],
) -> None:
    started = run_script("start", "--nodes", "3", env=three_node_env)
    assert started.returncode == 0, started.stderr
    bootstrap = started.stdout.strip().splitlines()[-1]
    assert len(bootstrap.split(",")) == 3

    status = run_script("status", env=three_node_env)
    assert status.returncode == 0
    assert status.stdout.count(": running") == 3

    settings = TopicSettings(datasets=[f"t{uuid.uuid4().hex[:8]}"], replication_factor=3)
    ensure_topics(bootstrap, topic_specs(settings))
    readings = wait_for_topic(bootstrap, f"readings.{settings.datasets[0]}")
    assert {len(p.replicas) for p in readings.partitions.values()} == {3}

    stopped = run_script("stop", env=three_node_env)
    assert stopped.returncode == 0
    assert run_script("status", env=three_node_env).returncode == 3
