"""``UsageLedger``: the object users and clients talk to; it wires the package's parts together."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .._record import CallRecord
from .backends import Backend, open_backend, write
from .budgets import Budget, covering, exceeded, session_key
from .frames import SUMMARY_KEYS, SummaryKey, export_frame, frame, summarise
from .migrations import MIGRATIONS, apply_migrations
from .paths import MEMORY, default_ledger_path
from .queries import FilterValue, spent_query, where_clause
from .records import _INSERT_SQL, COLUMNS, encode_row

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UsageLedger"]


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
        self._backend: Backend = open_backend(path)
        del path  # a URL may hold a password: not in this frame's locals if connect() fails
        #: The file, ``":memory:"``, or the PostgreSQL URL with its password masked.
        self.path: str = self._backend.target
        self.store_text = store_text
        self._dialect = self._backend.dialect
        self._budgets: dict[tuple[str | None, str | None], Budget] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._inherited: Any = None  # see _connection()
        self._conn: Any = self._backend.connect()
        apply_migrations(
            self._conn,
            MIGRATIONS,
            dialect=self._dialect,
            is_missing_table=self._backend.is_missing_table,
        )

    # ---- connection ------------------------------------------------------------------------

    def _connection(self) -> Any:
        """The connection; call with ``self._lock`` held."""
        if self._closed:
            raise ValueError(f"{self!r} is closed")
        if os.getpid() != self._pid and self.path != MEMORY:
            # A forked child must not use the parent's SQLite connection (the docs are
            # explicit). Open our own and abandon, never close, the inherited one: closing it
            # could checkpoint or delete the WAL file under the parent's feet.
            self._inherited = self._conn
            self._backend.abandon(self._inherited)
            self._conn = self._backend.connect()
            self._pid = os.getpid()
        elif self._backend.is_broken(self._conn):
            # A server connection lost (restart, network cut, idle timeout): the call that
            # saw it failed; the next one gets a new connection. SQLite never breaks.
            self._conn = self._backend.connect()
        return self._conn

    def _opened_from(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` names this ledger's database (see ``default_ledger``)."""
        return self._backend.same_target(path)

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
        if "_conn" not in self.__dict__:  # still opening (a traceback's locals show it)
            return f"UsageLedger({getattr(self, 'path', '?')!r}, not open)"
        if self._closed:
            return f"UsageLedger({self.path!r}, closed)"
        try:
            n = self._count()
        except self._backend.error:  # a locked or broken database must not break repr()
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
        return encode_row(rec, store_text=self.store_text)

    def record(self, rec: CallRecord) -> None:
        """Write one call, committed before this returns."""
        row = self._row(rec)
        self._after_fork_lock()
        with self._lock:
            self._connection().execute(self._dialect.sql(_INSERT_SQL), row)

    def record_many(self, recs: Iterable[CallRecord]) -> int:
        """Write many calls in one transaction (all or none); return how many."""
        rows = [self._row(r) for r in recs]
        if not rows:
            return 0
        self._after_fork_lock()
        with self._lock:
            conn = self._connection()
            with write(conn, self._dialect):
                conn.cursor().executemany(self._dialect.sql(_INSERT_SQL), rows)
        return len(rows)

    # ---- reading ---------------------------------------------------------------------------

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
        where, args = where_clause(since, model, tag, session, run_id)
        sql = f"SELECT {', '.join(COLUMNS)} FROM calls{where} ORDER BY id"
        self._after_fork_lock()
        with self._lock:
            rows = self._connection().execute(self._dialect.sql(sql), args).fetchall()
        return frame(rows)

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
        bad = [k for k in keys if k not in SUMMARY_KEYS]
        if not keys or bad:
            raise ValueError(
                f"summary(by=...) takes one or more of {sorted(SUMMARY_KEYS)}, not {bad or by!r}"
            )
        df = self.to_dataframe(since=since, model=model, tag=tag, session=session, run_id=run_id)
        return summarise(df, keys)

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

    def spent(self, *, session: str | None = None, tag: str | None = None) -> tuple[float, float]:
        """``(credits, cost in USD)`` recorded so far; unknown amounts count as nothing.

        ``session`` is ``None``/``"current"`` (this process), a session id, or ``"all"``;
        ``tag`` None counts every tag.
        """
        return self._spent(session_key(session), tag)

    def _spent(self, session: str | None, tag: str | None) -> tuple[float, float]:
        sql, args = spent_query(session, tag)
        self._after_fork_lock()
        with self._lock:
            credit, cost = self._connection().execute(self._dialect.sql(sql), args).fetchone()
        return float(credit), float(cost)

    def check_budget(self, *, tag: str | None = None) -> None:
        """Raise ``BudgetExceededError`` if a budget covering a call with ``tag`` is spent.

        The client calls this before sending each request. Without budgets it does no I/O.
        """
        for b in covering(list(self._budgets.values()), tag):
            credit, _cost = self._spent(b.session, b.tag)
            if credit >= b.credits:
                raise exceeded(b, credit)
