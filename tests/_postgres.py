"""A real, throw-away PostgreSQL server for the tests (Debian's ``postgresql`` package).

One server per test session (see the ``postgres_server`` fixture in tests/conftest.py), one fresh
database per test. The server runs as the ``postgres`` user when the tests run as root (initdb and
postgres refuse root), from a temporary directory that is removed when it stops. It listens on
127.0.0.1 (password authentication, as a team's server would) and on a unix socket in that
directory (trust, for the administrative connection that creates and drops databases).

Durability is switched off (fsync, synchronous_commit, full_page_writes): the data lives for one
test run, and the settings change nothing the tests assert about transactions or locking.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from psycopg import sql

#: The role the tests connect as, with a password: the URL a team would use.
USER = "qolaba"
_PR_SET_PDEATHSIG = 1


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec (after the uid switch, which would clear it):
    # if pytest itself is killed, the kernel sends the postmaster SIGQUIT (immediate shutdown,
    # which also ends its backends), so no server outlives the test run.
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)


class PostgresServer:
    """``start()`` initdb + postgres; ``create_database()`` a URL per test; ``stop()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: Any = None  # psycopg.Connection, over the unix socket
        self._names = itertools.count(1)
        # initdb and postgres refuse to run as root.
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    # ---- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="qolaba-nb-pg-"))
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])
        data = self.root / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.port = _free_port()
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self._proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.root),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=100",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            preexec_fn=_die_with_parent,
            **self._as,
        )
        try:
            self._admin = self._wait_ready(timeout=60)
            # Utility statements take no bound parameters: the password goes in as a literal.
            self._admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(USER), sql.Literal(self.password)
                )
            )
        except BaseException:
            self.stop()
            raise

    def _run(self, tool: str, *args: str) -> None:
        assert self.root is not None
        done = subprocess.run(
            [str(self.bindir / tool), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            **self._as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _wait_ready(self, timeout: float) -> Any:
        import psycopg

        assert self._proc is not None and self.root is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self._proc.returncode}):\n{self.log()}")
            try:
                return psycopg.connect(
                    host=str(self.root),
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=5,
                )
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def log(self) -> str:
        assert self.root is not None
        return (self.root / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: backends are ended), then remove the directory."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)
                try:
                    self._proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=30)
            self._proc = None
            self._log.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ---- databases -----------------------------------------------------------------------

    def url(self, dbname: str, *, password: str | None = None) -> str:
        """The URL a team member would set: TCP on 127.0.0.1, user and password in it."""
        pw = self.password if password is None else password
        return f"postgresql://{USER}:{pw}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database owned by :data:`USER`; its name.

        FILE_COPY of template0 (a few MB) is cheaper than WAL-logging it with fsync off.
        """
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin.execute(
            f"CREATE DATABASE {name} OWNER {USER} TEMPLATE template0 STRATEGY FILE_COPY"
        )
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a test that failed may have left a connection open.
        self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def backends(self, dbname: str) -> int:
        """How many connections are open to ``dbname`` (other than the admin one)."""
        row = self._admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
        ).fetchone()
        return int(row[0])
