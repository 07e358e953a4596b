"""A local SQLite ledger of every call: what it cost, how long it took, and budgets on top.

The client hands one :class:`~qolaba_nb._record.CallRecord` per call to :meth:`UsageLedger.record`;
the ledger writes it at once (one committed row), so spending is visible to every other client,
thread and process that uses the same file, and a crash never loses a finished call.

Example
-------
>>> from qolaba_nb.ledger import UsageLedger
>>> with UsageLedger(":memory:") as ledger:
...     ledger.set_budget(5)             # credits, for this process's session
...     ledger.check_budget()            # raises BudgetExceededError once 5 credits are spent
...     ledger.spent()
(0.0, 0.0)

Design notes
------------
* One ``sqlite3`` connection per ``UsageLedger`` object, shared by its threads behind a lock.
  SQLite serialises writers anyway, so per-thread connections would buy little and would leak a
  connection per short-lived thread. Other processes and other ledger objects get their own
  connections; WAL mode plus ``busy_timeout`` lets them all write at once.
* WAL with ``synchronous=NORMAL``: a committed row survives the process being killed (it is in
  the WAL file); only an OS crash or power cut may lose the last few commits.
* pandas is imported inside the methods that need it: ``import qolaba_nb`` must stay light.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from qolaba_nb._exceptions import BudgetExceededError
from qolaba_nb._record import SESSION_ID, CallRecord

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "MIGRATIONS",
    "UsageLedger",
    "default_ledger",
    "default_ledger_path",
    "migrate",
]

MEMORY: Final = ":memory:"

#: Every column of the ``calls`` table, in table and DataFrame order.
COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "ts",
    "model",
    "kind",
    "status",
    "http_status",
    "error",
    "credit",
    "cost",
    "latency_s",
    "ttft_s",
    "prompt_chars",
    "completion_chars",
    "finish_reason",
    "request_id",
    "retries",
    "params",
    "session",
    "tag",
    "run_id",
    "prompt_text",
    "completion_text",
)
_INSERT_COLUMNS: Final = COLUMNS[1:]  # id is assigned by SQLite
_INSERT_SQL: Final = (
    f"INSERT INTO calls ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
)

# DataFrame dtypes by column group (see UsageLedger.to_dataframe).
_FLOAT_COLUMNS: Final = ("credit", "cost", "latency_s", "ttft_s")
_INT_COLUMNS: Final = ("http_status", "prompt_chars", "completion_chars", "retries")
_CATEGORY_COLUMNS: Final = ("model", "status")
_STR_COLUMNS: Final = (
    "kind",
    "error",
    "finish_reason",
    "request_id",
    "session",
    "tag",
    "run_id",
    "prompt_text",
    "completion_text",
)

SummaryKey = Literal["model", "tag", "session", "status", "kind", "run_id"]
_SUMMARY_KEYS: Final[frozenset[str]] = frozenset(
    {"model", "tag", "session", "status", "kind", "run_id"}
)
_SUMMARY_COLUMNS: Final = (
    "calls",
    "errors",
    "credit",
    "cost",
    "latency_mean",
    "latency_p50",
    "latency_p95",
    "ttft_mean",
    "ttft_p50",
    "ttft_p95",
)

#: How long a writer waits for another connection's lock before giving up (milliseconds).
BUSY_TIMEOUT_MS: Final = 30_000


# --------------------------------------------------------------------------------------------
# Where the ledger lives
# --------------------------------------------------------------------------------------------


def _data_dir(platform: str, environ: Mapping[str, str], home: Path) -> Path:
    """The per-user data directory for ``qolaba_nb`` (what platformdirs would say, roughly)."""
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "qolaba_nb"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "qolaba_nb"
    # XDG: an empty or relative XDG_DATA_HOME must be ignored, says the spec.
    xdg = environ.get("XDG_DATA_HOME", "")
    base_dir = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base_dir / "qolaba_nb"


def default_ledger_path() -> str:
    """The ledger file used when no path is given.

    ``$QOLABA_NB_LEDGER`` when set (``~`` is expanded; ``":memory:"`` is allowed), else
    ``usage.sqlite`` in the per-user data directory: ``$XDG_DATA_HOME/qolaba_nb`` (default
    ``~/.local/share/qolaba_nb``) on Linux, ``~/Library/Application Support/qolaba_nb`` on macOS,
    ``%LOCALAPPDATA%\\qolaba_nb`` on Windows.
    """
    env = os.environ.get("QOLABA_NB_LEDGER", "")
    if env:
        return env if env == MEMORY else str(Path(env).expanduser().absolute())
    return str(_data_dir(sys.platform, os.environ, Path.home()) / "usage.sqlite")


# --------------------------------------------------------------------------------------------
# Schema migrations
# --------------------------------------------------------------------------------------------


def m001_initial(conn: sqlite3.Connection) -> None:
    """The ``calls`` table and its indexes."""
    # No CHECK constraints on kind/status: SQLite cannot alter a CHECK without rebuilding the
    # table, and a newer client with a new status value must still be able to record its calls.
    conn.execute(
        """
        CREATE TABLE calls (
            id               INTEGER PRIMARY KEY,
            ts               TEXT    NOT NULL,  -- UTC ISO-8601, microseconds: sorts as text
            model            TEXT    NOT NULL,
            kind             TEXT    NOT NULL,  -- chat | stream
            status           TEXT    NOT NULL,  -- ok | api_error | connection_error | ...
            http_status      INTEGER,
            error            TEXT,
            credit           REAL,              -- NULL when unknown, never 0 for unknown
            cost             REAL,              -- USD; NULL when unknown
            latency_s        REAL,
            ttft_s           REAL,
            prompt_chars     INTEGER,
            completion_chars INTEGER,
            finish_reason    TEXT,
            request_id       TEXT,
            retries          INTEGER NOT NULL DEFAULT 0,
            params           TEXT    NOT NULL DEFAULT '{}',  -- JSON
            session          TEXT    NOT NULL,
            tag              TEXT,
            run_id           TEXT,
            prompt_text      TEXT,              -- only with store_text=True
            completion_text  TEXT
        )
        """
    )
    # Every index is one more B-tree written per insert (five of them doubled the cost of a
    # bulk insert and quadrupled a single committed one), so only the selective ones:
    # ts for since=, (session, tag) for the budget query that runs before every call, run_id
    # for one comparison run. model/tag filters keep most rows anyway; a scan is as fast.
    conn.execute("CREATE INDEX ix_calls_ts ON calls (ts)")
    conn.execute("CREATE INDEX ix_calls_session_tag ON calls (session, tag)")
    conn.execute("CREATE INDEX ix_calls_run_id ON calls (run_id)")


#: Ordered, append-only. Never edit a released migration: add ``m002_...`` instead.
MIGRATIONS: Final[tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...]] = (
    ("m001_initial", m001_initial),
)


def _applied_migrations(conn: sqlite3.Connection) -> set[str]:
    try:
        return {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return set()  # a new, empty database
        raise


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations ``conn``'s database lacks; return their names (empty: up to date).

    Safe to run from several processes at once: the check and the changes happen in one
    ``BEGIN IMMEDIATE`` transaction, so the second process waits and then finds nothing to do.
    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    # Fast path, a plain read: an up-to-date database (the usual case) takes no write lock, so
    # opening a ledger never waits behind another process's writes.
    if {name for name, _ in MIGRATIONS} <= _applied_migrations(conn):
        return []
    applied_now: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL)"
        )
        done = _applied_migrations(conn)  # again, under the lock: another process may have won
        for name, apply in MIGRATIONS:
            if name in done:
                continue
            apply(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            applied_now.append(name)
        # Names in `done` we do not know come from a newer qolaba_nb. Migrations only add, so
        # this version can still read and write the columns it knows.
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied_now


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    # numpy scalars and the like have .item(); anything else is kept readable as text.
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    return str(obj)


# One encoder for every row: json.dumps() with options builds a new encoder on every call.
# sort_keys: equal parameters give equal text, so they group and compare as text.
_PARAMS_ENCODER: Final = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, default=_json_default
)


def _utc_iso(ts: datetime) -> str:
    """Fixed-width UTC ISO text so that text order is time order (naive means UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    elif ts.utcoffset():
        ts = ts.astimezone(UTC)
    return ts.isoformat(timespec="microseconds")


def _fmt_credits(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class _Budget:
    credits: float
    session: str | None  # None: every session in the ledger
    tag: str | None  # None: every tag


FilterValue = str | Sequence[str] | None


class UsageLedger:
    """Every call's cost and timing in a local SQLite file, with budgets.

    Parameters
    ----------
    path
        The SQLite file (parent directories are created), ``":memory:"``, or None for
        :func:`default_ledger_path` (``$QOLABA_NB_LEDGER`` or the per-user data directory).
    store_text
        Keep each call's prompt and completion text. Off by default: the ledger is for money
        and timing, and prompts may be private.

    Examples
    --------
    >>> ledger = UsageLedger(":memory:")
    >>> from qolaba_nb._record import CallRecord
    >>> ledger.record(CallRecord(model="gpt-4o-mini", kind="chat", status="ok", credit=0.5))
    >>> ledger.spent()
    (0.5, 0.0)
    >>> ledger.close()
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, store_text: bool = False):
        if path is None:
            path = default_ledger_path()
        raw = os.fspath(path)
        self.path: str = raw if raw == MEMORY else str(Path(raw).expanduser().absolute())
        self.store_text = store_text
        self._budgets: dict[tuple[str | None, str | None], _Budget] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._inherited: sqlite3.Connection | None = None  # see _connection()
        self._conn: sqlite3.Connection = self._open()
        migrate(self._conn)

    # ---- connection ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; a lone INSERT is its own committed transaction and
        # bulk writes use an explicit BEGIN IMMEDIATE (which waits on busy_timeout instead of
        # failing when a read transaction would have to be upgraded to a write).
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,  # shared by this object's threads, behind self._lock
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.path != MEMORY:
            _set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        """The connection; call with ``self._lock`` held."""
        if self._closed:
            raise ValueError(f"{self!r} is closed")
        if os.getpid() != self._pid and self.path != MEMORY:
            # A forked child must not use the parent's SQLite connection (the docs are
            # explicit). Open our own and abandon, never close, the inherited one: closing it
            # could checkpoint or delete the WAL file under the parent's feet.
            self._inherited = self._conn
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def _after_fork_lock(self) -> None:
        # The parent may have held the lock in another thread at fork time; that thread does
        # not exist in the child, so the child needs a fresh lock.
        if os.getpid() != self._pid:
            self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database connection. Further use raises ``ValueError``."""
        self._after_fork_lock()
        with self._lock:
            if not self._closed:
                self._closed = True
                if os.getpid() == self._pid:
                    self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"UsageLedger({self.path!r}, closed)"
        try:
            n = self._count()
        except sqlite3.Error:  # a locked or broken database must not break repr()
            return f"UsageLedger({self.path!r})"
        return f"UsageLedger({self.path!r}, {n} call{'s' if n != 1 else ''})"

    def __len__(self) -> int:
        return self._count()

    def _count(self) -> int:
        self._after_fork_lock()
        with self._lock:
            row = self._connection().execute("SELECT COUNT(*) FROM calls").fetchone()
        return int(row[0])

    # ---- writing ---------------------------------------------------------------------------

    def _row(self, rec: CallRecord) -> tuple[Any, ...]:
        params = rec.params
        return (
            _utc_iso(rec.ts),
            rec.model,
            rec.kind,
            rec.status,
            rec.http_status,
            rec.error,
            rec.credit,
            rec.cost,
            rec.latency_s,
            rec.ttft_s,
            rec.prompt_chars,
            rec.completion_chars,
            rec.finish_reason,
            rec.request_id,
            rec.retries,
            _PARAMS_ENCODER.encode(params) if params else "{}",
            rec.session,
            rec.tag,
            rec.run_id,
            rec.prompt_text if self.store_text else None,
            rec.completion_text if self.store_text else None,
        )

    def record(self, rec: CallRecord) -> None:
        """Write one call, committed before this returns."""
        row = self._row(rec)
        self._after_fork_lock()
        with self._lock:
            self._connection().execute(_INSERT_SQL, row)

    def record_many(self, recs: Iterable[CallRecord]) -> int:
        """Write many calls in one transaction (all or none); return how many."""
        rows = [self._row(r) for r in recs]
        if not rows:
            return 0
        self._after_fork_lock()
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT_SQL, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return len(rows)

    # ---- reading ---------------------------------------------------------------------------

    def _where(
        self,
        since: datetime | timedelta | str | pd.Timedelta | None,
        model: FilterValue,
        tag: FilterValue,
        session: FilterValue,
        run_id: FilterValue,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if since is not None:
            clauses.append("ts >= ?")
            args.append(_utc_iso(_since_to_datetime(since)))
        for column, value in (
            ("model", model),
            ("tag", tag),
            ("session", session),
            ("run_id", run_id),
        ):
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            if column == "session":
                values = [SESSION_ID if v == "current" else v for v in values]
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            args.extend(values)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def to_dataframe(
        self,
        since: datetime | timedelta | str | pd.Timedelta | None = None,
        model: FilterValue = None,
        tag: FilterValue = None,
        session: FilterValue = None,
        run_id: FilterValue = None,
    ) -> pd.DataFrame:
        """The recorded calls as a DataFrame, oldest first.

        Parameters
        ----------
        since
            Only calls that started at or after this moment: a ``datetime`` (naive means UTC),
            an ISO string (``"2025-01-31"``, ``"2025-01-31T09:00:00+01:00"``), or a duration
            back from now (``timedelta``, ``pd.Timedelta``, ``"1h"``, ``"30min"``, ``"7d"``).
        model, tag, session, run_id
            Keep only these values (a string or a list of strings). ``session="current"`` is
            this process's session.

        Returns
        -------
        pandas.DataFrame
            One row per call with the :data:`COLUMNS`. ``ts`` is ``datetime64[ns, UTC]``;
            ``credit``, ``cost``, ``latency_s``, ``ttft_s`` are floats (NaN: unknown);
            ``http_status``, ``prompt_chars``, ``completion_chars``, ``retries`` are ``Int64``;
            ``model`` and ``status`` are categorical; ``params`` holds dicts. An empty ledger
            gives an empty frame with the same columns and dtypes.

        Examples
        --------
        >>> df = ledger.to_dataframe(since="1h", model="gpt-4o-mini")  # doctest: +SKIP
        """
        where, args = self._where(since, model, tag, session, run_id)
        sql = f"SELECT {', '.join(COLUMNS)} FROM calls{where} ORDER BY id"
        self._after_fork_lock()
        with self._lock:
            rows = self._connection().execute(sql, args).fetchall()
        return _frame(rows)

    def summary(
        self,
        by: SummaryKey | Sequence[SummaryKey] = "model",
        *,
        since: datetime | timedelta | str | pd.Timedelta | None = None,
        model: FilterValue = None,
        tag: FilterValue = None,
        session: FilterValue = None,
        run_id: FilterValue = None,
    ) -> pd.DataFrame:
        """Calls, errors, spending and latency percentiles per group.

        Parameters
        ----------
        by
            ``"model"``, ``"tag"``, ``"session"``, ``"status"``, ``"kind"``, ``"run_id"`` or a
            list of them. Calls without a tag (or run id) form their own NaN group.
        since, model, tag, session, run_id
            The filters of :meth:`to_dataframe`.

        Returns
        -------
        pandas.DataFrame
            Indexed by the group, with ``calls``, ``errors`` (status other than ``ok``),
            ``credit`` and ``cost`` (sums of the known values, NaN when none is known),
            ``latency_mean``, ``latency_p50``, ``latency_p95``, ``ttft_mean``, ``ttft_p50``,
            ``ttft_p95`` (seconds; percentiles interpolate linearly, as numpy's do).

        Examples
        --------
        >>> ledger.summary(by=["model", "status"], since="1d")  # doctest: +SKIP
        """
        keys: list[str] = [by] if isinstance(by, str) else list(by)
        bad = [k for k in keys if k not in _SUMMARY_KEYS]
        if not keys or bad:
            raise ValueError(
                f"summary(by=...) takes one or more of {sorted(_SUMMARY_KEYS)}, not {bad or by!r}"
            )
        df = self.to_dataframe(since=since, model=model, tag=tag, session=session, run_id=run_id)
        return _summarise(df, keys)

    def to_csv(self, path: str | os.PathLike[str], **filters: Any) -> None:
        """Write :meth:`to_dataframe` (with the same filters) to a CSV file.

        ``params`` is written as JSON text, ``ts`` as ISO-8601 UTC.

        Examples
        --------
        >>> ledger.to_csv("usage.csv", since="7d")  # doctest: +SKIP
        """
        _export_frame(self.to_dataframe(**filters)).to_csv(path, index=False)

    def to_parquet(self, path: str | os.PathLike[str], **filters: Any) -> None:
        """Write :meth:`to_dataframe` (with the same filters) to a Parquet file (needs pyarrow).

        ``params`` is written as JSON text: dicts with different keys have no common Parquet
        type.

        Examples
        --------
        >>> ledger.to_parquet("usage.parquet", model="gpt-4o-mini")  # doctest: +SKIP
        """
        try:
            import pyarrow  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "UsageLedger.to_parquet needs pyarrow: pip install pyarrow "
                "(or pip install 'qolaba_nb[notebook]'). to_csv works without it."
            ) from e
        _export_frame(self.to_dataframe(**filters)).to_parquet(path, index=False, engine="pyarrow")

    # ---- budgets ---------------------------------------------------------------------------

    @staticmethod
    def _session_key(session: str | None) -> str | None:
        if session is None or session == "current":
            return SESSION_ID
        if session == "all":
            return None
        return session

    def set_budget(
        self, credits: float | None, *, session: str | None = None, tag: str | None = None
    ) -> None:
        """Refuse calls once ``credits`` are spent (``None`` removes the budget).

        Parameters
        ----------
        credits
            The limit in credits. Calls are refused once the spending reaches it.
        session
            Whose spending counts: ``None`` or ``"current"`` (this process), a session id, or
            ``"all"`` (every session recorded in this ledger).
        tag
            Count only calls with this tag, and guard only calls made with this tag. Without a
            tag the budget covers every call.

        Budgets live in this ``UsageLedger`` object, not in the database; the spending they
        are checked against is read from the database, so it includes other clients' calls.

        Examples
        --------
        >>> ledger.set_budget(5)  # doctest: +SKIP
        >>> ledger.set_budget(1, tag="demo")  # at most 1 of them on "demo" calls  # doctest: +SKIP
        """
        key = (self._session_key(session), tag)
        if credits is None:
            self._budgets.pop(key, None)
            return
        if math.isnan(credits) or credits < 0:
            raise ValueError(f"a budget must be a number of credits >= 0, not {credits!r}")
        self._budgets[key] = _Budget(float(credits), key[0], tag)

    @property
    def budgets(self) -> list[tuple[float, str | None, str | None]]:
        """The budgets set on this object as ``(credits, session, tag)``; session None: all."""
        return [(b.credits, b.session, b.tag) for b in self._budgets.values()]

    def spent(self, *, session: str | None = None, tag: str | None = None) -> tuple[float, float]:
        """``(credits, cost in USD)`` recorded so far; unknown amounts count as nothing.

        ``session`` is ``None``/``"current"`` (this process), a session id, or ``"all"``;
        ``tag`` None counts every tag.
        """
        return self._spent(self._session_key(session), tag)

    def _spent(self, session: str | None, tag: str | None) -> tuple[float, float]:
        clauses, args = [], []
        if session is not None:
            clauses.append("session = ?")
            args.append(session)
        if tag is not None:
            clauses.append("tag = ?")
            args.append(tag)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        # TOTAL() ignores NULLs and gives 0.0 for none, where SUM() would give NULL.
        sql = f"SELECT TOTAL(credit), TOTAL(cost) FROM calls{where}"
        self._after_fork_lock()
        with self._lock:
            credit, cost = self._connection().execute(sql, args).fetchone()
        return float(credit), float(cost)

    def check_budget(self, *, tag: str | None = None) -> None:
        """Raise ``BudgetExceededError`` if a budget covering a call with ``tag`` is spent.

        The client calls this before sending each request. Without budgets it does no I/O.
        """
        # Tag-specific budgets first: their message is the more useful one.
        for b in sorted(self._budgets.values(), key=lambda b: (b.tag is None, b.session is None)):
            if b.tag is not None and b.tag != tag:
                continue
            credit, _cost = self._spent(b.session, b.tag)
            if credit >= b.credits:
                if b.session is None:
                    who = "in this ledger"
                elif b.session == SESSION_ID:
                    who = "this session"
                else:
                    who = f"by session {b.session!r}"
                tag_note = f" (tag {b.tag!r})" if b.tag is not None else ""
                raise BudgetExceededError(
                    f"Budget of {_fmt_credits(b.credits)} credits spent: "
                    f"{_fmt_credits(credit)} credits used {who}{tag_note}. "
                    "The call was not sent.",
                    spent=credit,
                    budget=b.credits,
                )


def _set_wal(conn: sqlite3.Connection) -> None:
    # Switching to WAL needs a brief exclusive lock and, unlike ordinary statements, can report
    # "locked" without going through the busy handler when several processes open a new file
    # at the same moment. Retry for the same time a writer would wait.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# Time filters
# --------------------------------------------------------------------------------------------

_HAS_UNIT = re.compile(r"[A-Za-z]")


def _since_to_datetime(since: datetime | timedelta | str | pd.Timedelta) -> datetime:
    """A ``since=`` argument as an aware UTC datetime."""
    # pd.Timestamp is a datetime and pd.Timedelta a timedelta: no pandas needed for them.
    if isinstance(since, datetime):
        return since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    if isinstance(since, str):
        text = since.strip()
        try:
            return _since_to_datetime(datetime.fromisoformat(text))
        except ValueError:
            pass
        # pd.Timedelta("5") would silently mean 5 nanoseconds: demand a unit.
        if not _HAS_UNIT.search(text):
            raise ValueError(
                f"since={since!r} is neither an ISO date/time nor a duration like '1h' or '30min'"
            )
        import pandas as pd

        try:
            since = pd.Timedelta(text).to_pytimedelta()
        except ValueError as e:
            raise ValueError(
                f"since={since!r} is neither an ISO date/time nor a duration like '1h' or '30min'"
            ) from e
    if isinstance(since, timedelta):
        if since < timedelta(0):
            raise ValueError(f"since= as a duration must be positive, not {since!r}")
        return datetime.now(UTC) - since
    raise TypeError(f"since= takes a datetime, an ISO string or a duration, not {since!r}")


# --------------------------------------------------------------------------------------------
# DataFrames (pandas is imported here, never at module level)
# --------------------------------------------------------------------------------------------


def _parse_params(texts: Sequence[str | None]) -> list[dict[str, Any]]:
    # Most calls share a handful of parameter sets: parse each distinct text once, and hand
    # every row its own shallow copy so editing one row's dict cannot change another's.
    cache: dict[str | None, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for t in texts:
        d = cache.get(t)
        if d is None:
            d = json.loads(t) if t else {}
            cache[t] = d
        out.append(d.copy())
    return out


def _frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = len(rows)
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if n else [()] * len(COLUMNS)
    raw = dict(zip(COLUMNS, cols, strict=True))
    data: dict[str, Any] = {"id": np.fromiter(raw["id"], dtype=np.int64, count=n)}
    # ts is always written in one fixed ISO format, which pandas parses on its fast path.
    data["ts"] = pd.to_datetime(list(raw["ts"]), format="ISO8601", utc=True).as_unit("ns")
    for c in _CATEGORY_COLUMNS:
        data[c] = pd.Categorical(
            pd.array(list(raw[c]), dtype="str")
        )  # str categories even when empty
    for c in _FLOAT_COLUMNS:
        data[c] = np.array(raw[c], dtype=np.float64)  # None -> NaN
    for c in _INT_COLUMNS:
        data[c] = pd.array(list(raw[c]), dtype="Int64")
    for c in _STR_COLUMNS:
        data[c] = pd.array(list(raw[c]), dtype="str")
    params = np.empty(n, dtype=object)
    params[:] = _parse_params(raw["params"])
    data["params"] = params
    return pd.DataFrame({c: data[c] for c in COLUMNS})


def _summarise(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    import pandas as pd

    df = df.assign(_error=(df["status"] != "ok").astype("int64"))
    g = df.groupby(keys, observed=True, dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "calls": g.size().astype("int64"),
            "errors": g["_error"].sum().astype("int64"),
            # min_count=1: no known amount gives NaN, not a misleading 0.
            "credit": g["credit"].sum(min_count=1),
            "cost": g["cost"].sum(min_count=1),
            "latency_mean": g["latency_s"].mean(),
            "latency_p50": g["latency_s"].quantile(0.5),
            "latency_p95": g["latency_s"].quantile(0.95),
            "ttft_mean": g["ttft_s"].mean(),
            "ttft_p50": g["ttft_s"].quantile(0.5),
            "ttft_p95": g["ttft_s"].quantile(0.95),
        }
    )
    out = out.astype({c: "float64" for c in _SUMMARY_COLUMNS[2:]})
    return out[list(_SUMMARY_COLUMNS)]


def _export_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["params"] = [_PARAMS_ENCODER.encode(p) for p in df["params"]]
    return out


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
        if _default is None or _default.path != path or _default._closed:
            _default = UsageLedger(path)
        return _default
