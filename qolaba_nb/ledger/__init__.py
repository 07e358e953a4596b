"""A ledger of every call: what it cost, how long it took, and budgets on top.

The client hands one :class:`~qolaba_nb.CallRecord` per call to :meth:`UsageLedger.record`;
the ledger writes it at once (one committed row), so spending is visible to every other client,
thread and process that uses the same database, and a crash never loses a finished call.

Example
-------
>>> from qolaba_nb.ledger import UsageLedger
>>> with UsageLedger(":memory:") as ledger:
...     ledger.set_budget(5)             # credits, for this process's session
...     ledger.check_budget()            # raises BudgetExceededError once 5 credits are spent
...     ledger.spent()
(0.0, 0.0)

The package's parts
-------------------
``paths``       where the default ledger lives (``$QOLABA_NB_LEDGER``, the per-user data dir).
``backends``    the storage seam: :class:`~.backends.Dialect` and :class:`~.backends.Backend`.
``migrations``  the schema, as numbered append-only migrations (:data:`MIGRATIONS`).
``records``     a ``CallRecord`` as one ``calls`` row (:data:`COLUMNS`).
``queries``     filters as SQL and the statements the reading methods run.
``budgets``     which budgets cover a call, and the error that refuses one.
``frames``      rows as pandas DataFrames, summaries (pandas is imported only here, lazily).
``spool``       rows that could not be written yet (a locked database), written later.
``errors``      :class:`LedgerError`: a database that cannot be used, with the fix.
``core``        :class:`UsageLedger`, which wires them together.

Adding a database engine
------------------------
All SQL is written once, SQLite-style with ``?`` placeholders, in ``migrations``, ``records``,
``queries`` and ``core``; it reaches the database only through ``dialect.sql(text)``. An engine
is a :class:`~.backends.Dialect` (placeholder, primary-key and float types, the statement that
begins a write transaction and the one that serialises budget writers, e.g. a transaction-level
advisory lock where SQLite has ``BEGIN IMMEDIATE``; the aggregate that joins a group's floats
into text) plus a :class:`~.backends.Backend` that opens autocommit connections, checks that
the database is a ledger before changing it, knows the engine's exception types, bounds lock
waits, and says where to spool unwritten rows. :func:`~.backends.open_backend` maps a target
to its backend: SQLite paths here, ``postgresql://`` URLs to ``_postgres.PostgresBackend``.
Migrations take their column types from the dialect; ``LiveSummary`` reads new rows by id,
which assumes ids become visible in increasing order (true of SQLite's single writer).
Upserts are spelled ``INSERT ... ON CONFLICT (...) DO UPDATE SET t.c = t.c + excluded.c``,
which both engines read.

Design notes
------------
* One connection per ``UsageLedger`` object, shared by its threads behind a lock. SQLite
  serialises writers anyway, so per-thread connections would buy little and would leak a
  connection per short-lived thread. Other processes and other ledger objects get their own
  connections; WAL mode plus ``busy_timeout`` lets them all write at once.
* WAL with ``synchronous=NORMAL``: a committed row survives the process being killed (it is in
  the WAL file); only an OS crash or power cut may lose the last few commits.
* pandas is imported inside the functions that need it: ``import qolaba_nb`` must stay light.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from . import migrations as _migrations
from .backends import BUSY_TIMEOUT_MS
from .core import UsageLedger
from .errors import LedgerError
from .migrations import MIGRATIONS, m001_initial
from .paths import MEMORY, default_ledger_path
from .paths import _data_dir as _data_dir  # tests use it
from .records import _INSERT_COLUMNS as _INSERT_COLUMNS  # benchmarks use it
from .records import COLUMNS

__all__ = [
    "BUSY_TIMEOUT_MS",
    "COLUMNS",
    "MEMORY",
    "MIGRATIONS",
    "LedgerError",
    "UsageLedger",
    "default_ledger",
    "default_ledger_path",
    "m001_initial",
    "migrate",
]


def migrate(
    conn: Any, migrations: Sequence[tuple[str, _migrations.Migration]] | None = None
) -> list[str]:
    """Apply the migrations ``conn``'s SQLite database lacks; return their names.

    Safe to run from several processes at once: the check and the changes happen in one
    ``BEGIN IMMEDIATE`` transaction, so the second process waits and then finds nothing to do.

    Parameters
    ----------
    conn
        A ``sqlite3`` connection in autocommit mode (``isolation_level=None``).
    migrations
        The ``(name, function)`` pairs to apply; None for this package's :data:`MIGRATIONS`
        (looked up when called).

    Returns
    -------
    list of str
        The names applied now; empty when the database was already up to date.
    """
    return _migrations.apply_migrations(conn, MIGRATIONS if migrations is None else migrations)


# --------------------------------------------------------------------------------------------
# The process-wide default ledger
# --------------------------------------------------------------------------------------------

_default: UsageLedger | None = None
_default_lock = threading.Lock()


def default_ledger() -> UsageLedger:
    """The process-wide ledger at :func:`default_ledger_path`, created on first use.

    If ``$QOLABA_NB_LEDGER`` changed since, a new ledger for the new path replaces it (the old
    object stays open for whoever still holds it).
    """
    global _default
    path = default_ledger_path()
    with _default_lock:
        if _default is None or _default._target.get() != path or _default._closed:
            _default = UsageLedger(path)
        return _default
