"""The storage seam: what differs between database engines, in one place.

Everything the ledger sends to a database is written once, in SQLite's spelling with ``?``
placeholders, and passes through a :class:`Dialect` on its way out:

* :meth:`Dialect.sql` turns ``?`` into the engine's placeholder (``%s`` for psycopg);
* DDL takes its column types from the dialect (:attr:`Dialect.pk`, :attr:`Dialect.real`);
* :meth:`Backend.write` opens the one kind of write transaction the ledger uses: it must
  serialise with every other writer of the same budget *before* the first read (SQLite:
  ``BEGIN IMMEDIATE``; a server engine: ``BEGIN`` plus :attr:`Dialect.lock_budget`, for
  example a transaction-scoped advisory lock), so a check-and-reserve is atomic;
* per-group lists of floats (for percentiles) come from :attr:`Dialect.float_list`
  (``group_concat`` in SQLite, ``string_agg`` elsewhere), parsed by numpy in one go;
* upserts use ``INSERT ... ON CONFLICT (...) DO UPDATE SET t.c = t.c + excluded.c``, which
  SQLite (3.24+) and PostgreSQL both understand as written, and ``RETURNING`` (SQLite 3.35+).

A :class:`Backend` opens connections for one target (a file, or a URL) and knows its engine's
exception types. A connection is any DB-API object with ``execute(sql, args)`` returning a
cursor with ``fetchone``/``fetchall``, ``executemany`` on a cursor, and ``close()``, in autocommit
mode (transactions are begun and ended explicitly by :meth:`Backend.write`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from .paths import MEMORY, normalise_path

__all__ = ["SQLITE", "Backend", "Connection", "Dialect", "SQLiteBackend", "open_backend"]

#: How long a writer waits for another connection's lock before giving up (milliseconds).
BUSY_TIMEOUT_MS: Final = 30_000


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the ledger uses (sqlite3 and psycopg 3 both have it)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one database engine spells what the ledger needs.

    Attributes
    ----------
    name
        ``"sqlite"`` or ``"postgresql"``.
    placeholder
        The parameter marker: ``"?"`` (sqlite3) or ``"%s"`` (psycopg).
    pk
        The type of an auto-numbered integer primary key column.
    real
        The type of an 8-byte float column.
    begin_write
        The statement that starts a write transaction.
    float_list
        An aggregate joining a float column's non-null values of a group into one text,
        comma-separated, without losing precision that matters (``{}`` is the column).
    lock_budget
        A statement run first in every write transaction that checks or changes budgets, so
        that they serialise across connections; None when ``begin_write`` already does.
    """

    name: str
    placeholder: str
    pk: str
    real: str
    begin_write: str
    float_list: str
    lock_budget: str | None = None

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` placeholders) in this dialect's parameter style."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


SQLITE: Final = Dialect(
    name="sqlite",
    placeholder="?",
    pk="INTEGER PRIMARY KEY",
    real="REAL",
    # IMMEDIATE takes the write lock at once (waiting on busy_timeout), instead of failing
    # when a read transaction would have to be upgraded to a write later on.
    begin_write="BEGIN IMMEDIATE",
    float_list="group_concat({})",  # REAL as text: 15 significant digits
)


class Backend(Protocol):
    """Opens connections to one ledger database."""

    dialect: Dialect
    #: What the ledger is stored in, as shown to users (a path or a URL without password).
    target: str
    #: The engine's base exception type (``sqlite3.Error``, ``psycopg.Error``).
    error: type[Exception]

    def connect(self) -> Any:
        """A new autocommit connection, ready for :func:`~.migrations.migrate`."""
        ...

    def is_missing_table(self, exc: Exception) -> bool:
        """Whether ``exc`` says that a table does not exist."""
        ...

    def is_broken(self, conn: Any) -> bool:
        """Whether ``conn`` was lost and a new one must be opened."""
        ...

    def abandon(self, conn: Any) -> None:
        """Let go of a connection inherited by a forked child, without harming the parent's."""
        ...

    def same_target(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (as given to ``UsageLedger``) names this backend's database."""
        ...


def open_backend(path: str | os.PathLike[str]) -> Backend:
    """The backend for a ledger ``path``: a ``postgresql://`` URL, else a SQLite file."""
    from .postgres import PostgresBackend, is_postgres_url

    raw = os.fspath(path)
    if is_postgres_url(raw):
        return PostgresBackend(raw)
    return SQLiteBackend(normalise_path(raw))


@contextmanager
def write(conn: Any, dialect: Dialect) -> Iterator[Any]:
    """One write transaction on ``conn``: committed when the block ends, rolled back on error."""
    conn.execute(dialect.begin_write)
    try:
        if dialect.lock_budget:
            conn.execute(dialect.lock_budget)
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SQLiteBackend:
    """A SQLite file (WAL mode) or ``":memory:"``.

    Parameters
    ----------
    path
        An absolute file path, or ``":memory:"``.
    busy_timeout_ms
        How long a statement waits for another connection's write lock.
    """

    dialect: Dialect = SQLITE
    error: type[Exception] = sqlite3.Error

    def __init__(self, path: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.target = self.path = path
        self.busy_timeout_ms = busy_timeout_ms

    def connect(self) -> sqlite3.Connection:
        """Open the file (creating its directory), in autocommit mode, WAL for a file."""
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; a lone INSERT is its own committed transaction and
        # bigger writes use write() above.
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,  # shared by one ledger's threads, behind its lock
        )
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        if self.path != MEMORY:
            _set_wal(conn, self.busy_timeout_ms)
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def is_missing_table(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)

    def is_broken(self, conn: Any) -> bool:
        return False

    def abandon(self, conn: Any) -> None:
        # Never close it: closing could checkpoint or delete the WAL file under the parent's
        # feet. The ledger keeps a reference so that it is not garbage-collected either.
        pass

    def same_target(self, path: str | os.PathLike[str]) -> bool:
        return self.path != MEMORY and normalise_path(path) == self.path


def _set_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Switching to WAL needs a brief exclusive lock and, unlike ordinary statements, can report
    # "locked" without going through the busy handler when several processes open a new file
    # at the same moment. Retry for the same time a writer would wait.
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
