"""A real PostgreSQL for the tests: ``initdb`` into a temporary folder and ``pg_ctl`` on a free
loopback port. PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to
the ``postgres`` user that Debian's package creates (or ``nobody``)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from core.net import free_port

SUPERUSER = "kbqa"


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL programs (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _run_as() -> str | None:
    """The user to run PostgreSQL as: None for this one, unless this one is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("running as root with neither a 'postgres' nor a 'nobody' user for PostgreSQL")


class PostgresServer:
    """One PostgreSQL cluster in a folder of its own; stopped and started again on the same
    port (the outage tests stop it mid-run)."""

    def __init__(self) -> None:
        pytest.importorskip("psycopg", reason="needs psycopg: pip install 'kbqa[postgres]'")
        pytest.importorskip(
            "psycopg_pool", reason="needs psycopg_pool: pip install 'kbqa[postgres]'"
        )
        bin_dir = postgres_bin()
        if bin_dir is None:
            pytest.skip("needs PostgreSQL's binaries in /usr/lib/postgresql/*/bin: make postgres")
        self.bin = bin_dir
        self.user = _run_as()
        # Not under pytest's tmp folder: the 'postgres' user cannot enter root's 0700 folders.
        self.root = Path(tempfile.mkdtemp(prefix="kbqa-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._command("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8")

    def _command(self, program: str, *args: str) -> str:
        command = [str(self.bin / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{program} failed: {done.stdout}{done.stderr}")
        return done.stdout

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._command(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._command("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(AssertionError):  # stopped already
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """A new, empty database on this server: its URL."""
        name = f"t{uuid.uuid4().hex[:16]}"
        self._command("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name)
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"
