"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` package, a cluster made by
`initdb` in a temporary folder and started with `pg_ctl` on 127.0.0.1 and a free port (as the
`postgres` user when the tests run as root, which initdb refuses), stopped by its own data folder at
the end of the session. Each test gets a database of its own.

On CI (CI=true) a missing server fails the tests; elsewhere they are skipped with the install line.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

INSTALL = "apt-get install -y postgresql"


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl (Debian keeps them out of PATH, per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_owner(command: list[str]) -> list[str]:
    """Run as `postgres` when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        if self.bin is None:
            message = f"PostgreSQL is not installed ({INSTALL})"
            if os.environ.get("CI"):
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        self.folder = Path(tempfile.mkdtemp(prefix="msd-postgres-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"

    def start(self) -> PostgresServer:
        run = lambda *args: subprocess.run(as_owner([str(self.bin / args[0]), *args[1:]]), check=True,  # noqa: E731
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c max_connections=200"
        run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.folder / "server.log"), "start", "-o", options)
        return self

    def stop(self) -> None:
        subprocess.run(as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
