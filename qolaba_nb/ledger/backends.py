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
exception types, how to bound a lock wait, how to recognise "locked" and "no such table", and
where to spool rows it could not write yet; :func:`open_backend` picks one for a target.
A connection is any DB-API object with ``execute(sql, args)`` returning a
cursor with ``fetchone``/``fetchall``, ``executemany`` on a cursor, and ``close()``, in autocommit
mode (transactions are begun and ended explicitly by :meth:`Backend.write`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from .._config import Secret, mask_url
from .errors import LedgerError
from .paths import MEMORY, is_url

__all__ = ["SQLITE", "Backend", "Connection", "Dialect", "SQLiteBackend"]

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

    def is_busy(self, exc: Exception) -> bool:
        """Whether ``exc`` says another connection held a lock longer than we waited."""
        ...

    def set_wait(self, conn: Any, seconds: float) -> None:
        """Make ``conn`` wait at most ``seconds`` for another connection's lock."""
        ...

    def spool_dir(self) -> Path | None:
        """Where rows that could not be written yet are kept (None: in memory only)."""
        ...

    def is_broken(self, conn: Any) -> bool:
        """Whether ``conn`` was lost and a new one must be opened."""
        ...

    def abandon(self, conn: Any) -> None:
        """Let go of ``conn``, inherited by a forked child, without disturbing the parent that
        still uses it. Called once, in the child, right after the fork."""
        ...


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
        """Open the file (creating its directory), in autocommit mode, WAL for a file.

        Raises
        ------
        LedgerError
            The file cannot be opened or created, is not an SQLite database, or is another
            application's database (then nothing in it was changed).
        """
        try:
            if self.path != MEMORY:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit; a lone statement is its own transaction and
            # bigger writes use write() above.
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # shared by one ledger's threads, behind its lock
            )
        except (OSError, sqlite3.Error) as e:
            raise _unopenable(self.path, e) from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            if self.path != MEMORY:
                # Before changing anything (WAL switch, tables): is this a ledger at all?
                _check_is_ledger(conn, self.path)
                _set_wal(conn, self.busy_timeout_ms)
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise _unopenable(self.path, e) from e
        except BaseException:
            conn.close()
            raise
        return conn

    def is_missing_table(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)

    def is_busy(self, exc: Exception) -> bool:
        text = str(exc)
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)

    def set_wait(self, conn: Any, seconds: float) -> None:
        conn.execute(f"PRAGMA busy_timeout = {max(int(seconds * 1000), 0)}")

    def spool_dir(self) -> Path | None:
        return None if self.path == MEMORY else Path(self.path + ".spool")

    def is_broken(self, conn: Any) -> bool:
        return False

    def abandon(self, conn: Any) -> None:
        """Keep the inherited connection for the child's lifetime, unused and never closed.

        Closing it (also by garbage collection) could checkpoint or delete the WAL file under
        the parent's feet: the child does not inherit the parent's file locks, so SQLite in
        the child would believe it is the last connection.
        """
        _ABANDONED.append(conn)


#: SQLite connections inherited by this (forked) process: see SQLiteBackend.abandon.
_ABANDONED: list[Any] = []


def open_backend(target: Secret) -> Backend:
    """The :class:`Backend` for ``target``: an SQLite path, ``":memory:"``, or a URL.

    ``target`` comes in a ``Secret`` (a URL may hold a password) and is never a local
    variable of this frame as text. A ``postgresql://`` URL is served by
    ``qolaba_nb.ledger._postgres.PostgresBackend`` when that module is present.
    """
    if not is_url(target.get()):
        return SQLiteBackend(target.get())
    try:
        from . import _postgres  # type: ignore[attr-defined,unused-ignore]
    except ImportError as e:
        shown = mask_url(target.get())
        raise LedgerError(
            f"cannot open the usage ledger {shown}: this qolaba_nb has no PostgreSQL ledger "
            "backend. Fix: use an SQLite file (UsageLedger(path), QOLABA_NB_LEDGER=path).",
            path=shown,
        ) from e
    backend: Backend = _postgres.PostgresBackend(target)
    return backend


#: Tables that make a database a ledger: every ledger has had both since m001.
LEDGER_TABLES: Final = frozenset({"_migrations", "calls"})


def _check_is_ledger(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a database with tables that is not a ledger (an empty one is fine)."""
    tables = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if not r[0].startswith("sqlite_")
    }
    if tables and not tables >= LEDGER_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise LedgerError(
            f"{path} is an SQLite database but not a qolaba_nb ledger (its tables: {shown}). "
            "Nothing in it was changed. Point the ledger elsewhere: "
            "UsageLedger('another.sqlite'), or set QOLABA_NB_LEDGER.",
            path=path,
        )


def _unopenable(path: str, exc: BaseException) -> LedgerError:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in reason:
        fix = "it is not an SQLite file: move it away, or point the ledger elsewhere"
    else:
        fix = "check that its directory exists and is writable, or point the ledger elsewhere"
    return LedgerError(
        f"cannot open the usage ledger {path}: {reason}. Fix: {fix} "
        "(UsageLedger(path), QOLABA_NB_LEDGER=path, or Client(ledger=False) to record nothing).",
        path=path,
    )


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
