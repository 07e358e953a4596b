"""``UsageLedger``: the object users and clients talk to; it wires the package's parts together."""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from .._config import Secret, mask_url
from .._exceptions import BudgetExceededError
from .._record import SESSION_ID, CallRecord, Hold
from .backends import BUSY_TIMEOUT_MS, Backend, open_backend, write
from .budgets import (
    DEFAULT_HOLD_LEASE_S,
    HOST,
    UPSERT_TOTALS,
    Budget,
    covering,
    exceeded,
    held_query,
    pid_alive,
    scope,
    session_key,
    totals_deltas,
)
from .comparisons import ComparisonStore
from .errors import LedgerError
from .estimates import HISTORY_CALLS, fit_line, percentile
from .frames import SUMMARY_KEYS, SummaryKey, SummaryState, export_frame, frame
from .migrations import MIGRATIONS, apply_migrations
from .paths import MEMORY, default_ledger_path, normalise_path
from .queries import (
    FilterValue,
    and_where,
    spent_query,
    summary_query,
    summary_rows_query,
    where_clause,
)
from .records import _INSERT_SQL, COLUMNS, encode_row
from .spool import Spool

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UsageLedger"]

#: How long a row waits for another connection's write lock before it is spooled (seconds).
DEFAULT_WRITE_TIMEOUT_S: Final = 0.25
#: How long a hold waits for the write lock before the call is refused (seconds).
HOLD_WAIT_S: Final = 2.0

log = logging.getLogger("qolaba_nb.ledger")

# Ledgers of this process, so that rows still spooled get one last chance at exit (they stay
# on disk for the next process anyway), and so that a forked child lets go of their
# connections at once.
_open_ledgers: weakref.WeakSet[UsageLedger] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for ledger in list(_open_ledgers):
        ledger._forked()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _flush_at_exit() -> None:
    for ledger in list(_open_ledgers):
        if not ledger._closed and ledger._pid == os.getpid() and len(ledger._spool):
            with suppress(Exception):  # never fail interpreter shutdown
                ledger._flush_spool(1.0)


# Sums of float credits drift by ~1e-16 per term: a budget of 1 must admit ten holds of 0.1.
_EPSILON = 1e-9


