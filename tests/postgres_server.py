"""A throwaway PostgreSQL server for tests: Debian's binaries, a cluster in a folder of its own.

initdb refuses to run as root, and CI runs as root: there the cluster belongs to the
`postgres` user that Debian's package creates (through `runuser`), in a folder of /tmp that
user can reach, since pytest's own temporary folders are private to root.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_bin"]

USER = "anomstream"
PASSWORD = "s3cret-for-tests"  # noqa: S105 - a throwaway cluster on loopback


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's newest version."""
    if found := shutil.which("initdb"):
        return Path(found).parent
    folders = [f for f in Path("/usr/lib/postgresql").glob("*/bin") if (f / "initdb").is_file()]
    return max(folders, key=_version) if folders else None


class PostgresServer:
    """One cluster on 127.0.0.1:`port`, password login for `USER`; `stop` removes it all."""

    def __init__(self, folder: Path, port: int) -> None:
        binaries = postgres_bin()
        if binaries is None:
            pytest.skip(
                "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql); "
                "scripts/setup installs Debian's postgresql"
            )
        self.bin = binaries
        self.port = port
        self.owner: str | None = None
        self.private = False
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("initdb refuses to run as root, and there is no postgres user")
            self.owner = "postgres"
            folder = Path(tempfile.mkdtemp(prefix="anomstream-postgres-"))
            self.private = True
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(
            command, cwd=self.folder, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}{log}")

    def start(self) -> None:
        password = self.folder / "password"
        password.write_text(PASSWORD + "\n")
        if self.owner is not None:
            shutil.chown(self.folder, self.owner)
            shutil.chown(password, self.owner)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, "--auth=scram-sha-256",
            f"--pwfile={password}", "--no-sync", "--no-locale", "--encoding=UTF8",
        )  # fmt: skip
        # The socket goes to the cluster's folder, not /var/run/postgresql (which may not be
        # there, or not be ours); no fsync: the data is thrown away.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        if self.private:
            shutil.rmtree(self.folder, ignore_errors=True)
