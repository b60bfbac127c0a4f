"""A broker of a test's own, through kafka-local, that the test may stop, kill and restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient
from kafka_helpers import KAFKA_LOCAL, free_port, kafka_local_env


@dataclass
class LocalKafka:
    """One kafka-local cluster in a directory of its own, on free ports below 32768."""

    data_dir: Path
    nodes: int = 1

    def __post_init__(self) -> None:
        # Node i listens on PORT+i-1 and CONTROLLER_PORT+i-1: leave room for every node.
        port = free_port()
        while any(_taken(port + i) for i in range(1, self.nodes)):
            port = free_port()
        controller = free_port()
        while any(_taken(controller + i) for i in range(1, self.nodes)):
            controller = free_port()
        self.env = kafka_local_env(self.data_dir, port, controller)
        self.env["KAFKA_LOCAL_NODES"] = str(self.nodes)
        self.bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(self.nodes))

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [str(KAFKA_LOCAL), *args], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"kafka-local {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self._run("start")
        # Every node answers; wait until the cluster's metadata lists them all too, or a
        # first request may go to a broker the client then drops as unknown.
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 2})
        deadline = time.monotonic() + 60
        while len(admin.list_topics(timeout=10).brokers) < self.nodes:
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster lists fewer than {self.nodes} brokers")
            time.sleep(0.2)

    def stop(self) -> None:
        """A clean stop of every node (controlled shutdown)."""
        self._run("stop")

    def node_pid(self, node: int = 1) -> int:
        return int((self.data_dir / f"node-{node}" / "kafka.pid").read_text())

    def kill(self, node: int = 1) -> None:
        """kill -9 one node: no controlled shutdown, leaders move only when it is missed."""
        self._signal(node, signal.SIGKILL)

    def stop_node(self, node: int) -> None:
        """SIGTERM one node: a controlled shutdown moves its leaders first."""
        self._signal(node, signal.SIGTERM)

    def _signal(self, node: int, sig: signal.Signals) -> None:
        pid = self.node_pid(node)
        os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                (self.data_dir / f"node-{node}" / "kafka.pid").unlink(missing_ok=True)
                return
            time.sleep(0.1)
        raise AssertionError(f"node {node} (pid {pid}) did not die")

    def close(self) -> None:
        subprocess.run([str(KAFKA_LOCAL), "stop"], env=self.env, capture_output=True, check=False)


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