class UsageLedger(ComparisonStore):
    """Every call's credit, cost and timing in a SQLite file (or PostgreSQL), with budgets.

    Clients record each call here when it ends (``Client(ledger=...)``; by default the
    per-user ledger). It answers what was spent, by model, tag, session or run
    (``summary()``, ``to_dataframe()``), and it enforces budgets that hold across clients,
    threads and processes sharing the file (``set_budget``).

    Parameters
    ----------
    path : str, path or None, default None
        The SQLite file (parent directories are created), ``":memory:"``, a
        ``postgresql://`` URL for a ledger shared by a team, or None for
        ``default_ledger_path()`` (``$QOLABA_NB_LEDGER`` or the per-user data directory).
    store_text : bool or None, default None
        Whether the ledger keeps text. None: calls keep none (the ledger is for money and
        timing, and prompts may be private), but a comparison's finished cells keep their
        prompt and reply, which is what ``compare(..., resume=run_id)`` gives back instead of
        paying for them again. False: no text at all; a cell keeps a fingerprint of its
        prompt and no reply, so a resumed run sends its finished cells again. True: every
        call's prompt and completion text too.
    hold_lease_s : float, default 900
        Seconds a ``hold`` lasts if its process neither records nor releases it (15
        minutes: longer than any call). Holds of a process that died on this host are
        dropped at once, whatever the lease.
    write_timeout_s : float, default 0.25
        Seconds a row waits for another connection's write lock before it is spooled to a
        file next to the ledger (and written later); a reply is never lost to a busy ledger.

    Raises
    ------
    LedgerError
        The ledger cannot be opened or prepared (an unwritable file, a foreign database).
    ValueError
        A lease or a timeout that is not a positive number of seconds.

    Examples
    --------
    >>> ledger = UsageLedger(":memory:")
    >>> from qolaba_nb._record import CallRecord
    >>> ledger.record(CallRecord(model="gpt-4o-mini", kind="chat", status="ok", credit=0.5))
    >>> ledger.spent()
    (0.5, 0.0)
    >>> ledger.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        store_text: bool | None = None,
        hold_lease_s: float = DEFAULT_HOLD_LEASE_S,
        write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    ):
        if not (isinstance(hold_lease_s, int | float) and hold_lease_s > 0):
            raise ValueError(f"hold_lease_s must be a number of seconds > 0, not {hold_lease_s!r}")
        if not (isinstance(write_timeout_s, int | float) and write_timeout_s >= 0):
            raise ValueError(
                f"write_timeout_s must be a number of seconds >= 0, not {write_timeout_s!r}"
            )
        if path is None:
            path = default_ledger_path()
        # A URL may hold a password: it is kept in a Secret, and not in this frame's locals if
        # connect() fails (a traceback with locals would show them).
        self._target = Secret(normalise_path(path))
        del path
        #: Where the ledger is stored, as it may be shown: a file path, or the URL of a
        #: database with its credentials masked.
        self.path: str = mask_url(self._target.get())
        self.store_text = store_text
        self.hold_lease_s = float(hold_lease_s)
        self.write_timeout_s = float(write_timeout_s)
        self._backend: Backend = open_backend(self._target)
        self._shown = self._backend.target  # what messages show: never a password
        self._dialect = self._backend.dialect
        self._budgets: dict[tuple[str | None, str | None], Budget] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._inherited: Any = None  # see _connection()
        self._conn: Any = self._backend.connect()
        try:
            apply_migrations(
                self._conn,
                MIGRATIONS,
                dialect=self._dialect,
                is_missing_table=self._backend.is_missing_table,
            )
        except self._backend.error as e:
            self._conn.close()
            raise LedgerError(
                f"cannot prepare the usage ledger {self._shown}: {e}. Fix: make the file "
                "writable, or point the ledger elsewhere (UsageLedger(path), QOLABA_NB_LEDGER).",
                path=self._shown,
            ) from e
        self._backend.set_wait(self._conn, self.write_timeout_s)
        self._new_spool()
        _open_ledgers.add(self)
        if self._spool.adopt_orphans():
            self._start_flusher()

    # ---- the spool: rows that could not be written yet ----------------------------------------

    def _new_spool(self) -> None:
        self._spool = Spool(self._backend.spool_dir())
        self._flusher: threading.Thread | None = None
        self._flusher_stop = threading.Event()

    @property
    def spooled(self) -> int:
        """How many calls wait in the spool to be written (see :mod:`qolaba_nb.ledger.spool`)."""
        return len(self._spool)

    def _flush_spool(self, wait_s: float) -> bool:
        """Write what the spool holds, waiting at most ``wait_s`` for the lock; True if empty."""
        items = self._spool.pending()
        if not items:
            return True
        try:
            self._write(
                [row for row, _ in items],
                [h for _, holds in items for h in holds],
                wait_s=wait_s,
            )
        except self._backend.error as e:
            if not self._backend.is_busy(e):
                log.warning("the ledger spool could not be written to %s: %s", self._shown, e)
            return False
        self._spool.written(len(items))
        return not len(self._spool)

    def _start_flusher(self) -> None:
        if self._flusher is not None and self._flusher.is_alive():
            return
        self._flusher_stop.clear()
        self._flusher = threading.Thread(
            target=self._flush_loop, name="qolaba-ledger-spool", daemon=True
        )
        self._flusher.start()

    def _flush_loop(self) -> None:
        delay = 0.05
        while not self._flusher_stop.is_set() and not self._closed:
            if self._flush_spool(self.write_timeout_s):
                return
            self._flusher_stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def flush(self, *, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> bool:
        """Write the spooled calls now, waiting at most ``timeout_s`` for the write lock.

        Parameters
        ----------
        timeout_s
            The longest wait for another connection's lock, in seconds.

        Returns
        -------
        bool
            True when nothing is left in the spool (what is left stays on disk for later).
        """
        return self._flush_spool(timeout_s)

    # ---- connection ------------------------------------------------------------------------

    def _forked(self) -> None:
        """In a forked child, right after the fork (``os.register_at_fork``): the parent's
        connection is the parent's.

        The child must not use it (SQLite's docs are explicit; a PostgreSQL session is one
        socket, whose messages would interleave with the parent's). It is handed to the
        backend's ``abandon`` at once, which lets it go without disturbing the parent (for
        PostgreSQL, the child's copy of the socket is closed, so that the session ends when
        the parent ends, not when the last child does); the child opens its own connection
        when it first uses the ledger. An in-memory ledger is the child's own copy: kept.
        """
        self._lock = threading.Lock()  # a parent thread may have held it at fork time
        self._pid = os.getpid()
        self._new_spool()  # the parent's pending rows are the parent's to write
        if self._closed or self.path == MEMORY:
            return
        self._inherited = self._conn
        self._conn = None
        self._backend.abandon(self._inherited)

    def _connection(self) -> Any:
        """The connection; call with ``self._lock`` held."""
        if self._closed:
            raise ValueError(f"{self!r} is closed")
        if self._conn is None:  # the first use in a forked child (see _forked)
            self._conn = self._backend.connect()
            self._backend.set_wait(self._conn, self.write_timeout_s)
        elif self._backend.is_broken(self._conn):
            # A server connection lost (restart, network cut, idle timeout): the call that
            # saw it failed; the next one gets a new connection. SQLite never breaks.
            self._conn = self._backend.connect()
            self._backend.set_wait(self._conn, self.write_timeout_s)
        return self._conn

    def _after_fork_lock(self) -> None:
        # The parent may have held the lock in another thread at fork time; that thread does
        # not exist in the child, so the child needs a fresh lock. _forked() gives it one at
        # the fork; this covers a child made without os.fork's hooks.
        if os.getpid() != self._pid:
            self._forked()

    def close(self) -> None:
        """Write what is spooled (waiting a bounded time), then close the connection.

        Further use raises ``ValueError``. Rows still spooled stay on disk and are written by
        the next process that opens this ledger.
        """
        self._after_fork_lock()
        if not self._closed and os.getpid() == self._pid and len(self._spool):
            self._flusher_stop.set()
            self._flush_spool(max(self.write_timeout_s, 2.0))
        self._spool.abandon()
        with self._lock:
            if not self._closed:
                self._closed = True
                if os.getpid() == self._pid and self._conn is not None:
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
        if "_conn" not in self.__dict__:  # still opening (a traceback's locals show it)
            return f"UsageLedger({getattr(self, '_shown', '?')!r}, not open)"
        if self._closed:
            return f"UsageLedger({self._shown!r}, closed)"
        try:
            n = self._count()
        except self._backend.error:  # a locked or broken database must not break repr()
            return f"UsageLedger({self._shown!r})"
        return f"UsageLedger({self._shown!r}, {n} call{'s' if n != 1 else ''})"

    def __len__(self) -> int:
        return self._count()

    def _count(self) -> int:
        self._after_fork_lock()
        with self._lock:
            row = self._connection().execute("SELECT COUNT(*) FROM calls").fetchone()
        return int(row[0])

    # ---- writing ---------------------------------------------------------------------------

    def _row(self, rec: CallRecord) -> tuple[Any, ...]:
        return encode_row(rec, store_text=bool(self.store_text))

    def _write(
        self,
        rows: Sequence[tuple[Any, ...]],
        hold_ids: Sequence[int | str],
        *,
        wait_s: float | None = None,
    ) -> None:
        """Insert ``rows``, add them to the running totals, drop ``hold_ids``: one transaction.

        ``wait_s``: the longest wait for another connection's write lock (None: the
        connection's own, :attr:`write_timeout_s`).
        """
        d = self._dialect
        deltas = totals_deltas(rows)
        self._after_fork_lock()
        with self._lock, self._waiting(wait_s):
            conn = self._conn
            with write(conn, d):
                if len(rows) == 1:
                    conn.execute(d.sql(_INSERT_SQL), rows[0])
                else:
                    conn.cursor().executemany(d.sql(_INSERT_SQL), rows)
                if deltas:
                    conn.cursor().executemany(d.sql(UPSERT_TOTALS), deltas)
                for hold_id in hold_ids:
                    conn.execute(d.sql("DELETE FROM holds WHERE id = ?"), (hold_id,))

    @contextmanager
    def _waiting(self, wait_s: float | None) -> Iterator[None]:
        """Use the connection with another lock wait for a while; call with the lock held."""
        conn = self._connection()
        if wait_s is None or wait_s == self.write_timeout_s:
            yield
            return
        self._backend.set_wait(conn, wait_s)
        try:
            yield
        finally:
            self._backend.set_wait(conn, self.write_timeout_s)

    def record(self, rec: CallRecord, *, hold: Hold | None = None) -> None:
        """Write one call: committed before this returns, or spooled and written soon after.

        The write waits at most :attr:`write_timeout_s` for another connection's lock. A row
        that could not be written in that time is kept in the spool (on disk, see
        :mod:`qolaba_nb.ledger.spool`) and written by a background thread once the lock is
        free; while rows wait there, later rows join them without waiting, in order. Nothing
        is lost, and no call stalls behind a lock.

        Parameters
        ----------
        rec
            The call. A replayed call (``rec.replayed``) is stored but counts toward no budget.
        hold
            The hold :meth:`hold` gave for this call, if any: it is dropped in the same
            transaction that books the call's credit, so the credits never count twice and
            never go uncounted (a spooled row keeps its hold until it is written).
        """
        item = (self._row(rec), [hold.id] if hold is not None else [])
        self._after_fork_lock()
        if not len(self._spool):
            try:
                self._write([item[0]], item[1])
                return
            except self._backend.error as e:
                if not self._backend.is_busy(e):
                    raise
                log.warning(
                    "the ledger %s is locked by another connection: the call is spooled and "
                    "will be written when the lock is free",
                    self._shown,
                )
        self._spool.add([item])
        self._start_flusher()

    def record_many(self, recs: Iterable[CallRecord]) -> int:
        """Write many calls in one transaction (all or none); return how many.

        Like :meth:`record`, a write that cannot get the lock in time is spooled (all rows).

        Parameters
        ----------
        recs
            The calls, in order.
        """
        rows = [self._row(r) for r in recs]
        if not rows:
            return 0
        self._after_fork_lock()
        if not len(self._spool):
            try:
                self._write(rows, [])
                return len(rows)
            except self._backend.error as e:
                if not self._backend.is_busy(e):
                    raise
        self._spool.add([(row, []) for row in rows])  # all of them, written later in order
        self._start_flusher()
        return len(rows)

    # ---- reading ---------------------------------------------------------------------------

    def to_dataframe(
        self,
        since: datetime | timedelta | str | pd.Timedelta | None = None,
        model: FilterValue = None,
        tag: FilterValue = None,
        session: FilterValue = None,
        run_id: FilterValue = None,
        *,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        after_id: int | None = None,
        include_replayed: bool = False,
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
        limit
            Only the ``limit`` most recent matching calls (still oldest first); None: all.
        columns
            Only these of :data:`COLUMNS`, in this order; None: all of them. Fewer columns
            read faster and take less memory on a big ledger.
        after_id
            Only calls recorded after the call with this ``id`` (to read what is new).
        include_replayed
            Also return calls served by ``Client(replay=...)`` (``replayed`` is True for
            them). Off by default: they spent nothing, so plots and estimates skip them.

        Returns
        -------
        pandas.DataFrame
            One row per call with the :data:`COLUMNS`. ``ts`` is ``datetime64[ns, UTC]``;
            ``credit``, ``cost``, ``latency_s``, ``ttft_s`` are floats (NaN: unknown);
            ``http_status``, ``prompt_chars``, ``completion_chars``, ``retries`` are ``Int64``;
            ``model`` and ``status`` are categorical; ``params`` holds dicts;
            ``credit_source`` is ``"reported"``, ``"estimated"`` or missing; ``replayed`` is
            bool. An empty ledger gives an empty frame with the same columns and dtypes.

        Examples
        --------
        >>> df = ledger.to_dataframe(since="1h", model="gpt-4o-mini")  # doctest: +SKIP
        >>> last = ledger.to_dataframe(limit=1000, columns=["ts", "credit"])  # doctest: +SKIP
        """
        cols = list(COLUMNS) if columns is None else list(columns)
        unknown = [c for c in cols if c not in COLUMNS]
        if unknown or not cols:
            raise ValueError(f"to_dataframe(columns=...) takes names from COLUMNS, not {unknown}")
        if limit is not None and not (isinstance(limit, int) and limit >= 0):
            raise ValueError(f"limit must be an integer >= 0 or None, not {limit!r}")
        where, args = where_clause(
            since, model, tag, session, run_id, include_replayed=include_replayed, after_id=after_id
        )
        if limit is None:
            sql = f"SELECT {', '.join(cols)} FROM calls{where} ORDER BY id"
        else:
            sql = (
                f"SELECT {', '.join(cols)} FROM (SELECT * FROM calls{where}"
                f" ORDER BY id DESC LIMIT {int(limit)}) AS recent ORDER BY id"
            )
        self._after_fork_lock()
        with self._lock:
            rows = self._connection().execute(self._dialect.sql(sql), args).fetchall()
        return frame(rows, cols)

    def distinct_values(self, column: str) -> list[str]:
        """The distinct non-null values of ``column`` (``"model"``, ``"session"`` or ``"tag"``).

        Parameters
        ----------
        column
            Which column: the filters a dashboard offers.
        """
        if column not in ("model", "session", "tag"):
            raise ValueError(f"distinct_values takes 'model', 'session' or 'tag', not {column!r}")
        return sorted(
            str(r[0])
            for r in self._read_all(f"SELECT DISTINCT {column} FROM calls WHERE replayed = 0")
            if r[0] is not None
        )

    def last_id(self) -> int:
        """The ``id`` of the most recent call (0 for an empty ledger): cheap change detection."""
        row = self._read_one("SELECT MAX(id) FROM calls")
        return 0 if row is None or row[0] is None else int(row[0])

    def summary(
        self,
        by: SummaryKey | Sequence[SummaryKey] = "model",
        *,
        since: datetime | timedelta | str | pd.Timedelta | None = None,
        model: FilterValue = None,
        tag: FilterValue = None,
        session: FilterValue = None,
        run_id: FilterValue = None,
        include_replayed: bool = False,
    ) -> pd.DataFrame:
        """Calls, errors, spending and latency percentiles per group, computed in the database.

        Sums and means are one ``GROUP BY``; the percentiles read just the two timing columns
        of the matching calls, so memory grows with the result, not with the ledger.

        Parameters
        ----------
        by
            ``"model"``, ``"tag"``, ``"session"``, ``"status"``, ``"kind"``, ``"run_id"`` or a
            list of them. Calls without a tag (or run id) form their own NaN group.
        since, model, tag, session, run_id
            The filters of :meth:`to_dataframe`.
        include_replayed
            Also count calls served by ``Client(replay=...)``.

        Returns
        -------
        pandas.DataFrame
            Indexed by the group, with ``calls``, ``errors`` (status other than ``ok`` and
            ``cancelled``), ``stopped`` (``cancelled``: a Stop is not an error),
            ``credit`` (reported and estimated), ``credit_reported``, ``credit_estimated`` and
            ``cost`` (sums of the known values, NaN when none is known), ``latency_mean``,
            ``latency_p50``, ``latency_p95``, ``ttft_mean``, ``ttft_p50``, ``ttft_p95``
            (seconds; percentiles interpolate linearly, as numpy's do).

        Examples
        --------
        >>> ledger.summary(by=["model", "status"], since="1d")  # doctest: +SKIP
        """
        keys: list[str] = [by] if isinstance(by, str) else list(by)
        bad = [k for k in keys if k not in SUMMARY_KEYS]
        if not keys or bad:
            raise ValueError(
                f"summary(by=...) takes one or more of {sorted(SUMMARY_KEYS)}, not {bad or by!r}"
            )
        state, _ = self._summary_state(
            keys,
            where_clause(since, model, tag, session, run_id, include_replayed=include_replayed),
        )
        return state.frame()

    def _summary_state(
        self, keys: list[str], filtered: tuple[str, list[Any]], after_id: int = 0
    ) -> tuple[SummaryState, int]:
        """A :class:`SummaryState` of the calls after ``after_id`` matching ``filtered``, and
        the last id it covers (rows recorded meanwhile are left for the next update)."""
        where, args = filtered
        d = self._dialect
        state = SummaryState(keys)
        self._after_fork_lock()
        with self._lock:
            conn = self._connection()
            (last,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()
            where = and_where(where, "id > ? AND id <= ?")
            sql = summary_query(keys, where, d)
            state.add_sums(conn.execute(d.sql(sql), [*args, after_id, last]).fetchall())
        return state, int(last)

    def live_summary(
        self,
        by: SummaryKey | Sequence[SummaryKey] = "model",
        *,
        model: FilterValue = None,
        tag: FilterValue = None,
        session: FilterValue = None,
    ) -> LiveSummary:
        """A summary that keeps itself up to date by reading only the calls recorded since.

        Parameters
        ----------
        by
            The grouping, as in :meth:`summary`.
        model, tag, session
            The filters, as in :meth:`summary`. Replayed calls are left out.

        Returns
        -------
        LiveSummary
            Call ``.update()`` to take in new calls and ``.frame()`` for the table.
        """
        keys: list[str] = [by] if isinstance(by, str) else list(by)
        bad = [k for k in keys if k not in SUMMARY_KEYS]
        if not keys or bad:
            raise ValueError(
                f"summary(by=...) takes one or more of {sorted(SUMMARY_KEYS)}, not {bad or by!r}"
            )
        return LiveSummary(self, keys, model=model, tag=tag, session=session)

    def to_csv(self, path: str | os.PathLike[str], **filters: Any) -> None:
        """Write :meth:`to_dataframe` (with the same filters) to a CSV file.

        ``params`` is written as JSON text, ``ts`` as ISO-8601 UTC.

        Examples
        --------
        >>> ledger.to_csv("usage.csv", since="7d")  # doctest: +SKIP
        """
        export_frame(self.to_dataframe(**filters)).to_csv(path, index=False)

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
        export_frame(self.to_dataframe(**filters)).to_parquet(path, index=False, engine="pyarrow")

    # ---- budgets ---------------------------------------------------------------------------

    def set_budget(
        self, credits: float | None, *, session: str | None = None, tag: str | None = None
    ) -> None:
        """Refuse calls once ``credits`` are spent (``None`` removes the budget).

        Budgets live in this ``UsageLedger`` object, not in the database; the spending they
        are checked against is read from the database, so it includes other clients' calls.

        Parameters
        ----------
        credits : float or None
            The limit in credits. Calls are refused once the spending reaches it.
        session : str or None, default None
            Whose spending counts: ``None`` or ``"current"`` (this process), a session id, or
            ``"all"`` (every session recorded in this ledger).
        tag : str or None, default None
            Count only calls with this tag, and guard only calls made with this tag. Without a
            tag the budget covers every call.

        Raises
        ------
        ValueError
            ``credits`` is negative or NaN.

        Examples
        --------
        >>> ledger.set_budget(5)  # doctest: +SKIP
        >>> ledger.set_budget(1, tag="demo")  # at most 1 of them on "demo" calls  # doctest: +SKIP
        """
        key = (session_key(session), tag)
        if credits is None:
            self._budgets.pop(key, None)
            return
        if math.isnan(credits) or credits < 0:
            raise ValueError(f"a budget must be a number of credits >= 0, not {credits!r}")
        self._budgets[key] = Budget(float(credits), key[0], tag)

    @property
    def budgets(self) -> list[tuple[float, str | None, str | None]]:
        """The budgets set on this object as ``(credits, session, tag)``; session None: all."""
        return [(b.credits, b.session, b.tag) for b in self._budgets.values()]

    def _read_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        self._after_fork_lock()
        with self._lock:
            return self._connection().execute(self._dialect.sql(sql), tuple(args)).fetchone()

    def _read_all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        self._after_fork_lock()
        with self._lock:
            return list(self._connection().execute(self._dialect.sql(sql), tuple(args)).fetchall())

    def spent(
        self,
        *,
        session: str | None = None,
        tag: str | None = None,
        include_replayed: bool = False,
    ) -> tuple[float, float]:
        """``(credits, cost in USD)`` recorded so far; unknown amounts count as nothing.

        Parameters
        ----------
        session
            ``None``/``"current"`` (this process), a session id, or ``"all"``.
        tag
            Count only calls with this tag; None counts every tag.
        include_replayed
            Also count calls served by ``Client(replay=...)``, which spent nothing. Off by
            default; on, the calls table is scanned instead of the running totals.

        Returns
        -------
        tuple of float
            Credits (reported and estimated) and cost in USD.
        """
        key = session_key(session)
        if include_replayed:
            sql, args = spent_query(key, tag)
            credit, cost = self._read_one(sql, args)
            return float(credit), float(cost)
        row = self._read_one(
            "SELECT credit, cost FROM totals WHERE scope_session = ? AND scope_tag = ?",
            scope(key, tag),
        )
        return (0.0, 0.0) if row is None else (float(row[0]), float(row[1]))

    def _spent_and_held(self, conn: Any, b: Budget, now: float) -> tuple[float, float]:
        """Credits spent and held in ``b``'s scope; call with the lock held."""
        d = self._dialect
        row = conn.execute(
            d.sql("SELECT credit FROM totals WHERE scope_session = ? AND scope_tag = ?"),
            scope(b.session, b.tag),
        ).fetchone()
        sql, args = held_query(b.session, b.tag, now)
        (held,) = conn.execute(d.sql(sql), args).fetchone()
        return (0.0 if row is None else float(row[0])), float(held)

    def _budget_states(self, tag: str | None) -> list[tuple[Budget, float, float]]:
        """``(budget, spent, held)`` of each budget covering a call with ``tag``."""
        budgets = covering(self._budgets.values(), tag)
        if not budgets:
            return []
        now = time.time()
        self._after_fork_lock()
        with self._lock:
            conn = self._connection()
            return [(b, *self._spent_and_held(conn, b, now)) for b in budgets]

    def check_budget(self, *, tag: str | None = None) -> None:
        """Raise ``BudgetExceededError`` if a budget covering a call with ``tag`` is used up.

        Credits held by calls in flight count as spent. Without budgets it does no I/O.

        Parameters
        ----------
        tag
            The call's tag: budgets for other tags do not guard it.
        """
        for b, credit, held in self._budget_states(tag):
            if credit + held >= b.credits:
                raise exceeded(b, credit, held=held)

    def budget_remaining(self, *, tag: str | None = None) -> tuple[float, float] | None:
        """``(credits left, budget)`` of the tightest budget covering a call with ``tag``.

        Parameters
        ----------
        tag
            The call's tag.

        Returns
        -------
        tuple of float or None
            Credits left (never below 0; live holds count as spent) and that budget's size;
            None when no budget covers the call (then no I/O is done).
        """
        best: tuple[float, float] | None = None
        for b, credit, held in self._budget_states(tag):
            left = max(b.credits - credit - held, 0.0)
            if best is None or left < best[0]:
                best = (left, b.credits)
        return best

    def hold(self, credits: float, *, tag: str | None = None) -> Hold | None:
        """Set ``credits`` aside for one call, atomically, if every covering budget has room.

        In one write transaction (``BEGIN IMMEDIATE`` on SQLite, so across processes too):
        drop expired holds and holds of dead processes on this host, check for every budget
        covering a call with ``tag`` that spent + live holds + ``credits`` <= budget, then
        insert the hold with a lease of :attr:`hold_lease_s` seconds.

        Parameters
        ----------
        credits
            The most this call is expected to cost (>= 0).
        tag
            The call's tag: budgets for other tags do not guard it.

        Returns
        -------
        Hold or None
            The hold, to pass to :meth:`record` (``hold=``) or :meth:`release`; None when no
            budget covers the call (then no I/O is done).

        Raises
        ------
        BudgetExceededError
            A budget has no room for ``credits``; it names the budget and what is spent and
            held. Nothing is held then.
        """
        if not (isinstance(credits, int | float) and math.isfinite(credits) and credits >= 0):
            raise ValueError(f"hold() takes a finite number of credits >= 0, not {credits!r}")
        budgets = covering(self._budgets.values(), tag)
        if not budgets:
            return None
        now = time.time()
        self._after_fork_lock()
        try:
            with self._lock, self._waiting(max(self.write_timeout_s, HOLD_WAIT_S)):
                hold_id, refusal = self._try_hold(credits, tag, budgets, now)
        except self._backend.error as e:
            if not self._backend.is_busy(e):
                raise
            raise LedgerError(
                f"the usage ledger {self._shown} stayed locked by another connection for "
                f"{max(self.write_timeout_s, HOLD_WAIT_S):g} s, so the budget could not be "
                "checked. The call was not sent; try again.",
                path=self._shown,
            ) from e
        if refusal is not None:
            raise refusal
        return Hold(hold_id, float(credits))

    def _try_hold(
        self, credits: float, tag: str | None, budgets: list[Budget], now: float
    ) -> tuple[Any, BudgetExceededError | None]:
        """Check and reserve in one write transaction; call with the lock held."""
        d = self._dialect
        conn = self._conn
        refusal: BudgetExceededError | None = None
        hold_id: Any = None
        with write(conn, d):
            self._drop_stale_holds(conn, now)
            for b in budgets:
                spent, held = self._spent_and_held(conn, b, now)
                if spent + held + credits > b.credits + _EPSILON:
                    refusal = exceeded(b, spent, held=held, asked=credits)
                    break
            else:
                (hold_id,) = conn.execute(
                    d.sql(
                        "INSERT INTO holds (credits, tag, session, pid, host, created_at,"
                        " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"
                    ),
                    (
                        float(credits),
                        tag,
                        SESSION_ID,
                        os.getpid(),
                        HOST,
                        now,
                        now + self.hold_lease_s,
                    ),
                ).fetchone()
        return hold_id, refusal

    def _drop_stale_holds(self, conn: Any, now: float) -> None:
        """Delete expired holds and those of this host's dead processes (in a transaction)."""
        d = self._dialect
        conn.execute(d.sql("DELETE FROM holds WHERE expires_at < ?"), (now,))
        pids = conn.execute(
            d.sql("SELECT DISTINCT pid FROM holds WHERE host = ?"), (HOST,)
        ).fetchall()
        for (pid,) in pids:
            if not pid_alive(int(pid)):
                conn.execute(d.sql("DELETE FROM holds WHERE host = ? AND pid = ?"), (HOST, pid))

    def release(self, hold: Hold) -> None:
        """Drop a hold whose call was never sent (or never finished).

        Parameters
        ----------
        hold
            What :meth:`hold` returned. Releasing it twice, or after it expired, is harmless.
        """
        self._after_fork_lock()
        with self._lock:
            self._connection().execute(
                self._dialect.sql("DELETE FROM holds WHERE id = ?"), (hold.id,)
            )

    def holds(self) -> list[tuple[int | str, float, str | None, str, float]]:
        """The live holds of this ledger as ``(id, credits, tag, session, expires_at)``."""
        return [
            (r[0], float(r[1]), r[2], r[3], float(r[4]))
            for r in self._read_all(
                "SELECT id, credits, tag, session, expires_at FROM holds"
                " WHERE expires_at >= ? ORDER BY id",
                (time.time(),),
            )
        ]

    # ---- what the next call will cost --------------------------------------------------------

    def _history(self, model: str, include_replayed: bool) -> list[tuple[float, int | None]]:
        """``(credit, completion_chars)`` of ``model``'s most recent reported calls."""
        replayed = "" if include_replayed else " AND replayed = 0"
        return [
            (float(r[0]), r[1])
            for r in self._read_all(
                "SELECT credit, completion_chars FROM calls"
                f" WHERE model = ? AND credit_source = 'reported'{replayed}"
                " AND credit IS NOT NULL ORDER BY id DESC LIMIT ?",
                (model, HISTORY_CALLS),
            )
        ]

    def expected_credit(self, model: str, *, include_replayed: bool = False) -> float | None:
        """What a call to ``model`` is expected to cost: the credit to hold before sending it.

        Parameters
        ----------
        model
            The model id.
        include_replayed
            Also learn from replayed calls (off: a replay costs nothing and proves nothing).

        Returns
        -------
        float or None
            The 95th percentile of the credit per call over the model's last
            :data:`~.estimates.HISTORY_CALLS` reported calls; else the largest reported credit
            of any call in the ledger; else None (an empty ledger).
        """
        history = self._history(model, include_replayed)
        if history:
            return percentile([c for c, _ in history], 95)
        if include_replayed:
            row = self._read_one("SELECT MAX(credit) FROM calls WHERE credit_source = 'reported'")
        else:
            row = self._read_one(
                "SELECT max_credit FROM totals WHERE scope_session = ? AND scope_tag = ?",
                scope(None, None),
            )
        return None if row is None or row[0] is None else float(row[0])

    def credit_fit(
        self, model: str, *, include_replayed: bool = False
    ) -> tuple[float, float] | None:
        """``(base credits per call, credits per completion character)`` for ``model``.

        A least-squares line through the model's recent reported calls, used to estimate
        the credit of a stream that was stopped or cut before the server reported usage.

        Parameters
        ----------
        model
            The model id.
        include_replayed
            Also fit replayed calls.

        Returns
        -------
        tuple of float or None
            Both >= 0; None with fewer than :data:`~.estimates.MIN_FIT_CALLS` calls that say
            their reply length, or when all replies had the same length.
        """
        pts = [(float(n), c) for c, n in self._history(model, include_replayed) if n is not None]
        return fit_line([x for x, _ in pts], [y for _, y in pts])


class LiveSummary:
    """``summary()`` of a ledger, kept up to date from the calls recorded after it was made.

    Made by :meth:`UsageLedger.live_summary`. The first look aggregates in the database;
    each :meth:`update` reads only the rows after :attr:`last_id`.
    """

    def __init__(
        self,
        ledger: UsageLedger,
        keys: list[str],
        *,
        model: FilterValue = None,
        tag: FilterValue = None,
        session: FilterValue = None,
    ) -> None:
        self.ledger = ledger
        self._filtered = where_clause(None, model, tag, session, None, include_replayed=False)
        self.state, self.last_id = ledger._summary_state(keys, self._filtered)

    def update(self) -> int:
        """Take in the calls recorded since the last look; return how many there were."""
        led = self.ledger
        where, args = self._filtered
        sql = summary_rows_query(self.state.keys, and_where(where, "id > ?"))
        rows = led._read_all(sql, [*args, self.last_id])
        if rows:
            self.state.add_rows([r[:-1] for r in rows])
            self.last_id = int(rows[-1][-1])
        return len(rows)

    def frame(self) -> pd.DataFrame:
        """The summary table, as :meth:`UsageLedger.summary` gives it."""
        return self.state.frame()
